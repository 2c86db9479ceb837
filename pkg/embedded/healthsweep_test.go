package embedded

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/integration"
	bolt "go.etcd.io/bbolt"
)

// TestCountingSweepsExpiredHealthKeys: a count removes count keys and
// hourly buckets past their retention, more than it adds, so an
// integration's stay bounded; the current ones stay.
func TestCountingSweepsExpiredHealthKeys(t *testing.T) {
	s := openTestStore(t, filepath.Join(t.TempDir(), "j.db"))
	ctx := context.Background()
	now := time.Now().UTC()
	failed := func(key string, at time.Time) integration.SyncEvent {
		return integration.SyncEvent{ID: integration.NewID(), IntegrationID: "i1", Type: "item_failed", Status: "error", At: at, CountKey: key}
	}
	old := now.Add(-integration.HealthRetention - 2*time.Hour)
	// Counted when they were current.
	if err := s.db.Update(func(tx *bolt.Tx) error {
		return countEvents(tx, []integration.SyncEvent{failed("old-1", old), failed("old-2", old.Add(time.Hour)), failed("old-3", old.Add(time.Hour))}, old)
	}); err != nil {
		t.Fatal(err)
	}
	health := func() (n int, keys []string) {
		all, err := s.KeysOf(ctx, "i1")
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range all {
			if strings.HasPrefix(k, "health") {
				n++
				keys = append(keys, k)
			}
		}
		return n, keys
	}
	if n, keys := health(); n != 8 { // 3 keys, twice, and 2 hours
		t.Fatalf("setup: %d health keys, want 8: %v", n, keys)
	}
	for i := range 2 {
		if err := s.AddEvents(ctx, []integration.SyncEvent{failed(fmt.Sprint("new-", i), now)}); err != nil {
			t.Fatal(err)
		}
	}
	n, keys := health()
	if n != 5 || strings.Contains(fmt.Sprint(keys), "old-") { // 2 keys, twice, and this hour
		t.Fatalf("after two counts: %d health keys, want 5 and none old: %v", n, keys)
	}
	if h, err := s.HealthCounts(ctx, "i1", now.Add(-23*time.Hour)); err != nil || h.FailedItems != 2 {
		t.Fatalf("counts: %+v %v", h, err)
	}
}
