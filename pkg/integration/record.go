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
