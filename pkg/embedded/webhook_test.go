package embedded

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/conformance"
	"github.com/joinery/joinery/pkg/integration"
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
