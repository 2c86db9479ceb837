package embedded

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/conformance"
	"github.com/joinery/joinery/pkg/integration"
	bolt "go.etcd.io/bbolt"
)

func TestWebhookStoreConformance(t *testing.T) {
	s, err := OpenStore(filepath.Join(t.TempDir(), "joinery.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	conformance.TestWebhookStore(t, func(*testing.T) integration.WebhookStore { return s })
}

// TestWebhookCountsGoWithTheIntegrationsSyncData: a deleted integration's
// counts are purged with its sync data.
func TestWebhookCountsGoWithTheIntegrationsSyncData(t *testing.T) {
	s := openTestStore(t, filepath.Join(t.TempDir(), "j.db"))
	ctx := context.Background()
	now := time.Now()
	for _, id := range []string{"int-gone", "int-kept"} {
		if err := s.CountWebhook(ctx, "acct", id, false, now); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteSyncData(ctx, "int-gone"); err != nil {
		t.Fatal(err)
	}
	if st, err := s.WebhookStats(ctx, "acct", "int-gone", now.Add(-24*time.Hour)); err != nil || st.Received24h != 0 || st.LastReceivedAt != nil {
		t.Fatalf("after purge: %+v %v", st, err)
	}
	if st, _ := s.WebhookStats(ctx, "acct", "int-kept", now.Add(-24*time.Hour)); st.Received24h != 1 {
		t.Fatalf("another integration's counts went too: %+v", st)
	}
}

// TestExpiredDeliveryMarkersAreSwept: markers past their expiry go as
// later deliveries are claimed, a few a claim, and live ones stay.
func TestExpiredDeliveryMarkersAreSwept(t *testing.T) {
	s := openTestStore(t, filepath.Join(t.TempDir(), "j.db"))
	ctx := context.Background()
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	claim := func(key string, at, expires time.Time) {
		t.Helper()
		if _, ok, err := s.ClaimDelivery(ctx, integration.DeliveryMarker{Key: key, State: integration.DeliveryPending, At: at, Expires: expires}, time.Minute); err != nil || !ok {
			t.Fatalf("claim %s: %v %v", key, ok, err)
		}
	}
	claim("slack#old-1", t0, t0.Add(time.Hour))
	claim("slack#old-2", t0, t0.Add(time.Hour))
	claim("slack#live", t0, t0.Add(7*24*time.Hour))
	claim("slack#new", t0.Add(2*time.Hour), t0.Add(2*time.Hour+7*24*time.Hour))
	var left []string
	_ = s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketDeliveries).ForEach(func(k, _ []byte) error { left = append(left, string(k)); return nil })
	})
	if fmt.Sprint(left) != "[slack#live slack#new]" {
		t.Fatalf("markers left: %v, want the expired ones swept", left)
	}
	var idx int
	_ = s.db.View(func(tx *bolt.Tx) error { idx = tx.Bucket(bucketDeliveriesExp).Stats().KeyN; return nil })
	if idx != 2 {
		t.Fatalf("%d expiry entries, want 2", idx)
	}
}
