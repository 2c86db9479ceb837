package conformance

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"sort"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/integration"
)

// KeyLister is implemented by stores that can list every key they keep
// for an integration, wherever it lives, except the mark that it was
// purged. The delete test uses it to see partitions no port method reads
// (record parts, count deltas, spawned jobs).
type KeyLister interface {
	KeysOf(ctx context.Context, integrationID string) ([]string, error)
}

// holding is one kind of thing an integration keeps in a SyncStore, and
// how much of it the port shows.
type holding struct {
	name  string
	count func(t *testing.T, id, runID string) int
}

// testDeleteRemovesEverything: the test writes something into every
// partition an integration owns, checks that it is there, deletes, and
// checks that each is empty (and another integration's untouched).
func testDeleteRemovesEverything(t *testing.T, newStore func(t *testing.T) integration.SyncStore, now time.Time) {
	t.Run("delete removes everything", func(t *testing.T) {
		ctx := context.Background()
		s := newStore(t)
		big := make([]byte, 700<<10) // incompressible: its data goes to parts
		if _, err := rand.Read(big); err != nil {
			t.Fatal(err)
		}
		fill := func(id string) *integration.Run {
			t.Helper()
			run := newRun(id, now)
			if _, started, err := s.StartRun(ctx, run, time.Hour); err != nil || !started {
				t.Fatalf("start: %v %v", started, err)
			}
			if _, err := s.AddJobs(ctx, id, run.ID, "plan", []string{`{"kind":"page"}`}, map[string]int64{"post": 3}); err != nil {
				t.Fatal(err)
			}
			if _, _, err := s.CompleteJob(ctx, id, run.ID, "plan", integration.JobResult{Seen: map[string][]string{"post": {"1"}},
				Pages: []integration.PageRead{{Model: "post", Offset: 0, Limit: 10, Count: 1}}, Clock: map[string]time.Time{"post": now}}); err != nil {
				t.Fatal(err)
			}
			// A job that has not completed keeps its count deltas.
			if _, err := s.PutRecords(ctx, integration.WriteScope{RunID: run.ID, JobID: "post/1"}, []integration.StoredRecord{record(id, "post", "2", "v", now)}); err != nil {
				t.Fatal(err)
			}
			bigData, _ := json.Marshal(map[string][]byte{"body_html": big})
			if _, err := s.PutRecords(ctx, integration.WriteScope{}, []integration.StoredRecord{record(id, "post", "1", "v", now),
				{IntegrationID: id, Model: "post", ExternalID: "big", Hash: "big", Data: bigData, ChangedAt: now}}); err != nil {
				t.Fatal(err)
			}
			if err := s.SetCursors(ctx, id, map[string]time.Time{"post": now}); err != nil {
				t.Fatal(err)
			}
			if err := s.AddRetries(ctx, id, "post", map[string]string{"9": "timed out"}); err != nil {
				t.Fatal(err)
			}
			if err := s.AddEvents(ctx, []integration.SyncEvent{{ID: integration.NewID(), IntegrationID: id, RunID: run.ID, Type: "page", Status: "ok", At: now},
				{ID: integration.NewID(), IntegrationID: id, RunID: run.ID, Type: "item_failed", Status: "error", At: now}}); err != nil {
				t.Fatal(err)
			}
			p := &integration.Push{ID: integration.NewID(), AccountID: "acct", IntegrationID: id, Model: "post", LocalID: "local-1",
				Data: []byte(`{"title":"x"}`), Status: integration.PushQueued, CreatedAt: now, UpdatedAt: now}
			if err := s.CreatePush(ctx, p); err != nil {
				t.Fatal(err)
			}
			m, ok, err := s.LeaseMapping(ctx, id, "post", "local-1", "owner", now.Add(time.Minute))
			if err != nil || !ok {
				t.Fatalf("lease: %v %v", ok, err)
			}
			m.ExternalID = "ext-1"
			if err := s.SaveMapping(ctx, m, "owner"); err != nil {
				t.Fatal(err)
			}
			if err := s.ReleaseMapping(ctx, id, "post", "local-1", "owner"); err != nil {
				t.Fatal(err)
			}
			return run
		}
		count := func(n int, err error) int {
			t.Helper()
			if err != nil && integration.ErrorCode(err) != integration.ENOTFOUND {
				t.Fatal(err)
			}
			return n
		}
		found := func(err error) int {
			t.Helper()
			if integration.ErrorCode(err) == integration.ENOTFOUND {
				return 0
			}
			if err != nil {
				t.Fatal(err)
			}
			return 1
		}
		holdings := []holding{
			{"runs", func(t *testing.T, id, _ string) int {
				r, _, err := s.ListRuns(ctx, id, 10, "")
				return count(len(r), err)
			}},
			{"latest run", func(t *testing.T, id, _ string) int { _, err := s.LatestRun(ctx, id); return found(err) }},
			{"the run", func(t *testing.T, id, run string) int { _, err := s.GetRun(ctx, id, run); return found(err) }},
			{"seen ids", func(t *testing.T, id, run string) int {
				m, err := s.SeenIDs(ctx, id, run, "post")
				return count(len(m), err)
			}},
			{"page reads", func(t *testing.T, id, run string) int {
				r, c, err := s.RunReads(ctx, id, run)
				return count(len(r)+len(c), err)
			}},
			{"cursors", func(t *testing.T, id, _ string) int { c, err := s.Cursors(ctx, id); return count(len(c), err) }},
			{"records", func(t *testing.T, id, _ string) int {
				r, _, err := s.ListRecords(ctx, integration.RecordQuery{IntegrationID: id, Model: "post", Limit: 10})
				return count(len(r), err)
			}},
			{"a large record", func(t *testing.T, id, _ string) int { _, err := s.GetRecord(ctx, id, "post", "big"); return found(err) }},
			{"record count", func(t *testing.T, id, _ string) int {
				n, err := s.CountRecords(ctx, id, "post")
				return count(int(n), err)
			}},
			{"outbox", func(t *testing.T, id, _ string) int {
				c, _, err := s.ListChanges(ctx, id, 10, "")
				return count(len(c), err)
			}},
			{"retries", func(t *testing.T, id, _ string) int {
				r, err := s.Retries(ctx, id, "post", 10)
				return count(len(r), err)
			}},
			{"events", func(t *testing.T, id, _ string) int {
				e, _, err := s.ListEvents(ctx, integration.EventQuery{IntegrationID: id, Limit: 10})
				return count(len(e), err)
			}},
			{"ok events", func(t *testing.T, id, _ string) int {
				e, _, err := s.ListEvents(ctx, integration.EventQuery{IntegrationID: id, Status: "ok", Limit: 10})
				return count(len(e), err)
			}},
			{"error events", func(t *testing.T, id, _ string) int {
				e, _, err := s.ListEvents(ctx, integration.EventQuery{IntegrationID: id, Status: "error", Limit: 10})
				return count(len(e), err)
			}},
			{"events by type", func(t *testing.T, id, _ string) int {
				e, _, err := s.ListEvents(ctx, integration.EventQuery{IntegrationID: id, Type: "page", Limit: 10})
				return count(len(e), err)
			}},
			{"events by status and type", func(t *testing.T, id, _ string) int {
				e, _, err := s.ListEvents(ctx, integration.EventQuery{IntegrationID: id, Status: "error", Type: "item_failed", Limit: 10})
				return count(len(e), err)
			}},
			{"pushes", func(t *testing.T, id, _ string) int {
				p, err := s.ListPushes(ctx, id, integration.PushQueued, integration.PushDone, integration.PushFailed, integration.PushConflict)
				return count(len(p), err)
			}},
			{"pending pushes", func(t *testing.T, id, _ string) int { n, err := s.PendingPushes(ctx, id); return count(n, err) }},
			{"pushes by seq", func(t *testing.T, id, _ string) int {
				_, err := s.PushBySeq(ctx, id, "post", "local-1", 1)
				return found(err)
			}},
		}
		look := func(id, run string) map[string]int {
			got := map[string]int{}
			for _, h := range holdings {
				got[h.name] = h.count(t, id, run)
			}
			if kl, ok := s.(KeyLister); ok {
				keys, err := kl.KeysOf(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				got["keys"] = len(keys)
			}
			return got
		}

		id, other := uniq("int"), uniq("int")
		run, otherRun := fill(id), fill(other)
		// The setup wrote into every partition, or the test proves nothing.
		for name, n := range look(id, run.ID) {
			if n == 0 {
				t.Fatalf("setup: the integration has no %s before the delete", name)
			}
		}
		if _, started, err := s.StartRun(ctx, newRun(id, now), time.Hour); err != nil || started {
			t.Fatalf("setup: no active run before the delete (%v %v)", started, err)
		}
		otherBefore := look(other, otherRun.ID)

		if err := s.DeleteSyncData(ctx, id); err != nil {
			t.Fatal(err)
		}

		var left []string
		for name, n := range look(id, run.ID) {
			if n != 0 {
				left = append(left, name)
			}
		}
		sort.Strings(left)
		if len(left) > 0 {
			msg := ""
			if kl, ok := s.(KeyLister); ok {
				keys, _ := kl.KeysOf(ctx, id)
				msg = ": " + fmtKeys(keys)
			}
			t.Errorf("left after the delete: %v%s", left, msg)
		}
		otherAfter := look(other, otherRun.ID)
		for name, n := range otherBefore {
			if otherAfter[name] != n {
				t.Errorf("another integration's %s went from %d to %d", name, n, otherAfter[name])
			}
		}
		// The mapping, read last: leasing it writes a fresh one.
		if m, _, err := s.LeaseMapping(ctx, id, "post", "local-1", "owner", now.Add(time.Minute)); err == nil && m.ExternalID != "" {
			t.Errorf("the mapping of local-1 is left after the delete: %+v", m)
		}
		// A new run may start at once.
		if _, started, err := s.StartRun(ctx, newRun(id, now), time.Hour); err != nil || !started {
			t.Fatalf("start after delete: %v %v", started, err)
		}
	})
}

func fmtKeys(keys []string) string {
	if len(keys) > 20 {
		keys = append(keys[:20:20], "…")
	}
	b, _ := json.Marshal(keys)
	return string(b)
}
