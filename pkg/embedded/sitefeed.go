package embedded

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"time"

	"github.com/joinery/joinery/pkg/integration"
	bolt "go.etcd.io/bbolt"
)

// bucketSiteFeed is the site feed: account \x00 site \x00 model \x00
// changed at \x00 integration \x00 external id → nothing. A record
// written for a site (WriteScope.Site) keeps the site in its value
// (storedRecord.Site), so that its next write moves its key and a purge
// deletes it.
var bucketSiteFeed = []byte("site_feed")

// siteOfRecord is the site a stored record's feed key is under.
type siteOfRecord struct {
	AccountID string `json:"account_id"`
	SiteID    string `json:"site_id"`
}

func siteFeedKey(s *siteOfRecord, model string, changedAt time.Time, integrationID, ext string) []byte {
	return key(s.AccountID, s.SiteID, model, feedTime(changedAt), integrationID, ext)
}

func siteOf(ref *integration.SiteRef) *siteOfRecord {
	if ref == nil {
		return nil
	}
	return &siteOfRecord{AccountID: ref.AccountID, SiteID: ref.SiteID}
}

// joinSiteFeed puts a record stored unchanged, but in no site feed
// (written before the site feed existed), into its site's feed at the
// place its changed_at gives it: a sync that reads it again fills the feed.
func joinSiteFeed(tx *bolt.Tx, r *integration.StoredRecord, old storedRecord, site *integration.SiteRef) error {
	if site == nil || old.Site != nil {
		return nil
	}
	old.Site = siteOf(site)
	if err := tx.Bucket(bucketSiteFeed).Put(siteFeedKey(old.Site, r.Model, old.ChangedAt, r.IntegrationID, r.ExternalID), nil); err != nil {
		return err
	}
	return putJSON(tx, bucketRecords, key(r.IntegrationID, r.Model, r.ExternalID), old)
}

// moveInSiteFeed moves a record's site feed key from the stored version's
// place to the new one's, and returns the site the new version is under:
// the write's, else the stored one's.
func moveInSiteFeed(tx *bolt.Tx, r *integration.StoredRecord, old *storedRecord, site *integration.SiteRef) (*siteOfRecord, error) {
	b := tx.Bucket(bucketSiteFeed)
	if old != nil && old.Site != nil {
		if err := b.Delete(siteFeedKey(old.Site, r.Model, old.ChangedAt, r.IntegrationID, r.ExternalID)); err != nil {
			return nil, err
		}
	}
	to := siteOf(site)
	if to == nil && old != nil {
		to = old.Site
	}
	if to == nil {
		return nil, nil
	}
	return to, b.Put(siteFeedKey(to, r.Model, r.ChangedAt, r.IntegrationID, r.ExternalID), nil)
}

// leaveSiteFeed deletes the site feed keys of records about to be purged.
func leaveSiteFeed(tx *bolt.Tx, recordKeys [][]byte) error {
	for _, k := range recordKeys {
		parts := bytes.SplitN(k, []byte{0}, 3)
		var r storedRecord
		if len(parts) != 3 || json.Unmarshal(tx.Bucket(bucketRecords).Get(k), &r) != nil || r.Site == nil {
			continue
		}
		if err := tx.Bucket(bucketSiteFeed).Delete(siteFeedKey(r.Site, string(parts[1]), r.ChangedAt, string(parts[0]), string(parts[2]))); err != nil {
			return err
		}
	}
	return nil
}

// ListSiteRecords walks the site feed.
func (s *Store) ListSiteRecords(_ context.Context, q integration.SiteRecordQuery) ([]integration.StoredRecord, string, error) {
	prefix := key(q.AccountID, q.SiteID, q.Model, "")
	start := prefix
	if !q.ChangedAfter.IsZero() {
		start = append(key(q.AccountID, q.SiteID, q.Model, feedTime(q.ChangedAfter)), 0x01) // past every key at that time
	}
	if q.Cursor != "" {
		b, err := base64.RawURLEncoding.DecodeString(q.Cursor)
		if err != nil || len(b) == 0 || len(b) > 1200 || bytes.Count(b, []byte{0}) < 2 {
			return nil, "", integration.Invalid(map[string]string{"cursor": "is not a cursor this API issued"})
		}
		if from := append(append(append([]byte{}, prefix...), b...), 0x00); bytes.Compare(from, start) > 0 {
			start = from
		}
	}
	before := ""
	if !q.Before.IsZero() {
		before = feedTime(q.Before)
	}
	limit := q.Limit
	if limit <= 0 {
		limit = defaultLimit
	}
	out := []integration.StoredRecord{}
	next := ""
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketSiteFeed).Cursor()
		for k, _ := c.Seek(start); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			rest := bytes.SplitN(k[len(prefix):], []byte{0}, 3)
			if len(rest) != 3 {
				continue
			}
			at, integ, id := string(rest[0]), string(rest[1]), string(rest[2])
			if before != "" && at >= before {
				return nil // in time order: nothing later qualifies
			}
			if q.Integrations != nil && !q.Integrations[integ] {
				continue
			}
			raw := tx.Bucket(bucketRecords).Get(key(integ, q.Model, id))
			if raw == nil {
				continue
			}
			var item integration.StoredRecord
			var r storedRecord
			if err := json.Unmarshal(raw, &r); err != nil {
				t, _ := time.Parse(feedLayout, at)
				item = integration.StoredRecord{IntegrationID: integ, Model: q.Model, ExternalID: id, ChangedAt: t,
					Unreadable: "The stored record could not be decoded."}
			} else {
				if feedTime(r.ChangedAt) != at {
					continue // a key the record has moved on from
				}
				item = *r.stored(integ, q.Model, id)
			}
			if len(out) == limit || (q.Take != nil && !q.Take(&item) && len(out) > 0) {
				last := out[len(out)-1]
				next = base64.RawURLEncoding.EncodeToString(key(feedTime(last.ChangedAt), last.IntegrationID, last.ExternalID))
				return nil
			}
			out = append(out, item)
		}
		return nil
	})
	return out, next, err
}
