package integration

import "time"

// Record is an item of a platform, normalized. For CMS platforms it is the
// content model below; Model names are singular (post, page, category, tag, media).
type Record struct {
	ExternalID    string
	Model         string
	Title         string
	BodyHTML      string
	Excerpt       string
	Slug          string
	Status        string
	Author        *Person
	Categories    []Term
	Tags          []Term
	FeaturedImage *Image
	URL           string
	CreatedAt     time.Time
	ModifiedAt    time.Time
	Deleted       bool // trashed or gone on the platform
	// Parent is the external id of the parent page or category ("": at
	// the top level).
	Parent string
	// MenuOrder is a page's position among its siblings (nil: the model
	// has none).
	MenuOrder *int
	// RawRef is the item's human key on the platform where it has one
	// beside its id (a Shopify handle, a Jira key such as PRJ-1, a Trello
	// shortLink).
	RawRef string
	// Fields are a unified model's own fields (see unified.go); nil for
	// the content models, which use the fields above.
	Fields Fields
}

// Person is an author or user on a platform.
type Person struct {
	ExternalID string
	Name       string
}

// Term is a category, tag or other taxonomy term.
type Term struct {
	ExternalID string
	Name       string
	Slug       string
}

// Image is a media item referenced by a record.
type Image struct {
	ExternalID string
	URL        string
	Alt        string
}
