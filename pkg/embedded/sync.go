package embedded

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	"github.com/joinery/joinery/pkg/integration"
	bolt "go.etcd.io/bbolt"
)

var (
	bucketRuns    = []byte("runs")    // integration \x00 run id → run
	bucketActive  = []byte("active")  // integration → active run id
	bucketJobs    = []byte("jobs")    // integration \x00 run \x00 job id → seen ids
	bucketSpawns  = []byte("spawns")  // integration \x00 run \x00 parent job id → nothing
	bucketCursors = []byte("cursors") // integration → cursors
	bucketRecords = []byte("records") // integration \x00 model \x00 external id → record
	bucketFeed    = []byte("feed")    // integration \x00 model \x00 changed at \x00 external id → nothing
	bucketEvents  = []byte("events")  // integration \x00 event id → event
	syncBuckets   = [][]byte{bucketRuns, bucketActive, bucketJobs, bucketSpawns, bucketCursors, bucketRecords, bucketFeed, bucketEvents}
)

var _ integration.SyncStore = (*Store)(nil)

// EventRetention is how long sync events are kept.
const EventRetention = 30 * 24 * time.Hour

func (s *Store) initSync() error {
	return s.db.Update(func(tx *bolt.Tx) error {
		for _, b := range syncBuckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
}

func getJSON(tx *bolt.Tx, bucket, k []byte, v any) (bool, error) {
	raw := tx.Bucket(bucket).Get(k)
	if raw == nil {
		return false, nil
	}
	return true, json.Unmarshal(raw, v)
}

func putJSON(tx *bolt.Tx, bucket, k []byte, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return tx.Bucket(bucket).Put(k, b)
}

func runKey(integrationID, runID string) []byte { return key(integrationID, runID) }

func loadRun(tx *bolt.Tx, integrationID, runID string) (*integration.Run, error) {
	var r integration.Run
	ok, err := getJSON(tx, bucketRuns, runKey(integrationID, runID), &r)
	if err != nil {
		return nil, fmt.Errorf("decode run %s: %w", runID, err)
	}
	if !ok {
		return nil, integration.Errorf(integration.ENOTFOUND, "Run %q not found.", runID)
	}
	return &r, nil
}

// StartRun makes run the integration's active run unless one is active.
func (s *Store) StartRun(_ context.Context, run *integration.Run, staleAfter time.Duration) (*integration.Run, bool, error) {
	var active *integration.Run
	started := false
	err := s.db.Update(func(tx *bolt.Tx) error {
		if id := tx.Bucket(bucketActive).Get([]byte(run.IntegrationID)); id != nil {
			cur, err := loadRun(tx, run.IntegrationID, string(id))
			if err != nil && integration.ErrorCode(err) != integration.ENOTFOUND {
				return err
			}
			if cur != nil && cur.ID == run.ID {
				active, started = cur, true // a retried start that had succeeded
				return nil
			}
			if cur != nil && cur.Active() && time.Since(cur.StartedAt) < staleAfter {
				active = cur
				return nil
			}
		}
		if err := tx.Bucket(bucketActive).Put([]byte(run.IntegrationID), []byte(run.ID)); err != nil {
			return err
		}
		active, started = run, true
		return putJSON(tx, bucketRuns, runKey(run.IntegrationID, run.ID), run)
	})
	return active, started, err
}

// GetRun returns one run.
func (s *Store) GetRun(_ context.Context, integrationID, runID string) (*integration.Run, error) {
	var out *integration.Run
	err := s.db.View(func(tx *bolt.Tx) (err error) {
		out, err = loadRun(tx, integrationID, runID)
		return err
	})
	return out, err
}

// LatestRun returns the newest run: run ids sort by time.
func (s *Store) LatestRun(_ context.Context, integrationID string) (*integration.Run, error) {
	var out *integration.Run
	err := s.db.View(func(tx *bolt.Tx) error {
		prefix := key(integrationID, "")
		c := tx.Bucket(bucketRuns).Cursor()
		// Seek past the prefix, then step back to its last key.
		k, _ := c.Seek(append(append([]byte{}, prefix...), 0xff))
		if k == nil {
			k, _ = c.Last()
		} else {
			k, _ = c.Prev()
		}
		if k == nil || !bytes.HasPrefix(k, prefix) {
			return integration.Errorf(integration.ENOTFOUND, "No runs yet.")
		}
		var err error
		out, err = loadRun(tx, integrationID, string(k[len(prefix):]))
		return err
	})
	return out, err
}

// AddJobs records a parent's children once.
func (s *Store) AddJobs(_ context.Context, integrationID, runID, parentJobID string, children []string, totals map[string]int64) ([]string, error) {
	out := children
	err := s.db.Update(func(tx *bolt.Tx) error {
		mark := key(integrationID, runID, parentJobID)
		if raw := tx.Bucket(bucketSpawns).Get(mark); raw != nil {
			out = nil
			return json.Unmarshal(raw, &out)
		}
		r, err := loadRun(tx, integrationID, runID)
		if err != nil {
			return err
		}
		n := int64(len(children))
		r.JobsTotal += n
		r.Progress.PagesTotal += n
		for m, t := range totals {
			if r.Totals == nil {
				r.Totals = map[string]int64{}
			}
			r.Totals[m] = t
		}
		if children == nil {
			children = []string{}
		}
		if err := putJSON(tx, bucketSpawns, mark, children); err != nil {
			return err
		}
		return putJSON(tx, bucketRuns, runKey(integrationID, runID), r)
	})
	return out, err
}

// CompleteJob counts a job once.
func (s *Store) CompleteJob(_ context.Context, integrationID, runID, jobID string, res integration.JobResult) (*integration.Run, bool, error) {
	var out *integration.Run
	first := false
	err := s.db.Update(func(tx *bolt.Tx) error {
		r, err := loadRun(tx, integrationID, runID)
		if err != nil {
			return err
		}
		out = r
		mark := key(integrationID, runID, jobID)
		if tx.Bucket(bucketJobs).Get(mark) != nil {
			return nil
		}
		seen := res.Seen
		if seen == nil {
			seen = map[string][]string{}
		}
		if err := putJSON(tx, bucketJobs, mark, seen); err != nil {
			return err
		}
		r.JobsDone++
		r.Progress = r.Progress.Add(res.Progress)
		first = true
		return putJSON(tx, bucketRuns, runKey(integrationID, runID), r)
	})
	return out, first, err
}

// SeenIDs unions the ids the run's jobs saw.
func (s *Store) SeenIDs(_ context.Context, integrationID, runID, model string) (map[string]bool, error) {
	out := map[string]bool{}
	err := s.db.View(func(tx *bolt.Tx) error {
		prefix := key(integrationID, runID, "")
		c := tx.Bucket(bucketJobs).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			var seen map[string][]string
			if err := json.Unmarshal(v, &seen); err != nil {
				return err
			}
			for _, id := range seen[model] {
				out[id] = true
			}
		}
		return nil
	})
	return out, err
}

// FinishRun finishes a running run once.
func (s *Store) FinishRun(_ context.Context, integrationID, runID string, status integration.RunStatus, message string, at time.Time) (bool, error) {
	done := false
	err := s.db.Update(func(tx *bolt.Tx) error {
		r, err := loadRun(tx, integrationID, runID)
		if err != nil {
			return err
		}
		if !r.Active() {
			return nil
		}
		r.Status, r.Error, r.FinishedAt = status, message, &at
		if string(tx.Bucket(bucketActive).Get([]byte(integrationID))) == runID {
			if err := tx.Bucket(bucketActive).Delete([]byte(integrationID)); err != nil {
				return err
			}
		}
		done = true
		return putJSON(tx, bucketRuns, runKey(integrationID, runID), r)
	})
	return done, err
}

// Cursors returns the incremental cursors.
func (s *Store) Cursors(_ context.Context, integrationID string) (map[string]time.Time, error) {
	out := map[string]time.Time{}
	err := s.db.View(func(tx *bolt.Tx) error {
		_, err := getJSON(tx, bucketCursors, []byte(integrationID), &out)
		return err
	})
	return out, err
}

// SetCursors merges cursors.
func (s *Store) SetCursors(_ context.Context, integrationID string, cursors map[string]time.Time) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		cur := map[string]time.Time{}
		if _, err := getJSON(tx, bucketCursors, []byte(integrationID), &cur); err != nil {
			return err
		}
		for m, t := range cursors {
			cur[m] = t
		}
		return putJSON(tx, bucketCursors, []byte(integrationID), cur)
	})
}

type storedRecord struct {
	Hash      string    `json:"hash"`
	Data      []byte    `json:"data"`
	Deleted   bool      `json:"deleted,omitempty"`
	ChangedAt time.Time `json:"changed_at"`
}

// feedTime formats a time so that keys sort by it.
func feedTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000000Z") }

// PutRecords writes what changed, in one transaction.
func (s *Store) PutRecords(_ context.Context, _ integration.WriteScope, recs []integration.StoredRecord) (integration.PutResult, error) {
	n, err := s.putRecords(recs)
	return integration.PutResult{Written: n}, err
}

func (s *Store) putRecords(recs []integration.StoredRecord) (int, error) {
	written := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		written = 0
		for _, r := range recs {
			k := key(r.IntegrationID, r.Model, r.ExternalID)
			var old storedRecord
			ok, err := getJSON(tx, bucketRecords, k, &old)
			if err != nil {
				return err
			}
			if ok && old.Hash == r.Hash {
				continue
			}
			if ok {
				if err := tx.Bucket(bucketFeed).Delete(key(r.IntegrationID, r.Model, feedTime(old.ChangedAt), r.ExternalID)); err != nil {
					return err
				}
			}
			if err := putJSON(tx, bucketRecords, k, storedRecord{Hash: r.Hash, Data: r.Data, Deleted: r.Deleted, ChangedAt: r.ChangedAt}); err != nil {
				return err
			}
			if err := tx.Bucket(bucketFeed).Put(key(r.IntegrationID, r.Model, feedTime(r.ChangedAt), r.ExternalID), nil); err != nil {
				return err
			}
			written++
		}
		return nil
	})
	return written, err
}

// GetRecord returns one record.
func (s *Store) GetRecord(_ context.Context, integrationID, model, externalID string) (*integration.StoredRecord, error) {
	var out *integration.StoredRecord
	err := s.db.View(func(tx *bolt.Tx) error {
		var r storedRecord
		ok, err := getJSON(tx, bucketRecords, key(integrationID, model, externalID), &r)
		if err != nil {
			return err
		}
		if !ok {
			return integration.Errorf(integration.ENOTFOUND, "Record %s %q not found.", model, externalID)
		}
		out = &integration.StoredRecord{IntegrationID: integrationID, Model: model, ExternalID: externalID, Hash: r.Hash, Data: r.Data, Deleted: r.Deleted, ChangedAt: r.ChangedAt}
		return nil
	})
	return out, err
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
	out := []integration.StoredRecord{}
	next := ""
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketFeed).Cursor()
		for k, _ := c.Seek(start); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			if len(out) == q.Limit {
				last := out[len(out)-1]
				next = base64.RawURLEncoding.EncodeToString(key(feedTime(last.ChangedAt), last.ExternalID))
				return nil
			}
			rest := bytes.SplitN(k[len(prefix):], []byte{0}, 2)
			if len(rest) != 2 {
				continue
			}
			var r storedRecord
			if _, err := getJSON(tx, bucketRecords, key(q.IntegrationID, q.Model, string(rest[1])), &r); err != nil {
				return err
			}
			out = append(out, integration.StoredRecord{IntegrationID: q.IntegrationID, Model: q.Model, ExternalID: string(rest[1]),
				Hash: r.Hash, Data: r.Data, Deleted: r.Deleted, ChangedAt: r.ChangedAt})
		}
		return nil
	})
	return out, next, err
}

// CountRecords counts records not marked deleted.
func (s *Store) CountRecords(_ context.Context, integrationID, model string) (int64, error) {
	var n int64
	err := s.db.View(func(tx *bolt.Tx) error {
		prefix := key(integrationID, model, "")
		c := tx.Bucket(bucketRecords).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			var r storedRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			if !r.Deleted {
				n++
			}
		}
		return nil
	})
	return n, err
}

// AddEvents stores events and drops those past the retention.
func (s *Store) AddEvents(_ context.Context, evs []integration.SyncEvent) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		for _, e := range evs {
			if err := putJSON(tx, bucketEvents, key(e.IntegrationID, e.ID), e); err != nil {
				return err
			}
		}
		return nil
	})
}

// ListEvents pages newest first; event ids sort by time.
func (s *Store) ListEvents(_ context.Context, q integration.EventQuery) ([]integration.SyncEvent, string, error) {
	prefix := key(q.IntegrationID, "")
	var before []byte
	if q.Cursor != "" {
		b, err := base64.RawURLEncoding.DecodeString(q.Cursor)
		if err != nil || len(b) == 0 || len(b) > 128 {
			return nil, "", integration.Invalid(map[string]string{"cursor": "is not a cursor this API issued"})
		}
		before = key(q.IntegrationID, string(b))
	}
	cutoff := time.Now().Add(-EventRetention)
	out := []integration.SyncEvent{}
	next := ""
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketEvents).Cursor()
		// Start just before the cursor's event, or before the end of the
		// integration's range.
		from := before
		if from == nil {
			from = append(append([]byte{}, prefix...), 0xff)
		}
		var k, v []byte
		if k, _ = c.Seek(from); k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
		for ; k != nil && bytes.HasPrefix(k, prefix); k, v = c.Prev() {
			var e integration.SyncEvent
			if err := json.Unmarshal(v, &e); err != nil {
				return err
			}
			if e.At.Before(cutoff) || (q.Type != "" && e.Type != q.Type) || (q.Status != "" && e.Status != q.Status) {
				continue
			}
			if len(out) == q.Limit {
				next = base64.RawURLEncoding.EncodeToString([]byte(out[len(out)-1].ID))
				return nil
			}
			out = append(out, e)
		}
		return nil
	})
	return out, next, err
}

// DeleteSyncData removes an integration's runs, jobs, cursors, records
// and events.
func (s *Store) DeleteSyncData(_ context.Context, integrationID string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		prefix := key(integrationID, "")
		for _, b := range syncBuckets {
			bk := tx.Bucket(b)
			if err := bk.Delete([]byte(integrationID)); err != nil {
				return err
			}
			var doomed [][]byte
			c := bk.Cursor()
			for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
				doomed = append(doomed, append([]byte{}, k...))
			}
			for _, k := range doomed {
				if err := bk.Delete(k); err != nil {
					return err
				}
			}
		}
		return nil
	})
}
