package conformance

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/integration"
)

// testHealth covers the hourly health buckets, the dead letters, the
// events listed by status and the exact pending-push count.
func testHealth(t *testing.T, newStore func(t *testing.T) integration.SyncStore, now time.Time) {
	ctx := context.Background()
	ev := func(id, typ, status string, at time.Time) integration.SyncEvent {
		return integration.SyncEvent{ID: integration.NewID(), IntegrationID: id, Type: typ, Status: status, Message: typ, At: at}
	}

	t.Run("health: events count in the buckets of their hours", func(t *testing.T) {
		s, id := newStore(t), uniq("int")
		evs := []integration.SyncEvent{
			ev(id, "item_failed", "error", now), ev(id, "item_failed", "error", now), ev(id, "item_failed", "error", now.Add(-5*time.Hour)),
			ev(id, "run_finished", "error", now.Add(-2*time.Hour)), ev(id, "run_finished", "ok", now),
			ev(id, "push", "error", now.Add(-30*time.Hour)), ev(id, "push", "ok", now), ev(id, "conflict", "warning", now),
			ev(id, "page", "ok", now), ev(uniq("other"), "item_failed", "error", now),
		}
		if err := s.AddEvents(ctx, evs); err != nil {
			t.Fatal(err)
		}
		got, err := s.HealthCounts(ctx, id, now.Add(-23*time.Hour))
		want := integration.HealthCounts{FailedRuns: 1, FailedItems: 3, ConflictPushes: 1}
		if err != nil || got != want {
			t.Fatalf("last 24 hours: %+v %v, want %+v", got, err, want)
		}
		want.FailedPushes = 1
		if got, err := s.HealthCounts(ctx, id, now.Add(-47*time.Hour)); err != nil || got != want {
			t.Fatalf("last 48 hours: %+v %v, want %+v", got, err, want)
		}
		if got, err := s.HealthCounts(ctx, id, now.Add(time.Hour)); err != nil || got != (integration.HealthCounts{}) {
			t.Fatalf("from the next hour: %+v %v", got, err)
		}
	})

	t.Run("dead letters: kept once, counted once, taken once", func(t *testing.T) {
		s, id := newStore(t), uniq("int")
		d := integration.DeadLetter{ID: uniq("msg"), AccountID: "acct", IntegrationID: id, RunID: "run-1", JobID: "job-1", Kind: "page",
			Body: `{"kind":"page"}`, Receives: 5, At: now}
		for i, want := range []bool{true, false} {
			if kept, err := s.KeepDeadLetter(ctx, d, true); err != nil || kept != want {
				t.Fatalf("keep #%d: %v %v, want %v", i+1, kept, err, want)
			}
		}
		if h, err := s.HealthCounts(ctx, id, now.Add(-23*time.Hour)); err != nil || h.DeadLetters != 1 {
			t.Fatalf("counted: %+v %v", h, err)
		}
		dls, err := s.DeadLetters(ctx, id, 10)
		if err != nil || len(dls) != 1 || dls[0].Body != d.Body || dls[0].RunID != "run-1" || dls[0].Kind != "page" || !dls[0].At.Equal(now) {
			t.Fatalf("dead letters: %+v %v", dls, err)
		}
		for i, want := range []bool{true, false} {
			if took, err := s.TakeDeadLetter(ctx, id, d.ID); err != nil || took != want {
				t.Fatalf("take #%d: %v %v, want %v", i+1, took, err, want)
			}
		}
		if dls, err := s.DeadLetters(ctx, id, 10); err != nil || len(dls) != 0 {
			t.Fatalf("after take: %+v %v", dls, err)
		}
		// Put back after a failed replay: kept, not counted again.
		if kept, err := s.KeepDeadLetter(ctx, d, false); err != nil || !kept {
			t.Fatalf("put back: %v %v", kept, err)
		}
		if h, _ := s.HealthCounts(ctx, id, now.Add(-23*time.Hour)); h.DeadLetters != 1 {
			t.Fatalf("put back counted again: %+v", h)
		}
		if err := s.DeleteSyncData(ctx, id); err != nil {
			t.Fatal(err)
		}
		dls, _ = s.DeadLetters(ctx, id, 10)
		if h, _ := s.HealthCounts(ctx, id, now.Add(-23*time.Hour)); len(dls) != 0 || h != (integration.HealthCounts{}) {
			t.Fatalf("after delete: %d dead letters, %+v", len(dls), h)
		}
	})

	t.Run("events by status among many others, paged", func(t *testing.T) {
		s, id := newStore(t), uniq("int")
		var evs []integration.SyncEvent
		for i := range 60 {
			e := ev(id, "page", "ok", now.Add(time.Duration(i)*time.Second))
			e.ID = fmt.Sprintf("01F%023d", i)
			switch i {
			case 3, 40:
				e.Status, e.Type = "warning", "schedule"
			case 10, 20, 50:
				e.Status, e.Type = "error", "item_failed"
			}
			e.Message = fmt.Sprint(i)
			evs = append(evs, e)
		}
		if err := s.AddEvents(ctx, evs); err != nil {
			t.Fatal(err)
		}
		list := func(q integration.EventQuery) []string {
			var got []string
			for pages := 0; ; pages++ {
				page, next, err := s.ListEvents(ctx, q)
				if err != nil || pages > 60 {
					t.Fatalf("events %+v: %v", q, err)
				}
				for _, e := range page {
					got = append(got, e.Message)
				}
				if next == "" {
					return got
				}
				q.Cursor = next
			}
		}
		if got := list(integration.EventQuery{IntegrationID: id, Status: "warning", Limit: 1}); fmt.Sprint(got) != "[40 3]" {
			t.Fatalf("warnings: %v", got)
		}
		if got := list(integration.EventQuery{IntegrationID: id, Status: "error", Type: "item_failed", Limit: 2}); fmt.Sprint(got) != "[50 20 10]" {
			t.Fatalf("errors: %v", got)
		}
		if got := list(integration.EventQuery{IntegrationID: id, Status: "error", Type: "page", Limit: 2}); len(got) != 0 {
			t.Fatalf("errors of another type: %v", got)
		}
		if got := list(integration.EventQuery{IntegrationID: id, Status: "ok", Limit: 50}); len(got) != 55 {
			t.Fatalf("ok events: %d, want 55", len(got))
		}
		if err := s.DeleteSyncData(ctx, id); err != nil {
			t.Fatal(err)
		}
		if got := list(integration.EventQuery{IntegrationID: id, Status: "error", Limit: 10}); len(got) != 0 {
			t.Fatalf("error events after delete: %v", got)
		}
	})

	t.Run("pending pushes are counted exactly", func(t *testing.T) {
		s, id := newStore(t), uniq("int")
		var ps []*integration.Push
		for i := range 3 {
			p := &integration.Push{ID: integration.NewID(), AccountID: "acct", IntegrationID: id, Model: "post", LocalID: fmt.Sprint("l", i),
				Data: []byte(`{}`), Status: integration.PushQueued, CreatedAt: now, UpdatedAt: now}
			if err := s.CreatePush(ctx, p); err != nil {
				t.Fatal(err)
			}
			ps = append(ps, p)
		}
		pending := func(want int) {
			t.Helper()
			if n, err := s.PendingPushes(ctx, id); err != nil || n != want {
				t.Fatalf("pending: %d %v, want %d", n, err, want)
			}
		}
		pending(3)
		ps[0].Status = integration.PushDone
		for range 2 { // a redelivered outcome changes the count once
			if err := s.UpdatePush(ctx, ps[0]); err != nil {
				t.Fatal(err)
			}
		}
		pending(2)
		ps[1].Status = integration.PushConflict
		_ = s.UpdatePush(ctx, ps[1])
		ps[0].Status = integration.PushQueued // queued again
		_ = s.UpdatePush(ctx, ps[0])
		pending(2)
		err := s.UpdatePush(ctx, &integration.Push{ID: integration.NewID(), IntegrationID: id, Status: integration.PushDone, UpdatedAt: now})
		wantCode(t, err, integration.ENOTFOUND)
		if err := s.DeleteSyncData(ctx, id); err != nil {
			t.Fatal(err)
		}
		pending(0)
	})
}
