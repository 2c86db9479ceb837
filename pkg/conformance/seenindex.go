package conformance

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/integration"
)

// testSeenIndex: the ids a run saw, kept in order, are read back by span,
// across as many stored pieces as the store cuts them into.
func testSeenIndex(t *testing.T, newStore func(t *testing.T) integration.SyncStore, now time.Time) {
	ctx := context.Background()
	t.Run("seen ids by span", func(t *testing.T) {
		s, id := newStore(t), uniq("int")
		run := newRun(id, now)
		if _, started, err := s.StartRun(ctx, run, time.Hour); err != nil || !started {
			t.Fatalf("start: %v %v", started, err)
		}
		if _, kept, err := s.SeenBetween(ctx, id, run.ID, "post", "0", "9"); err != nil || kept {
			t.Fatalf("before any is kept: %v %v, want not kept", kept, err)
		}
		// 40,000 ids of up to 21 bytes: more than one DynamoDB item holds.
		ids := map[string]bool{}
		for i := range 40_000 {
			ids[fmt.Sprintf("%d-%015d", i%7, i)] = true
		}
		for range 2 { // a finishing job delivered again keeps them again
			if err := s.KeepSeen(ctx, id, run.ID, "post", ids); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.KeepSeen(ctx, id, run.ID, "page", map[string]bool{"3-000000000000003": true}); err != nil {
			t.Fatal(err)
		}
		span := func(model, from, to string, want int) {
			t.Helper()
			seen, kept, err := s.SeenBetween(ctx, id, run.ID, model, from, to)
			if err != nil || !kept || len(seen) != want {
				t.Fatalf("%s %s..%s: %d ids, kept %v, %v; want %d", model, from, to, len(seen), kept, err, want)
			}
			for k := range seen {
				if !ids[k] || k < from || k > to {
					t.Fatalf("%s %s..%s: %s is not an id of the span", model, from, to, k)
				}
			}
		}
		span("post", "0", "9", 40_000)
		span("post", "3-000000000000003", "3-000000000000003", 1)
		span("post", "3-000000000000004", "3-000000000000009", 0)
		span("post", "2", "4", 11_428)              // residues 2 and 3: two sevenths, across pieces
		span("post", "6-000000000039000", "7", 143) // the last ids of residue 6
		span("post", "", "0-000000000000000", 1)
		span("page", "0", "9", 1)
		if _, kept, err := s.SeenBetween(ctx, id, run.ID, "category", "0", "9"); err != nil || kept {
			t.Fatalf("a model never kept: %v %v, want not kept", kept, err)
		}
		if err := s.DeleteSyncData(ctx, id); err != nil {
			t.Fatal(err)
		}
		if kl, ok := s.(KeyLister); ok {
			if keys, err := kl.KeysOf(ctx, id); err != nil || len(keys) != 0 {
				t.Fatalf("left after delete: %v %v", fmtKeys(keys), err)
			}
		}
	})
}
