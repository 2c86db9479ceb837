package connector

import "github.com/joinery/joinery/pkg/integration"

// Patch is a partial write of one item: a nil field keeps the platform's
// value, a non-nil one sets it (to "" or to no terms to clear it). Terms
// carry their platform ids.
type Patch struct {
	Title, BodyHTML, Excerpt, Slug, Status *string
	Categories, Tags                       *[]integration.Term
	// FeaturedImage, if not nil, changes the featured image.
	FeaturedImage *ImageChange
}

// ImageChange changes an item's featured image. With none of Remove,
// ExternalID and File set, it changes only the current image's alt text.
type ImageChange struct {
	// Remove takes the featured image off the item.
	Remove bool
	// ExternalID is an image already on the platform.
	ExternalID string
	// File is an image to upload, fetched (and checked) beforehand.
	File *ImageFile
	// Alt, if not nil, sets the image's alternative text.
	Alt *string
}

// ImageFile is an image fetched from a URL, ready to upload.
type ImageFile struct {
	URL         string
	Name        string
	ContentType string
	Data        []byte
}

// Str is a pointer to s, for Patch fields.
func Str(s string) *string { return &s }
