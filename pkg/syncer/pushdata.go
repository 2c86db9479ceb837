package syncer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/joinery/joinery/pkg/integration"
)

// Field is a field of a push's data as the host app sent it: absent (keep
// the platform's value), null (clear it) or a value (set it).
type Field[T any] struct {
	Set   bool // present in the data, null or not
	Null  bool
	Value T
}

// Val is a field set to v.
func Val[T any](v T) Field[T] { return Field[T]{Set: true, Value: v} }

// Null is a field sent as null.
func Null[T any]() Field[T] { return Field[T]{Set: true, Null: true} }

// has reports whether the field carries a value (present and not null).
func (f Field[T]) has() bool { return f.Set && !f.Null }

func (f Field[T]) MarshalJSON() ([]byte, error) {
	if f.Null || !f.Set {
		return []byte("null"), nil
	}
	return marshalPlain(f.Value)
}

// PushData is a record to push, as the host app sends it: terms by name,
// the featured image by URL. Fields it leaves out keep their values on
// the platform.
type PushData struct {
	Title            Field[string]
	BodyHTML         Field[string]
	Excerpt          Field[string]
	Slug             Field[string]
	Status           Field[string]
	Categories       Field[[]string]
	Tags             Field[[]string]
	FeaturedImageURL Field[string]
	FeaturedImageAlt Field[string]
	// Unified is the data of a push of a unified model (product, task …):
	// its own fields, as sent (see ReadPushData). The content fields are
	// then unset.
	Unified json.RawMessage
}

// pushFields names the data's fields, as sent, in the order they are written.
func (d *PushData) fields() []struct {
	name  string
	str   *Field[string]
	names *Field[[]string]
} {
	type f = struct {
		name  string
		str   *Field[string]
		names *Field[[]string]
	}
	return []f{{"title", &d.Title, nil}, {"body_html", &d.BodyHTML, nil}, {"excerpt", &d.Excerpt, nil}, {"slug", &d.Slug, nil},
		{"status", &d.Status, nil}, {"categories", nil, &d.Categories}, {"tags", nil, &d.Tags},
		{"featured_image_url", &d.FeaturedImageURL, nil}, {"featured_image_alt", &d.FeaturedImageAlt, nil}}
}

// MarshalJSON writes the fields that were sent, and only those, so absent
// and null stay apart in a stored push. HTML is not escaped: a body of
// markup keeps its size.
func (d PushData) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	if d.Unified != nil {
		if err := json.Compact(&buf, d.Unified); err != nil {
			return nil, integration.Invalid(map[string]string{"data": "must be a JSON object"})
		}
		return buf.Bytes(), nil
	}
	buf.WriteByte('{')
	first := true
	for _, f := range d.fields() {
		var b []byte
		var err error
		switch {
		case f.str != nil && f.str.Set:
			b, err = f.str.MarshalJSON()
		case f.names != nil && f.names.Set:
			b, err = f.names.MarshalJSON()
		default:
			continue
		}
		if err != nil {
			return nil, err
		}
		if !first {
			buf.WriteByte(',')
		}
		first = false
		fmt.Fprintf(&buf, "%q:", f.name)
		buf.Write(b)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// UnmarshalJSON reads a push's data, keeping absent, null and values
// apart. A field of the wrong type or an unknown field is an EINVALID
// error naming it (data.<field>).
func (d *PushData) UnmarshalJSON(b []byte) error {
	fields, err := ParsePushData(b)
	if err != nil {
		return err
	}
	*d = fields
	return nil
}

// ParsePushData reads a push's data; errors name the field at fault.
func ParsePushData(b []byte) (PushData, error) {
	var d PushData
	var raw map[string]json.RawMessage
	if t := bytes.TrimSpace(b); len(t) == 0 || t[0] != '{' || json.Unmarshal(t, &raw) != nil {
		return d, integration.Invalid(map[string]string{"data": "must be a JSON object"})
	}
	bad := map[string]string{}
	known := map[string]bool{}
	for _, f := range d.fields() {
		known[f.name] = true
		v, ok := raw[f.name]
		if !ok {
			continue
		}
		null := string(bytes.TrimSpace(v)) == "null"
		key := "data." + f.name
		if f.str != nil {
			f.str.Set, f.str.Null = true, null
			if !null && json.Unmarshal(v, &f.str.Value) != nil {
				bad[key] = "must be a string or null"
			}
			continue
		}
		f.names.Set, f.names.Null = true, null
		if null {
			continue
		}
		var items []json.RawMessage
		if json.Unmarshal(v, &items) != nil {
			bad[key] = "must be an array of names or null"
			continue
		}
		f.names.Value = make([]string, len(items))
		for i, it := range items {
			if json.Unmarshal(it, &f.names.Value[i]) != nil || string(bytes.TrimSpace(it)) == "null" {
				bad[fmt.Sprintf("%s[%d]", key, i)] = "must be a string"
			}
		}
	}
	var unknown []string
	for name := range raw {
		if !known[name] {
			unknown = append(unknown, name)
		}
	}
	sort.Strings(unknown)
	for _, name := range unknown {
		bad["data."+name] = "unknown field"
	}
	if len(bad) > 0 {
		return d, integration.Invalid(bad)
	}
	return d, nil
}

// text is the value a string field gives the platform: "" for null.
func text(f Field[string]) *string {
	if !f.Set {
		return nil
	}
	s := f.Value
	return &s
}

// slug is the slug to write: "" and null keep the item's own (WordPress
// gives every published item one, so it cannot be cleared).
func (d PushData) slug() string {
	if d.Slug.has() {
		return d.Slug.Value
	}
	return ""
}

// imageURL is the featured image to set: "" and null set none ("" keeps
// the item's own; null removes it, see FeaturedImageURL.Null).
func (d PushData) imageURL() string {
	if d.FeaturedImageURL.has() {
		return d.FeaturedImageURL.Value
	}
	return ""
}

// status is the status to write: absent and null keep the item's own.
func (d PushData) status() string {
	if d.Status.has() {
		return d.Status.Value
	}
	return ""
}

func marshalPlain(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}
