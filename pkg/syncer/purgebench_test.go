package syncer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/embedded"
	"github.com/joinery/joinery/pkg/integration"
	"github.com/joinery/joinery/pkg/syncer"
)

// BenchmarkPurge100k deletes an integration with 100,000 stored records
// and reports how many purge jobs that took and how long, on the embedded
// store. Filling the store is not timed. DynamoDB (moto):
// BenchmarkPurge100kMoto in pkg/dynamostore, which fills the table
// faster than PutRecords on moto can.
func BenchmarkPurge100k(b *testing.B) {
	const records = 100_000
	for _, backend := range []string{"embedded"} {
		b.Run(backend, func(b *testing.B) {
			store := benchStore(b)
			q := &memQueue{}
			engine := &syncer.Engine{Store: store, Queue: q}
			jobs := 0
			var elapsed time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				it := &integration.Integration{ID: integration.NewID(), AccountID: "acct-bench"}
				fillRecords(b, store, it.ID, records)
				b.StartTimer()
				start := time.Now()
				if err := engine.QueuePurge(context.Background(), it); err != nil {
					b.Fatal(err)
				}
				for {
					d, ok := q.pop()
					if !ok {
						break
					}
					var job syncer.Job
					if err := json.Unmarshal([]byte(d.body), &job); err != nil {
						b.Fatal(err)
					}
					if err := engine.Handle(context.Background(), job, d.attempt); err != nil {
						b.Fatalf("purge job %d: %v", jobs+1, err)
					}
					jobs++
				}
				elapsed += time.Since(start)
				b.StopTimer()
				if recs, _, err := store.ListRecords(context.Background(), integration.RecordQuery{IntegrationID: it.ID, Model: "post", Limit: 1}); err != nil || len(recs) != 0 {
					b.Fatalf("records left after the purge: %d %v", len(recs), err)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(jobs)/float64(b.N), "jobs/purge")
			b.ReportMetric(elapsed.Seconds()/float64(b.N), "s/purge")
		})
	}
}

func benchStore(b *testing.B) integration.SyncStore {
	b.Helper()
	s, err := embedded.OpenStore(filepath.Join(b.TempDir(), "joinery.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s
}

// fillRecords stores n post records of the integration, 8 writers at once.
func fillRecords(b *testing.B, store integration.SyncStore, integrationID string, n int) {
	b.Helper()
	const writers, batch = 8, 500
	now := time.Now().UTC()
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for from := w * batch; from < n; from += writers * batch {
				recs := make([]integration.StoredRecord, 0, batch)
				for i := from; i < min(from+batch, n); i++ {
					id := fmt.Sprint(i)
					recs = append(recs, integration.StoredRecord{IntegrationID: integrationID, Model: "post", ExternalID: id, Hash: id,
						Data: []byte(`{"external_id":"` + id + `","title":"Post ` + id + `"}`), ChangedAt: now, ModifiedAt: now})
				}
				if _, err := store.PutRecords(context.Background(), integration.WriteScope{}, recs); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatalf("fill: %v", err)
	}
}
