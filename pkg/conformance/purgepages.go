package conformance

import (
	"context"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/integration"
)

// testPurge checks that an integration's sync data goes in calls of
// bounded work, that the first call already refuses every write, and
// that nothing of it is left at the end.
func testPurge(t *testing.T, newStore func(t *testing.T) integration.SyncStore, now time.Time) {
	ctx := context.Background()
	t.Run("purge deletes page by page and leaves nothing", func(t *testing.T) {
		s, id, other := newStore(t), uniq("int"), uniq("int")
		const n = 40
		var recs []integration.StoredRecord
		for i := range n {
			recs = append(recs, rec(id, "post", uniq("p"), "v1", now, now, false))
			if i%10 == 0 {
				recs = append(recs, rec(id, "page", uniq("g"), "v1", now, now, false))
			}
		}
		put(t, s, integration.WriteScope{}, recs...)
		put(t, s, integration.WriteScope{}, rec(other, "post", "1", "v1", now, now, false))
		old := startRun(t, s, id, now)
		if _, err := s.FinishRun(ctx, id, old.ID, integration.RunCompleted, "", now); err != nil {
			t.Fatal(err)
		}
		run := startRun(t, s, id, now.Add(time.Second))
		if _, err := s.AddJobs(ctx, id, run.ID, "plan", []string{"{}"}, nil); err != nil {
			t.Fatal(err)
		}
		put(t, s, integration.WriteScope{RunID: run.ID, JobID: "plan"}, rec(id, "post", "job", "v1", now, now, false))
		if _, _, err := s.CompleteJob(ctx, id, run.ID, "plan", integration.JobResult{Seen: map[string][]string{"post": {"job"}}}); err != nil {
			t.Fatal(err)
		}
		_ = s.SetCursors(ctx, id, map[string]time.Time{"post": now})
		_ = s.AddRetries(ctx, id, "post", map[string]string{"r": "too large"})
		var evs []integration.SyncEvent
		for range 5 {
			evs = append(evs, integration.SyncEvent{ID: integration.NewID(), IntegrationID: id, Type: "page", Status: "ok", At: now})
		}
		if err := s.AddEvents(ctx, evs); err != nil {
			t.Fatal(err)
		}
		if err := s.CreatePush(ctx, &integration.Push{ID: integration.NewID(), AccountID: "acct", IntegrationID: id, Model: "post", LocalID: "l1",
			Data: []byte(`{}`), Status: integration.PushQueued, CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}

		const page = 10
		more, err := s.PurgeSyncData(ctx, id, page)
		if err != nil || !more {
			t.Fatalf("first page: more %v, %v; want more", more, err)
		}
		// From the first page on, no write lands and the run has stopped.
		_, err = s.PutRecords(ctx, integration.WriteScope{}, []integration.StoredRecord{rec(id, "post", "late", "v1", now, now, false)})
		wantStopped(t, err)
		if r, err := s.GetRun(ctx, id, run.ID); err == nil && r.Active() {
			t.Fatalf("the run is still running after the first page: %+v", r)
		}
		calls := 1
		for more {
			if calls++; calls > 100 {
				t.Fatalf("still more after %d calls of %d items", calls, page)
			}
			if more, err = s.PurgeSyncData(ctx, id, page); err != nil {
				t.Fatalf("call %d: %v", calls, err)
			}
		}
		// 45 records are at least 45 items: at least 5 calls of 10.
		if calls < 5 {
			t.Fatalf("%d calls of %d items deleted 45 records and the rest", calls, page)
		}
		if more, err := s.PurgeSyncData(ctx, id, page); err != nil || more {
			t.Fatalf("purging again: more %v, %v", more, err)
		}
		for _, model := range []string{"post", "page"} {
			if got, _, _ := s.ListRecords(ctx, integration.RecordQuery{IntegrationID: id, Model: model, Limit: 10}); len(got) != 0 {
				t.Fatalf("%d %s records left", len(got), model)
			}
		}
		_, err = s.LatestRun(ctx, id)
		wantCode(t, err, integration.ENOTFOUND)
		_, err = s.GetRun(ctx, id, old.ID)
		wantCode(t, err, integration.ENOTFOUND)
		left, _, _ := s.ListEvents(ctx, integration.EventQuery{IntegrationID: id, Limit: 10})
		c, _ := s.Cursors(ctx, id)
		seen, _ := s.SeenIDs(ctx, id, run.ID, "post")
		retries, _ := s.Retries(ctx, id, "post", 10)
		pushes, _ := s.ListPushes(ctx, id, integration.PushQueued, integration.PushDone, integration.PushFailed, integration.PushConflict)
		changes := allChanges(t, s, id, 100)
		if len(left)+len(c)+len(seen)+len(retries)+len(pushes)+len(changes) != 0 {
			t.Fatalf("left: %d events, %d cursors, %d seen, %d retries, %d pushes, %d changes", len(left), len(c), len(seen), len(retries), len(pushes), len(changes))
		}
		if n, err := s.CountRecords(ctx, id, "post"); err != nil || n != 0 {
			t.Fatalf("count left: %d %v", n, err)
		}
		if _, err := s.GetRecord(ctx, other, "post", "1"); err != nil {
			t.Fatalf("another integration's record: %v", err)
		}
	})
}

// testRetention checks that finished pushes are forgotten after their
// retention, and that a local id's mapping outlives them.
func testRetention(t *testing.T, newStore func(t *testing.T) integration.SyncStore, now time.Time) {
	ctx := context.Background()
	t.Run("done and failed pushes expire, queued and conflicting ones stay", func(t *testing.T) {
		s, id := newStore(t), uniq("int")
		day := 24 * time.Hour
		cases := []struct {
			status integration.PushStatus
			ago    time.Duration // since it reached status
			kept   bool
		}{
			{integration.PushDone, 6 * day, true},
			{integration.PushDone, 8 * day, false},
			{integration.PushFailed, 8 * day, true},
			{integration.PushFailed, 31 * day, false},
			{integration.PushConflict, 400 * day, true},
			{integration.PushQueued, 400 * day, true},
		}
		var ids []string
		for i, c := range cases {
			p := &integration.Push{ID: integration.NewID(), AccountID: "acct", IntegrationID: id, Model: "post", LocalID: "l" + string(rune('a'+i)),
				Data: []byte(`{}`), Status: integration.PushQueued, CreatedAt: now.Add(-c.ago), UpdatedAt: now.Add(-c.ago)}
			if err := s.CreatePush(ctx, p); err != nil {
				t.Fatal(err)
			}
			p.Status = c.status
			if err := s.UpdatePush(ctx, p); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, p.ID)
		}
		listed := map[string]bool{}
		all, err := s.ListPushes(ctx, id, integration.PushQueued, integration.PushDone, integration.PushFailed, integration.PushConflict)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range all {
			listed[p.ID] = true
		}
		for i, c := range cases {
			_, err := s.GetPush(ctx, id, ids[i])
			if kept := err == nil; kept != c.kept || listed[ids[i]] != c.kept {
				t.Fatalf("a push %s %s ago: got %v, listed %v; want kept %v", c.status, c.ago, err, listed[ids[i]], c.kept)
			}
			if !c.kept {
				wantCode(t, err, integration.ENOTFOUND)
			}
		}
		// The mapping stays: it orders the local id's pushes.
		m, err := s.GetMapping(ctx, id, "post", "lb")
		if err != nil || m.NextSeq != 1 || m.LocalID != "lb" {
			t.Fatalf("mapping of an expired push: %+v %v", m, err)
		}
		_, err = s.GetMapping(ctx, id, "post", "never-pushed")
		wantCode(t, err, integration.ENOTFOUND)
		// A conflict settled later expires from then on.
		p, err := s.GetPush(ctx, id, ids[4])
		if err != nil {
			t.Fatal(err)
		}
		p.Status, p.UpdatedAt = integration.PushDone, now.Add(-8*day)
		if err := s.UpdatePush(ctx, p); err != nil {
			t.Fatal(err)
		}
		_, err = s.GetPush(ctx, id, ids[4])
		wantCode(t, err, integration.ENOTFOUND)
	})
}
