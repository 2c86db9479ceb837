package syncer

import (
	"encoding/json"
	"time"

	"github.com/joinery/joinery/pkg/integration"
)

// RecordJSON is the normalized record as stored and as the records API
// shows it. Title and term names are plain text; body_html and excerpt
// are HTML.
type RecordJSON struct {
	ExternalID    string      `json:"external_id"`
	Type          string      `json:"type"`
	Title         string      `json:"title,omitempty"`
	BodyHTML      string      `json:"body_html,omitempty"`
	Excerpt       *string     `json:"excerpt,omitempty"`
	Slug          string      `json:"slug,omitempty"`
	Status        string      `json:"status,omitempty"`
	Author        *PersonJSON `json:"author,omitempty"`
	Categories    []TermJSON  `json:"categories,omitempty"`
	Tags          []TermJSON  `json:"tags,omitempty"`
	FeaturedImage *ImageJSON  `json:"featured_image,omitempty"`
	URL           string      `json:"url,omitempty"`
	CreatedAt     *time.Time  `json:"created_at,omitempty"`
	ModifiedAt    *time.Time  `json:"modified_at,omitempty"`
	Deleted       bool        `json:"deleted"`
	// Parent is the parent page or category; absent at the top level.
	Parent *RefJSON `json:"parent,omitempty"`
	// MenuOrder is a page's position among its siblings.
	MenuOrder *int `json:"menu_order,omitempty"`
	// RawRef is the item's human key on the platform (a handle, PRJ-1).
	RawRef string `json:"raw_ref,omitempty"`
	// Fields are a unified model's own fields (product, task …), written
	// beside the common ones; nil for the content models.
	Fields integration.Fields `json:"-"`
}

// recordJSON is RecordJSON without its methods, for encoding/json.
type recordJSON RecordJSON

// MarshalJSON writes the common fields, then a unified model's own
// fields beside them, with "model" naming it.
func (r RecordJSON) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(recordJSON(r))
	if err != nil || r.Fields == nil {
		return b, err
	}
	f, err := json.Marshal(r.Fields)
	if err != nil {
		return nil, err
	}
	model, _ := json.Marshal(r.Fields.UnifiedModel())
	out := make([]byte, 0, len(b)+len(f)+len(model)+10)
	out = append(out, b[:len(b)-1]...)
	out = append(out, `,"model":`...)
	out = append(out, model...)
	if len(f) > 2 {
		out = append(out, ',')
		out = append(out, f[1:]...)
	} else {
		out = append(out, '}')
	}
	return out, nil
}

// UnmarshalJSON reads a stored record; a unified model's own fields are
// read into Fields, and its content fields are left empty.
func (r *RecordJSON) UnmarshalJSON(b []byte) error {
	var kind struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(b, &kind); err != nil {
		return err
	}
	f := integration.NewFields(kind.Type)
	if f == nil {
		var base recordJSON
		if err := json.Unmarshal(b, &base); err != nil {
			return err
		}
		*r = RecordJSON(base)
		return nil
	}
	// Only the common fields: a model's own may share a content field's
	// name with another shape (a product's tags are names, not terms).
	var common struct {
		ExternalID string     `json:"external_id"`
		URL        string     `json:"url"`
		CreatedAt  *time.Time `json:"created_at"`
		ModifiedAt *time.Time `json:"modified_at"`
		Deleted    bool       `json:"deleted"`
		RawRef     string     `json:"raw_ref"`
	}
	if err := json.Unmarshal(b, &common); err != nil {
		return err
	}
	if err := json.Unmarshal(b, f); err != nil {
		return err
	}
	*r = RecordJSON{ExternalID: common.ExternalID, Type: kind.Type, URL: common.URL, CreatedAt: common.CreatedAt,
		ModifiedAt: common.ModifiedAt, Deleted: common.Deleted, RawRef: common.RawRef, Fields: f}
	return nil
}

// RefJSON names another record of the same model.
type RefJSON struct {
	ExternalID string `json:"external_id"`
}

// PersonJSON is an author.
type PersonJSON struct {
	ExternalID string `json:"external_id"`
	Name       string `json:"name,omitempty"`
}

// TermJSON is a category or tag.
type TermJSON struct {
	ExternalID string `json:"external_id"`
	Name       string `json:"name,omitempty"`
	Slug       string `json:"slug,omitempty"`
}

// ImageJSON is a featured image.
type ImageJSON struct {
	ExternalID string `json:"external_id,omitempty"`
	URL        string `json:"url,omitempty"`
	Alt        string `json:"alt,omitempty"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

func terms(ts []integration.Term) []TermJSON {
	if len(ts) == 0 {
		return nil
	}
	out := make([]TermJSON, len(ts))
	for i, t := range ts {
		out[i] = TermJSON(t)
	}
	return out
}

// ToJSON maps a record to its JSON shape.
func ToJSON(r integration.Record) RecordJSON {
	out := RecordJSON{ExternalID: r.ExternalID, Type: r.Model, Title: r.Title, BodyHTML: r.BodyHTML, Slug: r.Slug,
		Status: r.Status, Categories: terms(r.Categories), Tags: terms(r.Tags), URL: r.URL,
		CreatedAt: timePtr(r.CreatedAt), ModifiedAt: timePtr(r.ModifiedAt), Deleted: r.Deleted, MenuOrder: r.MenuOrder,
		RawRef: r.RawRef}
	if r.Fields != nil {
		// A unified model keeps everything of its own in its fields.
		return RecordJSON{ExternalID: r.ExternalID, Type: r.Model, URL: r.URL, CreatedAt: timePtr(r.CreatedAt),
			ModifiedAt: timePtr(r.ModifiedAt), Deleted: r.Deleted, RawRef: r.RawRef, Fields: r.Fields}
	}
	// A post always carries its excerpt, empty or not; other models only
	// when they have one.
	if r.Excerpt != "" || r.Model == "post" {
		excerpt := r.Excerpt
		out.Excerpt = &excerpt
	}
	if r.Parent != "" {
		out.Parent = &RefJSON{ExternalID: r.Parent}
	}
	if r.Author != nil {
		out.Author = &PersonJSON{ExternalID: r.Author.ExternalID, Name: r.Author.Name}
	}
	if r.FeaturedImage != nil {
		out.FeaturedImage = &ImageJSON{ExternalID: r.FeaturedImage.ExternalID, URL: r.FeaturedImage.URL, Alt: r.FeaturedImage.Alt}
	}
	return out
}
