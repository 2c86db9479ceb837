package conformance

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/integration"
)

// TestTokenLeases runs the TokenLeases conformance suite. Time is the
// caller's: the suite passes its own clock, and never sleeps.
func TestTokenLeases(t *testing.T, newLeases func(t *testing.T) integration.TokenLeases) {
	ctx := context.Background()
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	until := t0.Add(30 * time.Second)

	t.Run("a free lease is taken; a held one is not, until it expires", func(t *testing.T) {
		l, id := newLeases(t), uniq("int")
		cur, ok, err := l.AcquireTokenLease(ctx, id, "a", t0, until)
		if err != nil || !ok || cur != nil {
			t.Fatalf("first acquire: %+v %v %v, want it taken with none before", cur, ok, err)
		}
		cur, ok, err = l.AcquireTokenLease(ctx, id, "b", t0.Add(29*time.Second), t0.Add(59*time.Second))
		if err != nil || ok || cur == nil || cur.Holder != "a" || !cur.Until.Equal(until) {
			t.Fatalf("acquire of a held lease: %+v %v %v, want refused, held by a until %v", cur, ok, err, until)
		}
		// At until exactly the lease has run out.
		cur, ok, err = l.AcquireTokenLease(ctx, id, "b", until, until.Add(30*time.Second))
		if err != nil || !ok || cur == nil || cur.Holder != "a" {
			t.Fatalf("acquire of an expired lease: %+v %v %v, want taken over from a", cur, ok, err)
		}
		// a's late release frees nothing of b's.
		if err := l.ReleaseTokenLease(ctx, id, "a"); err != nil {
			t.Fatal(err)
		}
		if _, ok, _ := l.AcquireTokenLease(ctx, id, "c", until.Add(time.Second), until.Add(time.Minute)); ok {
			t.Fatal("a's release freed b's lease")
		}
	})

	t.Run("a released lease is free, with no holder left behind", func(t *testing.T) {
		l, id := newLeases(t), uniq("int")
		if _, ok, err := l.AcquireTokenLease(ctx, id, "a", t0, until); err != nil || !ok {
			t.Fatalf("acquire: %v %v", ok, err)
		}
		if err := l.ReleaseTokenLease(ctx, id, "a"); err != nil {
			t.Fatal(err)
		}
		cur, ok, err := l.AcquireTokenLease(ctx, id, "b", t0.Add(time.Second), until)
		if err != nil || !ok || cur != nil {
			t.Fatalf("acquire after release: %+v %v %v, want taken with none before", cur, ok, err)
		}
		// Releasing twice, or a lease never taken, is no error.
		if err := l.ReleaseTokenLease(ctx, id, "a"); err != nil {
			t.Fatal(err)
		}
		if err := l.ReleaseTokenLease(ctx, uniq("int"), "a"); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("the holder may take its own lease again, and extend it", func(t *testing.T) {
		l, id := newLeases(t), uniq("int")
		if _, ok, _ := l.AcquireTokenLease(ctx, id, "a", t0, until); !ok {
			t.Fatal("first acquire refused")
		}
		cur, ok, err := l.AcquireTokenLease(ctx, id, "a", t0.Add(time.Second), until.Add(time.Minute))
		if err != nil || !ok || cur != nil {
			t.Fatalf("re-acquire: %+v %v %v", cur, ok, err)
		}
		if cur, ok, _ := l.AcquireTokenLease(ctx, id, "b", until.Add(time.Second), until.Add(time.Minute)); ok || cur.Holder != "a" {
			t.Fatalf("the extension did not hold: %+v %v", cur, ok)
		}
	})

	t.Run("leases are per integration", func(t *testing.T) {
		l, id1, id2 := newLeases(t), uniq("int"), uniq("int")
		if _, ok, _ := l.AcquireTokenLease(ctx, id1, "a", t0, until); !ok {
			t.Fatal("id1 refused")
		}
		if _, ok, _ := l.AcquireTokenLease(ctx, id2, "b", t0, until); !ok {
			t.Fatal("id2 refused: leases are not per integration")
		}
	})

	t.Run("of many concurrent takers exactly one wins", func(t *testing.T) {
		l, id := newLeases(t), uniq("int")
		var mu sync.Mutex
		var winners []string
		var wg sync.WaitGroup
		for i := range 12 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				h := fmt.Sprintf("h%d", i)
				_, ok, err := l.AcquireTokenLease(ctx, id, h, t0, until)
				if err != nil {
					t.Error(err)
					return
				}
				if ok {
					mu.Lock()
					winners = append(winners, h)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if len(winners) != 1 {
			t.Fatalf("winners = %v, want exactly one", winners)
		}
	})
}
