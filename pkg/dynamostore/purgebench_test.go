package dynamostore

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/joinery/joinery/pkg/awstest"
	"github.com/joinery/joinery/pkg/integration"
	"github.com/joinery/joinery/pkg/syncer"
)

// benchQueue keeps the messages sent, for the benchmark to deliver.
type benchQueue struct{ msgs []string }

func (q *benchQueue) Send(_ context.Context, msgs []integration.Message) error {
	for _, m := range msgs {
		q.msgs = append(q.msgs, m.Body)
	}
	return nil
}

// BenchmarkPurge100kMoto deletes an integration with 100,000 stored
// records (each with its outbox entry) through the sync engine's purge
// jobs on DynamoDB (moto), and reports how many jobs that took and how
// long. The records are written straight into the table, as the store
// lays them out, and not timed: through PutRecords, moto needs most of
// an hour for them.
func BenchmarkPurge100kMoto(b *testing.B) {
	records := 100_000
	// A smaller count for a quick check of the benchmark itself.
	if n, err := strconv.Atoi(os.Getenv("JOINERY_BENCH_RECORDS")); err == nil && n > 0 {
		records = n
	}
	db := dynamodb.NewFromConfig(awstest.Config(awstest.Moto(b)))
	table := fmt.Sprintf("joinery-bench-%d", time.Now().UnixNano())
	if err := CreateTable(awstest.Context(b), db, table); err != nil {
		b.Fatal(err)
	}
	s := New(db, table)
	q := &benchQueue{}
	engine := &syncer.Engine{Store: s, Queue: q}
	ctx := context.Background()
	jobs := 0
	var elapsed time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		it := &integration.Integration{ID: integration.NewID(), AccountID: "acct-bench"}
		seedRecords(b, s, it.ID, records)
		b.StartTimer()
		start := time.Now()
		if err := engine.QueuePurge(ctx, it); err != nil {
			b.Fatal(err)
		}
		for len(q.msgs) > 0 {
			body := q.msgs[0]
			q.msgs = q.msgs[1:]
			var job syncer.Job
			if err := json.Unmarshal([]byte(body), &job); err != nil {
				b.Fatal(err)
			}
			if err := engine.Handle(ctx, job, 1); err != nil {
				b.Fatalf("purge job %d: %v", jobs+1, err)
			}
			jobs++
		}
		elapsed += time.Since(start)
		b.StopTimer()
		for _, p := range []string{recPK(it.ID), outboxPK(it.ID)} {
			in := partition(p)
			in.TableName = &s.table
			out, err := s.db.Query(ctx, in)
			if err != nil || len(out.Items) != 0 {
				b.Fatalf("%s after the purge: %d items, %v", p, len(out.Items), err)
			}
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(jobs)/float64(b.N), "jobs/purge")
	b.ReportMetric(elapsed.Seconds()/float64(b.N), "s/purge")
}

// seedRecords writes n post records of the integration and their outbox
// entries with batch writes, 8 writers at once.
func seedRecords(b *testing.B, s *Store, integrationID string, n int) {
	b.Helper()
	const writers, batch = 8, 1000
	now := time.Now().UTC()
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for from := w * batch; from < n; from += writers * batch {
				reqs := make([]types.WriteRequest, 0, 2*batch)
				for i := from; i < min(from+batch, n); i++ {
					id := fmt.Sprint(i)
					rw := &recWrite{rec: integration.StoredRecord{IntegrationID: integrationID, Model: "post", ExternalID: id, Hash: id,
						Data: []byte(`{"external_id":"` + id + `","title":"Post ` + id + `"}`), ChangedAt: now, ModifiedAt: now}, sk: recSK("post", id)}
					if err := rw.encode(); err != nil {
						errs <- err
						return
					}
					ob := pk(outboxPK(integrationID), rw.sk+"#"+feedTime(now))
					ob["type"], ob["model"], ob["external_id"], ob["changed_at"] = str(integration.ChangeCreated), str("post"), str(id), str(feedTime(now))
					reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: rw.item(integrationID)}},
						types.WriteRequest{PutRequest: &types.PutRequest{Item: ob}})
				}
				if err := s.batchWrite(context.Background(), reqs); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatalf("seed: %v", err)
	}
}
