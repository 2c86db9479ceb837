package syncer

import (
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
		CreatedAt: timePtr(r.CreatedAt), ModifiedAt: timePtr(r.ModifiedAt), Deleted: r.Deleted, MenuOrder: r.MenuOrder}
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
