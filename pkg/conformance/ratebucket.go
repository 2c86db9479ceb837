package conformance

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/integration"
)

// TestRateBucket runs the RateBucket conformance suite. Time is the
// caller's: the suite passes its own clock, and never sleeps.
func TestRateBucket(t *testing.T, newBucket func(t *testing.T) integration.RateBucket) {
	ctx := context.Background()
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

	t.Run("a full bucket grants at once, then reserves ahead up to a bucket", func(t *testing.T) {
		b, key := newBucket(t), uniq("rate")
		got, wait, err := b.TakeTokens(ctx, key, 4, 2, 5, t0)
		if err != nil || got != 4 || wait != 0 {
			t.Fatalf("first take: %d %v %v, want 4 at once", got, wait, err)
		}
		// One left: the batch is reserved, to be used when refilled.
		got, wait, err = b.TakeTokens(ctx, key, 4, 2, 5, t0)
		if err != nil || got != 4 || wait != 1500*time.Millisecond {
			t.Fatalf("second take: %d %v %v, want 4 after 1.5s", got, wait, err)
		}
		// 3 reserved: 4 more would pass a full bucket (5) ahead.
		got, wait, err = b.TakeTokens(ctx, key, 4, 2, 5, t0)
		if err != nil || got != 0 || wait != time.Second {
			t.Fatalf("third take: %d %v %v, want none, and to come back after 1s", got, wait, err)
		}
		// 1.5 s at 2/s repaid the 3: the next batch waits its own refill.
		got, wait, err = b.TakeTokens(ctx, key, 4, 2, 5, t0.Add(1500*time.Millisecond))
		if err != nil || got != 4 || wait != 2*time.Second {
			t.Fatalf("after 1.5s: %d %v %v, want 4 after 2s", got, wait, err)
		}
		// An hour idle refills to burst, not beyond; a batch is at most burst.
		got, wait, err = b.TakeTokens(ctx, key, 100, 2, 5, t0.Add(time.Hour))
		if err != nil || got != 5 || wait != 0 {
			t.Fatalf("after an hour: %d %v %v, want burst 5 at once", got, wait, err)
		}
	})

	t.Run("buckets are per key", func(t *testing.T) {
		b, k1, k2 := newBucket(t), uniq("rate"), uniq("rate")
		if got, _, _ := b.TakeTokens(ctx, k1, 3, 1, 3, t0); got != 3 {
			t.Fatalf("k1: %d", got)
		}
		if got, _, _ := b.TakeTokens(ctx, k2, 3, 1, 3, t0); got != 3 {
			t.Fatalf("k2 took from k1's bucket: %d", got)
		}
	})

	t.Run("a clock behind the stored one refills nothing", func(t *testing.T) {
		b, key := newBucket(t), uniq("rate")
		if got, _, _ := b.TakeTokens(ctx, key, 2, 1, 2, t0.Add(10*time.Second)); got != 2 {
			t.Fatalf("first: %d", got)
		}
		if got, wait, _ := b.TakeTokens(ctx, key, 2, 1, 2, t0); got != 2 || wait != 12*time.Second {
			t.Fatalf("from a clock 10s behind: %d %v, want 2 after 12s (2s of refill, on the clock ahead)", got, wait)
		}
	})

	t.Run("a hold grants nothing until it ends, and only lengthens", func(t *testing.T) {
		b, key := newBucket(t), uniq("rate")
		if err := b.HoldTokens(ctx, key, t0.Add(30*time.Second)); err != nil {
			t.Fatal(err)
		}
		if err := b.HoldTokens(ctx, key, t0.Add(10*time.Second)); err != nil {
			t.Fatal(err)
		}
		got, wait, err := b.TakeTokens(ctx, key, 1, 10, 10, t0.Add(5*time.Second))
		if err != nil || got != 0 || wait != 25*time.Second {
			t.Fatalf("during the hold: %d %v %v, want 0 and 25s", got, wait, err)
		}
		if got, _, err := b.TakeTokens(ctx, key, 3, 10, 10, t0.Add(30*time.Second)); err != nil || got != 3 {
			t.Fatalf("when the hold ends: %d %v, want 3", got, err)
		}
	})

	t.Run("concurrent takers never share a token", func(t *testing.T) {
		b, key := newBucket(t), uniq("rate")
		var (
			mu            sync.Mutex
			now, reserved int
			wg            sync.WaitGroup
		)
		// The same instant, no refill: 10 tokens at once and 10 ahead.
		for range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 5 {
					got, wait, err := b.TakeTokens(ctx, key, 2, 1, 10, t0)
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					if wait == 0 {
						now += got
					} else {
						reserved += got
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if now != 10 || reserved != 10 {
			t.Fatalf("granted %d at once and %d ahead, want the burst of 10 and 10", now, reserved)
		}
	})
}
