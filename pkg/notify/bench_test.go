package notify

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/integration"
)

// BenchmarkNotify measures, in-process on the embedded store, how fast
// record writes' events are fanned out (emitted/s: pending change to a
// queued delivery) and delivered (delivered/s: a signed POST to a local
// receiver that answers 200, the log updated), with one endpoint
// subscribed to record.*. JOINERY_BENCH_EVENTS sets the count (2,000).
func BenchmarkNotify(b *testing.B) {
	n := 2000
	if v, err := strconv.Atoi(os.Getenv("JOINERY_BENCH_EVENTS")); err == nil && v > 0 {
		n = v
	}
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }))
	defer recv.Close()
	for range b.N {
		b.StopTimer()
		f := newFixture(b, "0s")
		f.clock.t = time.Now().UTC()
		f.dlv.Now, f.disp.Now, f.eps.Now = nil, nil, nil
		if _, _, err := f.eps.Create(context.Background(), f.admin, EndpointInput{URL: ptr(recv.URL), EventTypes: &[]string{"record.*"}}); err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		recs := make([]integration.StoredRecord, 0, 100)
		for i := range n {
			recs = append(recs, integration.StoredRecord{IntegrationID: f.integ.ID, Model: "post", ExternalID: fmt.Sprint(i), Hash: "h", Data: []byte(`{}`), ChangedAt: time.Now()})
			if len(recs) == cap(recs) || i == n-1 {
				if _, err := f.store.PutRecords(ctx, integration.WriteScope{}, recs); err != nil {
					b.Fatal(err)
				}
				recs = recs[:0]
			}
		}
		// Records written by a push: the account is known from it.
		if err := f.store.CreatePush(ctx, &integration.Push{ID: integration.NewID(), AccountID: "acct", IntegrationID: f.integ.ID, Model: "post", LocalID: "l", Status: integration.PushQueued, CreatedAt: time.Now()}); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		if got, err := f.disp.Drain(ctx); err != nil || got != n {
			b.Fatalf("fanned out %d of %d: %v", got, n, err)
		}
		emitted := time.Since(start)
		start = time.Now()
		var wg sync.WaitGroup
		msgs := make(chan string)
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for body := range msgs {
					if err := f.dlv.Handle(ctx, body); err != nil {
						b.Error(err)
					}
				}
			}()
		}
		for {
			m, ok := f.queue.next()
			if !ok {
				break
			}
			msgs <- m.Body
		}
		close(msgs)
		wg.Wait()
		delivered := time.Since(start)
		b.ReportMetric(float64(n)/emitted.Seconds(), "emitted/s")
		b.ReportMetric(float64(n)/delivered.Seconds(), "delivered/s")
	}
}

func ptr[T any](v T) *T { return &v }
