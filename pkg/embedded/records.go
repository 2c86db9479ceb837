package embedded

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/joinery/joinery/pkg/integration"
	bolt "go.etcd.io/bbolt"
)

type storedRecord struct {
	Hash       string    `json:"hash"`
	Data       []byte    `json:"data"`
	Deleted    bool      `json:"deleted,omitempty"`
	ChangedAt  time.Time `json:"changed_at"`
	ModifiedAt time.Time `json:"modified_at"`
	LocalID    string    `json:"local_id,omitempty"`
	// Site is the site feed the record is in (nil: none).
	Site *siteOfRecord `json:"site,omitempty"`
}

// outboxEntry is the value of an outbox key; the key holds the rest.
type outboxEntry struct {
	Type string `json:"type"`
}

// feedTime formats a time so that keys sort by it.
func feedTime(t time.Time) string { return t.UTC().Format(feedLayout) }

const feedLayout = "2006-01-02T15:04:05.000000000Z"

// defaultLimit is the page size of a query that names none.
const defaultLimit = 100

// PutRecords writes what changed, each with its outbox entry and count
// delta, in one transaction: it all lands or none of it does.
func (s *Store) PutRecords(_ context.Context, scope integration.WriteScope, recs []integration.StoredRecord) (integration.PutResult, error) {
	var res integration.PutResult
	if len(recs) == 0 {
		return res, nil
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		res = integration.PutResult{}
		// Checked per integration before anything is written.
		direct := map[string]bool{} // integration → deltas go to the counts
		for _, r := range recs {
			if _, ok := direct[r.IntegrationID]; ok {
				continue
			}
			if err := writable(tx, r.IntegrationID, scope.RunID); err != nil {
				return err
			}
			// A job completed already (a redelivery after completion)
			// will not apply deltas again: its writes count at once.
			direct[r.IntegrationID] = scope.JobID == "" || tx.Bucket(bucketJobs).Get(key(r.IntegrationID, scope.RunID, scope.JobID)) != nil
		}
		deltas := map[string]map[string]int64{} // integration → model → delta
		for _, r := range recs {
			change, delta, stale, err := putRecord(tx, &r, scope.Site)
			if err != nil {
				return err
			}
			if stale {
				res.Stale++
			}
			if change == "" {
				continue
			}
			res.Written++
			if err := putJSON(tx, bucketOutbox, key(r.IntegrationID, r.Model, r.ExternalID, feedTime(r.ChangedAt)), outboxEntry{Type: change}); err != nil {
				return err
			}
			if err := addPending(tx, pendingEntry{Change: &integration.RecordChange{IntegrationID: r.IntegrationID, AccountID: scope.AccountID, Model: r.Model, ExternalID: r.ExternalID, Type: change, ChangedAt: r.ChangedAt}}); err != nil {
				return err
			}
			if delta != 0 {
				if deltas[r.IntegrationID] == nil {
					deltas[r.IntegrationID] = map[string]int64{}
				}
				deltas[r.IntegrationID][r.Model] += delta
			}
		}
		for integ, byModel := range deltas {
			if direct[integ] {
				for model, d := range byModel {
					if err := addCount(tx, integ, model, d); err != nil {
						return err
					}
				}
				continue
			}
			if err := addJobDeltas(tx, key(integ, scope.RunID, scope.JobID), byModel); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return integration.PutResult{}, err
	}
	return res, nil
}

// writable refuses a write for a purged integration or a run that is not
// running.
func writable(tx *bolt.Tx, integrationID, runID string) error {
	if tx.Bucket(bucketPurged).Get([]byte(integrationID)) != nil {
		return integration.ErrRunStopped
	}
	if runID == "" {
		return nil
	}
	run, err := loadRun(tx, integrationID, runID)
	if integration.ErrorCode(err) == integration.ENOTFOUND {
		return integration.ErrRunStopped
	}
	if err != nil {
		return err
	}
	if !run.Active() {
		return integration.ErrRunStopped
	}
	return nil
}

// putRecord writes one record unless it is unchanged or older than the
// stored one, setting its ChangedAt to the stamp it is written with. It returns the change written ("": none) and the change of
// the count of records not deleted.
func putRecord(tx *bolt.Tx, r *integration.StoredRecord, site *integration.SiteRef) (change string, delta int64, stale bool, err error) {
	k := key(r.IntegrationID, r.Model, r.ExternalID)
	raw := tx.Bucket(bucketRecords).Get(k)
	exists := raw != nil
	var old storedRecord
	// A stored record that cannot be decoded is replaced: the write
	// repairs it. It counted as not deleted.
	readable := exists && json.Unmarshal(raw, &old) == nil
	if readable && old.Hash == r.Hash && (r.LocalID == "" || r.LocalID == old.LocalID) {
		return "", 0, false, joinSiteFeed(tx, r, old, site)
	}
	if readable && r.LocalID == "" {
		r.LocalID = old.LocalID // a write without a local id keeps the one stored
	}
	if readable {
		var stale bool
		if stale, r.ChangedAt = integration.Supersede(old.ModifiedAt, old.ChangedAt, r.ModifiedAt, r.ChangedAt); stale {
			return "", 0, true, nil
		}
	}
	if readable {
		if err := tx.Bucket(bucketFeed).Delete(key(r.IntegrationID, r.Model, feedTime(old.ChangedAt), r.ExternalID)); err != nil {
			return "", 0, false, err
		}
	}
	var prev *storedRecord
	if readable {
		prev = &old
	}
	feedSite, err := moveInSiteFeed(tx, r, prev, site)
	if err != nil {
		return "", 0, false, err
	}
	if err := putJSON(tx, bucketRecords, k, storedRecord{Hash: r.Hash, Data: r.Data, Deleted: r.Deleted, ChangedAt: r.ChangedAt, ModifiedAt: r.ModifiedAt, LocalID: r.LocalID,
		Site: feedSite}); err != nil {
		return "", 0, false, fmt.Errorf("store record %s %s: %w", r.Model, r.ExternalID, err)
	}
	if err := tx.Bucket(bucketFeed).Put(key(r.IntegrationID, r.Model, feedTime(r.ChangedAt), r.ExternalID), nil); err != nil {
		return "", 0, false, err
	}
	// An unreadable stored record counted as not deleted.
	change, delta = integration.Transition(exists, readable && old.Deleted, true, r.Deleted)
	return change, delta, false, nil
}

func addJobDeltas(tx *bolt.Tx, k []byte, byModel map[string]int64) error {
	cur := map[string]int64{}
	if _, err := getJSON(tx, bucketDeltas, k, &cur); err != nil {
		return fmt.Errorf("decode count deltas: %w", err)
	}
	for m, d := range byModel {
		cur[m] += d
	}
	return putJSON(tx, bucketDeltas, k, cur)
}

func addCount(tx *bolt.Tx, integrationID, model string, d int64) error {
	if d == 0 {
		return nil
	}
	k := key(integrationID, model)
	n, err := readCount(tx.Bucket(bucketCounts).Get(k))
	if err != nil {
		return err
	}
	return tx.Bucket(bucketCounts).Put(k, []byte(strconv.FormatInt(n+d, 10)))
}

func readCount(raw []byte) (int64, error) {
	if raw == nil {
		return 0, nil
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("decode record count: %w", err)
	}
	return n, nil
}

// initCounts counts the records of a file written before counts were kept.
func initCounts(tx *bolt.Tx) error {
	counts := map[string]int64{}
	err := tx.Bucket(bucketRecords).ForEach(func(k, v []byte) error {
		parts := bytes.SplitN(k, []byte{0}, 3)
		if len(parts) != 3 {
			return nil
		}
		var r storedRecord
		if json.Unmarshal(v, &r) == nil && r.Deleted {
			return nil
		}
		counts[string(key(string(parts[0]), string(parts[1])))]++
		return nil
	})
	if err != nil {
		return err
	}
	for k, n := range counts {
		if err := tx.Bucket(bucketCounts).Put([]byte(k), []byte(strconv.FormatInt(n, 10))); err != nil {
			return err
		}
	}
	return nil
}

// GetRecord returns one record.
func (s *Store) GetRecord(_ context.Context, integrationID, model, externalID string) (*integration.StoredRecord, error) {
	var out *integration.StoredRecord
	err := s.db.View(func(tx *bolt.Tx) error {
		var r storedRecord
		ok, err := getJSON(tx, bucketRecords, key(integrationID, model, externalID), &r)
		if err != nil {
			return fmt.Errorf("decode record %s %s: %w", model, externalID, err)
		}
		if !ok {
			return integration.Errorf(integration.ENOTFOUND, "Record %s %q not found.", model, externalID)
		}
		out = r.stored(integrationID, model, externalID)
		return nil
	})
	return out, err
}

func (r storedRecord) stored(integrationID, model, externalID string) *integration.StoredRecord {
	return &integration.StoredRecord{IntegrationID: integrationID, Model: model, ExternalID: externalID, Hash: r.Hash, Data: r.Data,
		Deleted: r.Deleted, ChangedAt: r.ChangedAt, ModifiedAt: r.ModifiedAt, LocalID: r.LocalID}
}

// ListRecords walks the change feed.
func (s *Store) ListRecords(_ context.Context, q integration.RecordQuery) ([]integration.StoredRecord, string, error) {
	prefix := key(q.IntegrationID, q.Model, "")
	start := prefix
	if !q.ChangedAfter.IsZero() {
		// Past every key at that exact time.
		start = append(key(q.IntegrationID, q.Model, feedTime(q.ChangedAfter)), 0x01)
	}
	if q.Cursor != "" {
		b, err := base64.RawURLEncoding.DecodeString(q.Cursor)
		if err != nil || len(b) == 0 || len(b) > 400 {
			return nil, "", integration.Invalid(map[string]string{"cursor": "is not a cursor this API issued"})
		}
		start = append(append(append([]byte{}, prefix...), b...), 0x00)
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
		c := tx.Bucket(bucketFeed).Cursor()
		for k, _ := c.Seek(start); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			rest := bytes.SplitN(k[len(prefix):], []byte{0}, 2)
			if len(rest) != 2 {
				continue
			}
			at, id := string(rest[0]), string(rest[1])
			if before != "" && at >= before {
				return nil // the feed is in time order: nothing later qualifies
			}
			raw := tx.Bucket(bucketRecords).Get(key(q.IntegrationID, q.Model, id))
			if raw == nil {
				continue
			}
			var item integration.StoredRecord
			var r storedRecord
			if err := json.Unmarshal(raw, &r); err != nil {
				// It fails alone; the rest of the page is served.
				t, _ := time.Parse(feedLayout, at)
				item = integration.StoredRecord{IntegrationID: q.IntegrationID, Model: q.Model, ExternalID: id, ChangedAt: t,
					Unreadable: "The stored record could not be decoded."}
			} else {
				if feedTime(r.ChangedAt) != at {
					continue // a feed key the record has moved on from
				}
				item = *r.stored(q.IntegrationID, q.Model, id)
			}
			if len(out) == limit || (q.Take != nil && !q.Take(&item) && len(out) > 0) {
				last := out[len(out)-1]
				next = base64.RawURLEncoding.EncodeToString(key(feedTime(last.ChangedAt), last.ExternalID))
				return nil
			}
			out = append(out, item)
		}
		return nil
	})
	return out, next, err
}

// CountRecords reads the count kept of a model's records not deleted.
func (s *Store) CountRecords(_ context.Context, integrationID, model string) (int64, error) {
	var n int64
	err := s.db.View(func(tx *bolt.Tx) (err error) {
		n, err = readCount(tx.Bucket(bucketCounts).Get(key(integrationID, model)))
		return err
	})
	return n, err
}

// ListChanges pages through the outbox in key order: model, external id,
// time. The cursor is the last key returned, past the integration.
func (s *Store) ListChanges(_ context.Context, integrationID string, limit int, cursor string) ([]integration.RecordChange, string, error) {
	prefix := key(integrationID, "")
	start := prefix
	var after []byte
	if cursor != "" {
		b, err := base64.RawURLEncoding.DecodeString(cursor)
		if err != nil || len(b) == 0 || len(b) > 1024 || !validChangeKey(b) {
			return nil, "", integration.Invalid(map[string]string{"cursor": "is not a cursor this API issued"})
		}
		after = append(append([]byte{}, prefix...), b...)
		start = after
	}
	if limit <= 0 {
		limit = defaultLimit
	}
	out := []integration.RecordChange{}
	next := ""
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketOutbox).Cursor()
		var lastKey []byte
		for k, v := c.Seek(start); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			if after != nil && bytes.Equal(k, after) {
				continue
			}
			parts := bytes.Split(k[len(prefix):], []byte{0})
			if len(parts) != 3 {
				continue
			}
			if len(out) == limit {
				next = base64.RawURLEncoding.EncodeToString(lastKey[len(prefix):])
				return nil
			}
			var e outboxEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("decode outbox entry: %w", err)
			}
			at, err := time.Parse(feedLayout, string(parts[2]))
			if err != nil {
				return fmt.Errorf("decode outbox key time: %w", err)
			}
			out = append(out, integration.RecordChange{IntegrationID: integrationID, Model: string(parts[0]), ExternalID: string(parts[1]), Type: e.Type, ChangedAt: at})
			lastKey = append(lastKey[:0], k...)
		}
		return nil
	})
	return out, next, err
}

// validChangeKey reports whether b is an outbox key past its integration.
func validChangeKey(b []byte) bool {
	parts := bytes.Split(b, []byte{0})
	if len(parts) != 3 {
		return false
	}
	_, err := time.Parse(feedLayout, string(parts[2]))
	return err == nil
}

// AddRetries adds items to the retry set, replacing their reasons.
func (s *Store) AddRetries(_ context.Context, integrationID, model string, items map[string]string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		for id, why := range items {
			if err := tx.Bucket(bucketRetries).Put(key(integrationID, model, id), []byte(why)); err != nil {
				return err
			}
		}
		return nil
	})
}

// Retries returns up to limit items of a model's retry set.
func (s *Store) Retries(_ context.Context, integrationID, model string, limit int) (map[string]string, error) {
	if limit <= 0 {
		limit = defaultLimit
	}
	out := map[string]string{}
	err := s.db.View(func(tx *bolt.Tx) error {
		prefix := key(integrationID, model, "")
		c := tx.Bucket(bucketRetries).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && len(out) < limit; k, v = c.Next() {
			out[string(k[len(prefix):])] = string(v)
		}
		return nil
	})
	return out, err
}

// RemoveRetries removes items from the retry set.
func (s *Store) RemoveRetries(_ context.Context, integrationID, model string, ids []string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		for _, id := range ids {
			if err := tx.Bucket(bucketRetries).Delete(key(integrationID, model, id)); err != nil {
				return err
			}
		}
		return nil
	})
}
