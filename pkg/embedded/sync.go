package embedded

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/joinery/joinery/pkg/integration"
	bolt "go.etcd.io/bbolt"
)

var (
	bucketRuns      = []byte("runs")      // integration \x00 run id → run
	bucketActive    = []byte("active")    // integration → active run id
	bucketJobs      = []byte("jobs")      // integration \x00 run \x00 job id → seen ids
	bucketReads     = []byte("job_reads") // integration \x00 run \x00 job id → page reads and clock
	bucketDeltas    = []byte("deltas")    // integration \x00 run \x00 job id → count deltas per model, until applied or swept
	bucketFinishers = []byte("finishers") // integration \x00 run → the job finishing it
	bucketSpawns    = []byte("spawns")    // integration \x00 run \x00 parent job id → nothing
	bucketCursors   = []byte("cursors")   // integration → cursors
	bucketRecords   = []byte("records")   // integration \x00 model \x00 external id → record
	bucketFeed      = []byte("feed")      // integration \x00 model \x00 changed at \x00 external id → nothing
	bucketOutbox    = []byte("outbox")    // integration \x00 model \x00 external id \x00 changed at → change
	bucketCounts    = []byte("counts")    // integration \x00 model → records not deleted
	bucketRetries   = []byte("retries")   // integration \x00 model \x00 external id → why
	bucketEvents    = []byte("events")    // integration \x00 event id → event
	// syncBuckets hold an integration's sync data: DeleteSyncData empties
	// them of it.
	syncBuckets = [][]byte{bucketRuns, bucketActive, bucketJobs, bucketReads, bucketDeltas, bucketFinishers, bucketSpawns,
		bucketCursors, bucketRecords, bucketFeed, bucketOutbox, bucketCounts, bucketRetries, bucketEvents,
		bucketWebhookCounts}
	// bucketPurged (integration → when) outlives DeleteSyncData: it is what
	// refuses the writes of jobs still under way.
	bucketPurged = []byte("purged")
)

var _ integration.SyncStore = (*Store)(nil)

// EventRetention is how long sync events are kept.
const EventRetention = 30 * 24 * time.Hour

func (s *Store) initSync() error {
	return s.db.Update(func(tx *bolt.Tx) error {
		// A file from before the counts bucket: count its records once.
		countRecords := tx.Bucket(bucketCounts) == nil
		for _, b := range syncBuckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		if _, err := tx.CreateBucketIfNotExists(bucketPurged); err != nil {
			return err
		}
		if _, err := tx.CreateBucketIfNotExists(bucketSiteFeed); err != nil {
			return err
		}
		if countRecords {
			return initCounts(tx)
		}
		return nil
	})
}

// lastBefore positions c on the last key before from (for walking a range
// backwards, newest first) and returns it; nil when there is none.
func lastBefore(c *bolt.Cursor, from []byte) ([]byte, []byte) {
	if k, _ := c.Seek(from); k == nil {
		return c.Last()
	}
	return c.Prev()
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
	r.Finisher = string(tx.Bucket(bucketFinishers).Get(runKey(integrationID, runID)))
	return &r, nil
}

// takenOver is the error of a run a new run took over.
const takenOver = "Taken over by a new run after it stopped making progress."

// StartRun makes run the integration's active run unless one is active. A
// stale active run is finished as error in the same transaction, so its
// jobs' writes are refused from then on, and the count deltas of its jobs
// that did not complete are applied (sweepDeltas).
func (s *Store) StartRun(_ context.Context, run *integration.Run, staleAfter time.Duration) (*integration.Run, bool, error) {
	var active *integration.Run
	started := false
	// Staleness is judged on the caller's clock, the new run's start.
	now := run.StartedAt
	if now.IsZero() {
		now = time.Now()
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		active, started = nil, false
		if id := tx.Bucket(bucketActive).Get([]byte(run.IntegrationID)); id != nil {
			cur, err := loadRun(tx, run.IntegrationID, string(id))
			if err != nil && integration.ErrorCode(err) != integration.ENOTFOUND {
				return err
			}
			if cur != nil && cur.ID == run.ID {
				active, started = cur, true // a retried start that had succeeded
				return nil
			}
			if cur != nil && cur.Active() {
				if now.Sub(cur.StartedAt) < staleAfter {
					active = cur
					return nil
				}
				at := now
				cur.Status, cur.Error, cur.FinishedAt = integration.RunError, takenOver, &at
				if err := putJSON(tx, bucketRuns, runKey(cur.IntegrationID, cur.ID), cur); err != nil {
					return err
				}
				if err := sweepDeltas(tx, cur.IntegrationID, cur.ID); err != nil {
					return err
				}
			}
		}
		if err := tx.Bucket(bucketActive).Put([]byte(run.IntegrationID), []byte(run.ID)); err != nil {
			return err
		}
		if err := sweepRuns(tx, run.IntegrationID, now, sweepRunsPerStart); err != nil {
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
		k, _ := lastBefore(c, append(append([]byte{}, prefix...), 0xff))
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

// jobReads is what a completed job read, for the run's finishing job.
type jobReads struct {
	Pages []integration.PageRead `json:"pages,omitempty"`
	Clock map[string]time.Time   `json:"clock,omitempty"`
}

// CompleteJob counts a job once and, in the same transaction, applies the
// count deltas its writes kept, so counts change exactly once per job. A
// job of a stopped run is still counted, but its deltas were applied and
// removed when the run stopped: it applies nothing.
func (s *Store) CompleteJob(_ context.Context, integrationID, runID, jobID string, res integration.JobResult) (*integration.Run, bool, error) {
	var out *integration.Run
	first := false
	err := s.db.Update(func(tx *bolt.Tx) error {
		first = false
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
		if len(res.Pages) > 0 || len(res.Clock) > 0 {
			if err := putJSON(tx, bucketReads, mark, jobReads{Pages: res.Pages, Clock: res.Clock}); err != nil {
				return err
			}
		}
		var deltas map[string]int64
		if _, err := getJSON(tx, bucketDeltas, mark, &deltas); err != nil {
			return fmt.Errorf("decode count deltas of job %s: %w", jobID, err)
		}
		for model, d := range deltas {
			if err := addCount(tx, integrationID, model, d); err != nil {
				return err
			}
		}
		if err := tx.Bucket(bucketDeltas).Delete(mark); err != nil {
			return err
		}
		r.JobsDone++
		r.Progress = r.Progress.Add(res.Progress)
		first = true
		return putJSON(tx, bucketRuns, runKey(integrationID, runID), r)
	})
	return out, first, err
}

// RunReads returns the page reads of the run's completed jobs, in Seq
// order, and per model the earliest clock they reported.
func (s *Store) RunReads(_ context.Context, integrationID, runID string) ([]integration.PageRead, map[string]time.Time, error) {
	pages := []integration.PageRead{}
	clock := map[string]time.Time{}
	err := s.db.View(func(tx *bolt.Tx) error {
		prefix := key(integrationID, runID, "")
		c := tx.Bucket(bucketReads).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			var jr jobReads
			if err := json.Unmarshal(v, &jr); err != nil {
				return fmt.Errorf("decode page reads of run %s: %w", runID, err)
			}
			pages = append(pages, jr.Pages...)
			for m, t := range jr.Clock {
				if cur, ok := clock[m]; !ok || t.Before(cur) {
					clock[m] = t
				}
			}
		}
		return nil
	})
	sort.SliceStable(pages, func(i, j int) bool { return pages[i].Seq < pages[j].Seq })
	return pages, clock, err
}

// ClaimFinish lets the first job that claims a running run finish it.
func (s *Store) ClaimFinish(_ context.Context, integrationID, runID, jobID string) (bool, error) {
	claimed := false
	err := s.db.Update(func(tx *bolt.Tx) error {
		claimed = false
		r, err := loadRun(tx, integrationID, runID)
		if integration.ErrorCode(err) == integration.ENOTFOUND {
			return nil
		}
		if err != nil {
			return err
		}
		if !r.Active() {
			return nil
		}
		k := runKey(integrationID, runID)
		if cur := tx.Bucket(bucketFinishers).Get(k); cur != nil {
			claimed = string(cur) == jobID
			return nil
		}
		claimed = true
		return tx.Bucket(bucketFinishers).Put(k, []byte(jobID))
	})
	return claimed, err
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

// FinishRun finishes a running run once and, in the same transaction,
// applies the count deltas of its jobs that did not complete. Called on a
// finished run it changes nothing (there is nothing left to sweep).
func (s *Store) FinishRun(_ context.Context, integrationID, runID string, status integration.RunStatus, message string, at time.Time) (bool, error) {
	done := false
	err := s.db.Update(func(tx *bolt.Tx) error {
		done = false
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
		if err := sweepDeltas(tx, integrationID, runID); err != nil {
			return err
		}
		if err := addRunEvent(tx, r, status, message, at); err != nil {
			return err
		}
		done = true
		return putJSON(tx, bucketRuns, runKey(integrationID, runID), r)
	})
	return done, err
}

// sweepDeltas applies to the counts the deltas the run's jobs kept and
// no completion applied (a job that failed, was dead-lettered or stopped
// under its run), and removes them. It runs as the run stops: from then on
// no write of the run lands, and a later completion of such a job finds
// nothing to apply, so each record counts once.
func sweepDeltas(tx *bolt.Tx, integrationID, runID string) error {
	prefix := key(integrationID, runID, "")
	var swept [][]byte
	c := tx.Bucket(bucketDeltas).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		var deltas map[string]int64
		if err := json.Unmarshal(v, &deltas); err != nil {
			return fmt.Errorf("decode count deltas of run %s: %w", runID, err)
		}
		for model, d := range deltas {
			if err := addCount(tx, integrationID, model, d); err != nil {
				return err
			}
		}
		swept = append(swept, append([]byte{}, k...))
	}
	// Deleted after the walk: a cursor does not survive its bucket changing.
	for _, k := range swept {
		if err := tx.Bucket(bucketDeltas).Delete(k); err != nil {
			return err
		}
	}
	return nil
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

// AddEvents stores events and drops those past the retention.
func (s *Store) AddEvents(_ context.Context, evs []integration.SyncEvent) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		for _, e := range evs {
			if err := putJSON(tx, bucketEvents, key(e.IntegrationID, e.ID), e); err != nil {
				return err
			}
			if err := sweepEvents(tx, e.IntegrationID, time.Now(), 2); err != nil {
				return err
			}
		}
		return countEvents(tx, evs, time.Now())
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
		for k, v := lastBefore(c, from); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Prev() {
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
