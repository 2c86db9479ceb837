package models

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/joinery/joinery/pkg/integration"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// Validate checks a record's JSON, as stored or as the records API shows
// it, against its model's schema. The error is EINVALID, its fields named
// by their path in the record (variants[0].price).
func Validate(model string, record []byte) error {
	c, ok := load().byName[model]
	if !ok {
		return ErrUnknown(model)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(record))
	if err != nil {
		return integration.Invalid(map[string]string{"record": "must be a JSON object"})
	}
	return check(c.record, v, "")
}

// ValidatePush checks the data of a push of a unified model against the
// model's push schema: every field optional, none unknown. A field sent
// as null is valid (it clears the field); the read-only fields
// (external_id, model, url, created_at …) are the platform's and are
// refused, as in a content push. Errors name the field by its path under
// data (data.variants[0].price).
func ValidatePush(model string, data []byte) error {
	c, ok := load().byName[model]
	if !ok {
		return ErrUnknown(model)
	}
	if c.push == nil {
		return fmt.Errorf("model %s has no push schema", model)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	obj, isObj := v.(map[string]any)
	if err != nil || !isObj {
		return integration.Invalid(map[string]string{"data": "must be a JSON object"})
	}
	bad := map[string]string{}
	rest := make(map[string]any, len(obj))
	for k, val := range obj {
		switch {
		case c.readOnly[k]:
			bad["data."+k] = "read-only: the platform sets it; leave it out"
		case val == nil:
			// null clears the field: nothing to check.
		default:
			rest[k] = val
		}
	}
	if err := check(c.push, rest, "data"); err != nil {
		var ie *integration.Error
		if !errors.As(err, &ie) {
			return err
		}
		for k, m := range ie.Fields {
			bad[k] = m
		}
	}
	if len(bad) > 0 {
		return integration.Invalid(bad)
	}
	return nil
}

// ErrUnknown is the ENOTFOUND error for a model that does not exist.
func ErrUnknown(model string) error {
	return integration.Errorf(integration.ENOTFOUND, "Model %q not found: it is none of %s.", model, strings.Join(Names(), ", "))
}

// check validates v and turns the schema's complaints into EINVALID
// fields, each named by its path under prefix.
func check(s *jsonschema.Schema, v any, prefix string) error {
	err := s.Validate(v)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	bad := map[string]string{}
	collect(ve, v, prefix, bad)
	if len(bad) == 0 {
		bad[orRoot(prefix)] = "does not match the model's schema"
	}
	return integration.Invalid(bad)
}

var printer = message.NewPrinter(language.English)

// collect adds the leaves of a validation error to bad: the deepest
// complaints name the field at fault most precisely.
func collect(e *jsonschema.ValidationError, instance any, prefix string, bad map[string]string) {
	path := fieldPath(prefix, instance, e.InstanceLocation)
	switch k := e.ErrorKind.(type) {
	case *kind.OneOf:
		// A value of one of several shapes ({date} or {date_time,
		// time_zone}): say what each shape found wrong.
		var why []string
		for _, c := range e.Causes {
			sub := map[string]string{}
			collect(c, instance, prefix, sub)
			why = append(why, joinFields(sub, path))
		}
		if len(why) == 0 {
			bad[orRoot(path)] = "must match exactly one of its shapes, not several"
			return
		}
		bad[orRoot(path)] = "must match one of its shapes: " + strings.Join(why, "; or ")
		return
	case *kind.AdditionalProperties:
		for _, p := range k.Properties {
			bad[join(path, p)] = "unknown field"
		}
		return
	case *kind.Required:
		for _, p := range k.Missing {
			bad[join(path, p)] = "required"
		}
		return
	}
	if len(e.Causes) > 0 {
		for _, c := range e.Causes {
			collect(c, instance, prefix, bad)
		}
		return
	}
	bad[orRoot(path)] = leafMessage(e)
}

func leafMessage(e *jsonschema.ValidationError) string {
	switch k := e.ErrorKind.(type) {
	case *kind.Type:
		return fmt.Sprintf("must be %s, got %s", strings.Join(article(k.Want), " or "), k.Got)
	case *kind.Enum:
		want := make([]string, len(k.Want))
		for i, w := range k.Want {
			want[i] = fmt.Sprint(w)
		}
		return "must be one of " + strings.Join(want, ", ")
	case *kind.Const:
		return fmt.Sprintf("must be %v", k.Want)
	case *kind.Pattern:
		if k.Want == pricePattern {
			return "must be a decimal amount as a string (19.99)"
		}
		return "must match the pattern " + k.Want
	case *kind.Format:
		switch k.Want {
		case "date-time":
			return "must be an RFC 3339 date and time (2026-12-01T09:30:00Z)"
		case "date":
			return "must be a date (2026-12-01)"
		}
		return "must be a " + k.Want
	case *kind.MinLength:
		return "must not be empty"
	}
	return e.ErrorKind.LocalizedString(printer)
}

const pricePattern = `^-?[0-9]+(\.[0-9]+)?$`

func article(types []string) []string {
	out := make([]string, len(types))
	for i, t := range types {
		switch t {
		case "object", "array", "integer":
			out[i] = "an " + t
		case "null":
			out[i] = "null"
		default:
			out[i] = "a " + t
		}
	}
	return out
}

// fieldPath names an instance location as a field path: object keys
// joined with ".", array positions as [i].
func fieldPath(prefix string, instance any, loc []string) string {
	path := prefix
	cur := instance
	for _, tok := range loc {
		switch c := cur.(type) {
		case []any:
			i, _ := strconv.Atoi(tok)
			path += "[" + tok + "]"
			if i >= 0 && i < len(c) {
				cur = c[i]
			} else {
				cur = nil
			}
		case map[string]any:
			path = join(path, tok)
			cur = c[tok]
		default:
			path = join(path, tok)
			cur = nil
		}
	}
	return path
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func orRoot(path string) string {
	if path == "" {
		return "record"
	}
	return path
}

// joinFields writes a branch's complaints as one text, paths relative to
// the value the branch was about.
func joinFields(fields map[string]string, base string) string {
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		rel := strings.TrimPrefix(strings.TrimPrefix(k, base), ".")
		if rel == "" {
			parts[i] = fields[k]
		} else {
			parts[i] = rel + " " + fields[k]
		}
	}
	return strings.Join(parts, ", ")
}
