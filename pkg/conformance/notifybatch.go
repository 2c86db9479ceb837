package conformance

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/integration"
)

// testNotifyBatch: a fan-out's deliveries stored at once, and slots
// taken by many attempts at once.
func testNotifyBatch(t *testing.T, newStore func(t *testing.T) NotifyStores) {
	ctx := context.Background()
	t0 := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

	t.Run("a fan-out's deliveries are stored at once, more than a request holds", func(t *testing.T) {
		s, acct, ep := newStore(t), uniq("acct"), integration.NewID()
		base := integration.NewID()
		var ds []*integration.NotifyDelivery
		for i := range 30 {
			ds = append(ds, &integration.NotifyDelivery{ID: fmt.Sprintf("%s_%02d", base, i), AccountID: acct, EndpointID: ep, EventID: fmt.Sprintf("evt_%d", i),
				EventType: "record.created", Event: `{"id":"evt"}`, Status: integration.NotifyPending, CreatedAt: t0, UpdatedAt: t0, NextAttemptAt: t0})
		}
		if err := s.PutNotifyDeliveries(ctx, nil); err != nil {
			t.Fatalf("none: %v", err)
		}
		if err := s.PutNotifyDeliveries(ctx, ds); err != nil {
			t.Fatal(err)
		}
		page, next, err := s.ListNotifyDeliveries(ctx, integration.NotifyDeliveryQuery{AccountID: acct, EndpointID: ep, Limit: 100})
		if err != nil || len(page) != 30 || next != "" || page[0].ID != ds[29].ID {
			t.Fatalf("listed %d (next %q): %v", len(page), next, err)
		}
		got, err := s.GetNotifyDelivery(ctx, acct, ep, ds[7].ID)
		if err != nil || got.EventID != "evt_7" || got.Status != integration.NotifyPending || got.Event != `{"id":"evt"}` || !got.NextAttemptAt.Equal(t0) {
			t.Fatalf("get: %+v %v", got, err)
		}
	})

	t.Run("attempts racing for an endpoint's slots get no more than there are", func(t *testing.T) {
		s, ep := newStore(t), integration.NewID()
		until := t0.Add(time.Minute)
		var granted atomic.Int32
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ok, _, err := s.TakeEndpointSlot(ctx, ep, fmt.Sprint("h", i), 2, t0, until)
				if err != nil {
					t.Error(err)
				}
				if ok {
					granted.Add(1)
				}
			}()
		}
		wg.Wait()
		if n := granted.Load(); n != 2 {
			t.Fatalf("%d slots granted, want 2", n)
		}
		// Another endpoint's slots are its own.
		if ok, _, err := s.TakeEndpointSlot(ctx, integration.NewID(), "h0", 2, t0, until); err != nil || !ok {
			t.Fatalf("another endpoint: %v %v", ok, err)
		}
	})
}
