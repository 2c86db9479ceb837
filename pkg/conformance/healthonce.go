package conformance

import (
	"context"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/integration"
)

// testHealthCountedOnce: the health buckets count an event once, however
// often it is added: a job redelivered after it logged its failures adds
// them again, with the same ids (AddEvents retried) or with new ids and
// the same count key (the job run anew).
func testHealthCountedOnce(t *testing.T, newStore func(t *testing.T) integration.SyncStore, now time.Time) {
	ctx := context.Background()
	t.Run("health: an event added again is counted once", func(t *testing.T) {
		s, id := newStore(t), uniq("int")
		failed := func(key string, at time.Time) integration.SyncEvent {
			return integration.SyncEvent{ID: integration.NewID(), IntegrationID: id, RunID: "run-1", Type: "item_failed", Status: "error",
				Model: "post", Message: "unreadable", At: at, CountKey: key}
		}
		want := func(step string, n int64) {
			t.Helper()
			if got, err := s.HealthCounts(ctx, id, now.Add(-23*time.Hour)); err != nil || got.FailedItems != n {
				t.Fatalf("%s: %+v %v, want %d failed items", step, got, err, n)
			}
		}
		first := []integration.SyncEvent{failed("", now), failed("", now), failed("run-1/post/7", now),
			{ID: integration.NewID(), IntegrationID: id, Type: "conflict", Status: "warning", At: now}}
		if err := s.AddEvents(ctx, first); err != nil {
			t.Fatal(err)
		}
		want("added", 3)
		for range 2 { // AddEvents retried, whole or in part
			if err := s.AddEvents(ctx, first); err != nil {
				t.Fatal(err)
			}
			if err := s.AddEvents(ctx, first[1:3]); err != nil {
				t.Fatal(err)
			}
		}
		want("added again", 3)
		if got, _ := s.HealthCounts(ctx, id, now.Add(-23*time.Hour)); got.ConflictPushes != 1 {
			t.Fatalf("conflicts added again: %+v, want 1", got)
		}
		// The job run anew logs its failure under a new id, an hour later,
		// and twice in one call: the key counts once.
		if err := s.AddEvents(ctx, []integration.SyncEvent{failed("run-1/post/7", now.Add(time.Hour)), failed("run-1/post/7", now)}); err != nil {
			t.Fatal(err)
		}
		want("the same key anew", 3)
		if got, _ := s.HealthCounts(ctx, id, now.Add(time.Hour)); got.FailedItems != 0 {
			t.Fatalf("the next hour counted a key counted already: %+v", got)
		}
		// Another key, and a new event of another run, count.
		if err := s.AddEvents(ctx, []integration.SyncEvent{failed("run-2/post/7", now), failed("", now)}); err != nil {
			t.Fatal(err)
		}
		want("new keys", 5)
		// Still listed as often as added: only the counting is once.
		evs, _, err := s.ListEvents(ctx, integration.EventQuery{IntegrationID: id, Status: "error", Type: "item_failed", Limit: 50})
		if err != nil || len(evs) != 7 {
			t.Fatalf("listed: %d %v, want 7", len(evs), err)
		}
		if err := s.DeleteSyncData(ctx, id); err != nil {
			t.Fatal(err)
		}
		want("after delete", 0)
		if kl, ok := s.(KeyLister); ok {
			if keys, err := kl.KeysOf(ctx, id); err != nil || len(keys) != 0 {
				t.Fatalf("left after delete: %v %v", fmtKeys(keys), err)
			}
		}
	})
}
