package conformance

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/integration"
)

// TestWebhookStore runs the WebhookStore conformance suite: routes,
// delivery markers and counts. Marker and count times are the caller's;
// route expiry is against the real clock.
func TestWebhookStore(t *testing.T, newStore func(t *testing.T) integration.WebhookStore) {
	ctx := context.Background()
	t0 := time.Date(2026, 5, 1, 12, 30, 0, 0, time.UTC)

	t.Run("routes are found by platform and key, bounded, replaced and deleted per integration", func(t *testing.T) {
		s, acct, key := newStore(t), uniq("acct"), uniq("shop")
		a := integration.WebhookRoute{Platform: "shopify", Key: key, AccountID: acct, IntegrationID: uniq("int-a"), TokenHash: "th", CallbackURL: "https://cb.example/x?y=1"}
		b := integration.WebhookRoute{Platform: "shopify", Key: key, AccountID: acct, IntegrationID: uniq("int-b")}
		for _, r := range []integration.WebhookRoute{a, b} {
			if err := s.PutWebhookRoute(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		// The same platform, key and integration replaces.
		a.TokenHash = "th2"
		if err := s.PutWebhookRoute(ctx, a); err != nil {
			t.Fatal(err)
		}
		got, err := s.WebhookRoutes(ctx, "shopify", key, 10)
		if err != nil {
			t.Fatal(err)
		}
		sort.Slice(got, func(i, j int) bool { return got[i].IntegrationID < got[j].IntegrationID })
		if len(got) != 2 || fmt.Sprint(got[0]) != fmt.Sprint(a) || fmt.Sprint(got[1]) != fmt.Sprint(b) {
			t.Fatalf("routes = %+v\nwant %+v and %+v", got, a, b)
		}
		if got, _ := s.WebhookRoutes(ctx, "shopify", key, 1); len(got) != 1 {
			t.Fatalf("limit 1 gave %d routes", len(got))
		}
		for _, other := range [][2]string{{"slack", key}, {"shopify", key + "x"}, {"shopify", key[:len(key)-1]}} {
			if got, err := s.WebhookRoutes(ctx, other[0], other[1], 10); err != nil || len(got) != 0 {
				t.Fatalf("%v: %+v %v, want none", other, got, err)
			}
		}
		// A second route of a: both go with it; b stays.
		a2 := integration.WebhookRoute{Platform: "jira", Key: uniq("hook"), AccountID: acct, IntegrationID: a.IntegrationID}
		if err := s.PutWebhookRoute(ctx, a2); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteWebhookRoutes(ctx, "other-account", a.IntegrationID); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.WebhookRoutes(ctx, "jira", a2.Key, 10); len(got) != 1 {
			t.Fatalf("another account's delete removed a route: %+v", got)
		}
		if err := s.DeleteWebhookRoutes(ctx, acct, a.IntegrationID); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.WebhookRoutes(ctx, "jira", a2.Key, 10); len(got) != 0 {
			t.Fatalf("deleted route still found: %+v", got)
		}
		if got, _ := s.WebhookRoutes(ctx, "shopify", key, 10); len(got) != 1 || got[0].IntegrationID != b.IntegrationID {
			t.Fatalf("after delete: %+v, want only b", got)
		}
		if err := s.DeleteWebhookRoutes(ctx, acct, a.IntegrationID); err != nil {
			t.Fatalf("deleting none: %v", err)
		}
	})

	t.Run("a route past its expiry is not found", func(t *testing.T) {
		s, acct, key := newStore(t), uniq("acct"), uniq("chan")
		live := integration.WebhookRoute{Platform: "google_calendar", Key: key, AccountID: acct, IntegrationID: uniq("int"), TokenHash: "x",
			Expires: time.Now().Add(time.Hour).UTC().Truncate(time.Millisecond)}
		gone := integration.WebhookRoute{Platform: "google_calendar", Key: key, AccountID: acct, IntegrationID: uniq("int"), TokenHash: "y",
			Expires: time.Now().Add(-time.Minute).UTC()}
		for _, r := range []integration.WebhookRoute{live, gone} {
			if err := s.PutWebhookRoute(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.WebhookRoutes(ctx, "google_calendar", key, 10)
		if err != nil || len(got) != 1 || got[0].IntegrationID != live.IntegrationID || !got[0].Expires.Equal(live.Expires) {
			t.Fatalf("routes = %+v %v, want only the live one", got, err)
		}
	})

	t.Run("a route needs its fields", func(t *testing.T) {
		s := newStore(t)
		err := s.PutWebhookRoute(ctx, integration.WebhookRoute{Platform: "shopify", AccountID: "a", IntegrationID: "i"})
		wantCode(t, err, integration.EINVALID)
	})

	marker := func(key string, at time.Time) integration.DeliveryMarker {
		return integration.DeliveryMarker{Key: key, State: integration.DeliveryPending, At: at, Expires: at.Add(7 * 24 * time.Hour)}
	}

	t.Run("a delivery is claimed once; queued stays; a stale pending one is taken over", func(t *testing.T) {
		s, key := newStore(t), "shopify#"+uniq("ev")
		if m, ok, err := s.ClaimDelivery(ctx, marker(key, t0), 30*time.Second); err != nil || !ok || m != nil {
			t.Fatalf("first claim: %+v %v %v", m, ok, err)
		}
		// A redelivery while the first is being queued.
		m, ok, err := s.ClaimDelivery(ctx, marker(key, t0.Add(10*time.Second)), 30*time.Second)
		if err != nil || ok || m == nil || m.State != integration.DeliveryPending || !m.At.Equal(t0) || m.Key != key {
			t.Fatalf("claim of a fresh pending marker: %+v %v %v, want it returned, not claimed", m, ok, err)
		}
		// Its enqueue was lost: after staleAfter it is taken over.
		if m, ok, err := s.ClaimDelivery(ctx, marker(key, t0.Add(31*time.Second)), 30*time.Second); err != nil || !ok || m != nil {
			t.Fatalf("claim of a stale pending marker: %+v %v %v, want it taken", m, ok, err)
		}
		if err := s.MarkDeliveryQueued(ctx, key, t0.Add(32*time.Second)); err != nil {
			t.Fatal(err)
		}
		// Queued: never claimed again, however late, until it expires.
		m, ok, err = s.ClaimDelivery(ctx, marker(key, t0.Add(24*time.Hour)), 30*time.Second)
		if err != nil || ok || m == nil || m.State != integration.DeliveryQueued || !m.At.Equal(t0.Add(32*time.Second)) ||
			!m.Expires.Equal(t0.Add(31*time.Second+7*24*time.Hour)) {
			t.Fatalf("claim of a queued marker: %+v %v %v", m, ok, err)
		}
		if _, ok, err := s.ClaimDelivery(ctx, marker(key, t0.Add(8*24*time.Hour)), 30*time.Second); err != nil || !ok {
			t.Fatalf("claim after the marker expired: %v %v, want claimed", ok, err)
		}
	})

	t.Run("marking a missing marker queued is not found", func(t *testing.T) {
		s := newStore(t)
		wantCode(t, s.MarkDeliveryQueued(ctx, "slack#"+uniq("none"), t0), integration.ENOTFOUND)
		_, _, err := s.ClaimDelivery(ctx, integration.DeliveryMarker{At: t0, Expires: t0.Add(time.Hour)}, time.Second)
		wantCode(t, err, integration.EINVALID)
	})

	t.Run("concurrent claims of one delivery: exactly one wins", func(t *testing.T) {
		s, key := newStore(t), "wordpress#"+uniq("msg")
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins := 0
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, ok, err := s.ClaimDelivery(ctx, marker(key, t0), 30*time.Second)
				if err != nil {
					t.Error(err)
				}
				if ok {
					mu.Lock()
					wins++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if wins != 1 {
			t.Fatalf("%d claims won, want 1", wins)
		}
	})

	t.Run("counts sum the hours from since on; last received never goes back", func(t *testing.T) {
		s, acct, id, other := newStore(t), uniq("acct"), uniq("int"), uniq("int")
		if st, err := s.WebhookStats(ctx, acct, id, t0.Add(-24*time.Hour)); err != nil || st.LastReceivedAt != nil || st.Received24h != 0 || st.Rejected24h != 0 {
			t.Fatalf("empty stats: %+v %v", st, err)
		}
		counts := []struct {
			at       time.Time
			rejected bool
		}{
			{t0.Add(-30 * time.Hour), false}, // before since: not summed
			{t0.Add(-23 * time.Hour), false},
			{t0, false},
			{t0.Add(time.Minute), true},
			{t0.Add(2 * time.Minute), true},
			{t0.Add(-time.Hour), false}, // late: last received stays at t0
			{t0.Add(3 * time.Minute), true},
		}
		for _, c := range counts {
			if err := s.CountWebhook(ctx, acct, id, c.rejected, c.at); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.CountWebhook(ctx, acct, other, false, t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		st, err := s.WebhookStats(ctx, acct, id, t0.Add(-24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if st.Received24h != 3 || st.Rejected24h != 3 || st.LastReceivedAt == nil || !st.LastReceivedAt.Equal(t0) {
			t.Fatalf("stats = %+v (last %v), want 3 received, 3 rejected, last %v", st, st.LastReceivedAt, t0)
		}
	})
}
