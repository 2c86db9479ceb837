package conformance

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/integration"
)

// testDuePages: the scheduler pages through every shard of the due index
// and finds each due integration once, earliest first within a shard.
func testDuePages(t *testing.T, newStore func(t *testing.T) integration.Store) {
	t.Run("due index pages through every shard", func(t *testing.T) {
		ctx := context.Background()
		s := newStore(t)
		a, b := uniq("acct"), uniq("acct")
		base := time.Date(2001, 3, 4, 5, 6, 7, 0, time.UTC)
		want := map[string]bool{}
		for i := range 9 {
			acct := []string{a, b}[i%2]
			in := newIntegration(acct, fmt.Sprintf("page-%d", i), "wordpress", int(seq.Add(1)))
			at := base.Add(time.Duration(i*7%9) * time.Minute)
			if i == 8 {
				at = base.Add(time.Hour) // not due yet
			} else {
				want[in.ID] = true
			}
			in.NextSyncAt = &at
			if err := s.CreateIntegration(ctx, in); err != nil {
				t.Fatal(err)
			}
		}
		got := map[string]int{}
		for _, shard := range s.DueShards() {
			cursor, last := "", time.Time{}
			for pages := 0; ; pages++ {
				if pages > 100 {
					t.Fatalf("shard %s never ends", shard)
				}
				items, next, err := s.DuePage(ctx, shard, base.Add(30*time.Minute), 2, cursor)
				if err != nil {
					t.Fatal(err)
				}
				if len(items) > 2 {
					t.Fatalf("a page of %d, limit 2", len(items))
				}
				for _, it := range items {
					if it.NextSyncAt.After(base.Add(30 * time.Minute)) {
						t.Fatalf("%s is not due: %v", it.ID, it.NextSyncAt)
					}
					if it.NextSyncAt.Before(last) {
						t.Fatalf("shard %s: %v after %v, want earliest first", shard, it.NextSyncAt, last)
					}
					last = *it.NextSyncAt
					if it.AccountID == a || it.AccountID == b {
						got[it.ID]++
					}
				}
				if next == "" {
					break
				}
				cursor = next
			}
		}
		if len(got) != len(want) {
			t.Fatalf("found %d of the %d due integrations: %v", len(got), len(want), got)
		}
		for id, n := range got {
			if !want[id] || n != 1 {
				t.Fatalf("%s found %d times (due: %v)", id, n, want[id])
			}
		}
		shard := s.DueShards()[0]
		if _, _, err := s.DuePage(ctx, shard, base, 2, "not-a-cursor"); integration.ErrorCode(err) != integration.EINVALID {
			t.Fatalf("a bad cursor: %v, want invalid", err)
		}
		if _, _, err := s.DuePage(ctx, "no such shard", base, 2, ""); integration.ErrorCode(err) != integration.EINVALID {
			t.Fatalf("a bad shard: %v, want invalid", err)
		}
	})
}
