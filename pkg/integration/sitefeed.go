package integration

import (
	"context"
	"time"
)

// SiteRef names the site an integration belongs to: the key of the site
// feed its records join. An integration's account and site never change.
type SiteRef struct {
	AccountID string
	SiteID    string
}

// SiteOf is the site an integration belongs to.
func SiteOf(it *Integration) *SiteRef {
	return &SiteRef{AccountID: it.AccountID, SiteID: it.SiteID}
}

// SiteRecordQuery pages through one model's records across a site's
// integrations in change order, as RecordQuery does for one integration.
type SiteRecordQuery struct {
	AccountID    string
	SiteID       string
	Model        string
	ChangedAfter time.Time // exclusive; zero: from the start
	Limit        int
	Cursor       string
	// Before, when set, leaves out records changed at or after it (the
	// feed's safety window, as in RecordQuery).
	Before time.Time
	// Integrations, when not nil, are the only integrations whose records
	// are listed: the records of any other (one deleted, its data not yet
	// purged) are passed over, and the cursor moves on past them.
	Integrations map[string]bool
	// Take is as in RecordQuery.
	Take func(*StoredRecord) bool
}

// SiteFeed is the change feed of a site: every record of its integrations
// written with a WriteScope naming the site (WriteScope.Site), kept in the
// same transaction as the record and its integration's feed, and gone
// with the record when its integration's sync data is purged.
type SiteFeed interface {
	// ListSiteRecords pages through a model's records of the site by
	// ChangedAt, oldest first; the records carry their IntegrationID. The
	// cursor is opaque; one the store did not issue is EINVALID naming
	// cursor.
	ListSiteRecords(ctx context.Context, q SiteRecordQuery) ([]StoredRecord, string, error)
}
