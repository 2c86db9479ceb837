package embedded

import (
	"context"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/integration"
)

// BenchmarkWebhookDedupe is the store's part of one inbound delivery:
// claim the marker, mark it queued, count it, from many requests at once
// (bbolt batches their commits).
func BenchmarkWebhookDedupe(b *testing.B) {
	s, err := OpenStore(filepath.Join(b.TempDir(), "joinery.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	ctx := context.Background()
	var n atomic.Int64
	b.SetParallelism(64)
	start := time.Now()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			now := time.Now()
			key := "wordpress#msg_" + strconv.FormatInt(n.Add(1), 10)
			if _, ok, err := s.ClaimDelivery(ctx, integration.DeliveryMarker{Key: key, State: integration.DeliveryPending, At: now, Expires: now.Add(7 * 24 * time.Hour)}, 30*time.Second); err != nil || !ok {
				b.Fatal(ok, err)
			}
			if err := s.MarkDeliveryQueued(ctx, key, now); err != nil {
				b.Fatal(err)
			}
			if err := s.CountWebhook(ctx, "acct", "int", false, now); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "deliveries/s")
}
