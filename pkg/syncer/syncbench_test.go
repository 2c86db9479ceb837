package syncer_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go/middleware"

	"github.com/joinery/joinery/pkg/awstest"
	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/dynamostore"
	"github.com/joinery/joinery/pkg/embedded"
	"github.com/joinery/joinery/pkg/integration"
	"github.com/joinery/joinery/pkg/sqsworker"
	"github.com/joinery/joinery/pkg/syncer"
)

// benchRecords is the benchmarks' record count: 100,000, or
// JOINERY_BENCH_RECORDS for a quicker (or bigger) measure.
func benchRecords() int {
	if n, err := strconv.Atoi(os.Getenv("JOINERY_BENCH_RECORDS")); err == nil && n > 0 {
		return n
	}
	return 100_000
}

// bigPlatform is a platform of n posts (ids 1..n, all modified at one
// time) that answers pages from memory by offset and limit, as
// WordPress does, so the benchmark measures Joinery and not the
// platform. Pushes are not served.
type bigPlatform struct {
	*fakePlatform
	n        int
	modified time.Time
	body     string
}

func newBigPlatform(n int) *bigPlatform {
	return &bigPlatform{fakePlatform: newPlatform(0), n: n, modified: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		body: "<p>" + strings.Repeat("Joinery keeps a copy of every post. ", 20) + "</p>"}
}

func (p *bigPlatform) record(id int) integration.Record {
	ext := strconv.Itoa(id)
	return integration.Record{ExternalID: ext, Model: "post", Title: "Post " + ext, Slug: "post-" + ext, Status: "publish",
		BodyHTML: p.body, URL: "https://blog.example.com/post-" + ext, CreatedAt: p.modified, ModifiedAt: p.modified}
}

// window is the first id and count listed at a request's page token.
func (p *bigPlatform) window(req connector.ListRequest) (first, count, total int) {
	offset, _ := strconv.Atoi(req.Page)
	limit := req.PageSize
	if limit <= 0 || limit > p.MaxPageSize() {
		limit = p.MaxPageSize()
	}
	total = p.n
	if !req.ModifiedAfter.IsZero() && !p.modified.After(req.ModifiedAfter) {
		total = 0
	}
	offset = min(offset, total)
	return offset + 1, min(limit, total-offset), total
}

func (p *bigPlatform) List(_ context.Context, _ connector.Connection, req connector.ListRequest) (connector.ListPage, error) {
	first, count, total := p.window(req)
	out := connector.ListPage{Total: total, TotalPages: -1, ServerTime: time.Now().UTC(), Records: make([]integration.Record, 0, count)}
	for id := first; id < first+count; id++ {
		out.Records = append(out.Records, p.record(id))
	}
	if end := first - 1 + count; end < total {
		out.NextPage = strconv.Itoa(end)
	}
	return out, nil
}

func (p *bigPlatform) ListIDs(_ context.Context, _ connector.Connection, req connector.ListRequest) ([]string, error) {
	first, count, _ := p.window(req)
	out := make([]string, 0, count)
	for id := first; id < first+count; id++ {
		out = append(out, strconv.Itoa(id))
	}
	return out, nil
}

func (p *bigPlatform) Get(_ context.Context, _ connector.Connection, _, ext string) (integration.Record, error) {
	id, err := strconv.Atoi(ext)
	if err != nil || id < 1 || id > p.n {
		return integration.Record{}, &connector.Error{Kind: connector.ErrNotFound, Message: "no such post"}
	}
	return p.record(id), nil
}

func (p *bigPlatform) Exists(_ context.Context, _ connector.Connection, _, ext string) (bool, error) {
	id, err := strconv.Atoi(ext)
	return err == nil && id >= 1 && id <= p.n, nil
}

// dynamoRequests counts DynamoDB requests (each attempt) in the SDK's stack.
type dynamoRequests struct{ n atomic.Int64 }

func (c *dynamoRequests) option(stack *middleware.Stack) error {
	return stack.Finalize.Add(middleware.FinalizeMiddlewareFunc("CountDynamoDB",
		func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
			if awsmiddleware.GetServiceID(ctx) == "DynamoDB" {
				c.n.Add(1)
			}
			return next.HandleFinalize(ctx, in)
		}), middleware.After)
}

// benchSyncWorkers is how many batches are handled at once, as that many
// worker Lambdas would (each runs its batch's jobs at once).
const benchSyncWorkers = 2

// BenchmarkSync100k is a full pull of a platform's 100,000 posts
// (JOINERY_BENCH_RECORDS to change it) through the sync engine, its queue
// and its workers, into the embedded store and into DynamoDB (moto). It
// reports records/s and, on DynamoDB, requests per record synced.
// Creating the integration and waiting for the run are not counted.
func BenchmarkSync100k(b *testing.B) {
	records := benchRecords()
	for _, backend := range []string{"embedded", "moto"} {
		b.Run(backend, func(b *testing.B) {
			dir := b.TempDir()
			counter := &dynamoRequests{}
			var (
				istore integration.Store
				store  integration.SyncStore
				// watch reads the run's progress without being counted.
				watch integration.SyncStore
			)
			if backend == "moto" {
				endpoint := awstest.Moto(b)
				plain := dynamodb.NewFromConfig(awstest.Config(endpoint))
				table := fmt.Sprintf("joinery-syncbench-%d", time.Now().UnixNano())
				if err := dynamostore.CreateTable(awstest.Context(b), plain, table); err != nil {
					b.Fatal(err)
				}
				counted := dynamostore.New(dynamodb.NewFromConfig(awstest.Config(endpoint), func(o *dynamodb.Options) {
					o.APIOptions = append(o.APIOptions, counter.option)
				}), table)
				istore, store, watch = counted, counted, dynamostore.New(plain, table)
			} else {
				s, err := embedded.OpenStore(filepath.Join(dir, "joinery.db"))
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { _ = s.Close() })
				istore, store, watch = s, s, s
			}
			secrets, err := embedded.OpenSecrets(filepath.Join(dir, "secrets"))
			if err != nil {
				b.Fatal(err)
			}
			svc := &integration.Service{Store: istore, Secrets: secrets, Catalog: connector.NewCatalog(), SyncData: store}
			q := embedded.NewQueue(embedded.QueueOptions{VisibilityTimeout: 5 * time.Minute, MaxReceives: 5})
			platform := newBigPlatform(records)
			engine := &syncer.Engine{Integrations: svc, Store: store, Queue: q, Connectors: map[string]connector.Connector{"wordpress": platform},
				MaxReceives: 5, Limits: &syncer.Limits{}, PageSize: platform.MaxPageSize()}
			if backend == "moto" {
				// A record write must commit within half the feed's safety
				// window of its stamp (5 s by default): DynamoDB commits in
				// milliseconds, but moto is one Python thread that every
				// worker's writes queue for, and takes longer than that.
				engine.FeedSafety = 10 * time.Minute
			}
			worker := &sqsworker.Worker{Engine: engine, Visibility: q, Log: slog.New(slog.NewTextHandler(benchLog(), nil))}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{}, benchSyncWorkers)
			for range benchSyncWorkers {
				go func() { defer func() { done <- struct{}{} }(); _ = q.Consume(ctx, worker.Handle) }()
			}
			defer func() {
				cancel()
				for range benchSyncWorkers {
					<-done
				}
			}()
			actor := integration.Actor{Subject: "u", AccountID: "acct-bench", Role: integration.RoleEditor}
			var written, requests int64
			var elapsed time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				it, err := svc.Create(context.Background(), actor, integration.CreateInput{SiteID: fmt.Sprintf("site-%d-%d", i, time.Now().UnixNano()), Platform: "wordpress",
					ExternalSiteURL: "https://blog.example.com", Credentials: map[string]string{"username": "u", "app_password": "secret pass"}})
				if err != nil {
					b.Fatal(err)
				}
				before := counter.n.Load()
				b.StartTimer()
				start := time.Now()
				run, started, err := engine.Start(context.Background(), actor, it.ID, syncer.StartInput{Direction: integration.DirectionFromExternal, Full: true})
				if err != nil || !started {
					b.Fatalf("start: %v (started %v)", err, started)
				}
				for run.Active() {
					time.Sleep(50 * time.Millisecond)
					if run, err = watch.GetRun(context.Background(), it.ID, run.ID); err != nil {
						b.Fatal(err)
					}
				}
				elapsed += time.Since(start)
				b.StopTimer()
				requests += counter.n.Load() - before
				// The store's count, not the run's progress: a job delivered
				// again (a slow moto outrunning the visibility timeout) finds
				// its records stored and counts them as unchanged.
				stored, err := watch.CountRecords(context.Background(), it.ID, "post")
				if err != nil {
					b.Fatal(err)
				}
				if run.Status != integration.RunCompleted || stored != int64(records) {
					b.Fatalf("run %s: %s, %d of %d records stored, %d written by the run (%s)", run.ID, run.Status, stored, records, run.Progress.ItemsWritten, run.Error)
				}
				written += stored
			}
			b.ReportMetric(float64(written)/elapsed.Seconds(), "records/s")
			b.ReportMetric(float64(written)/float64(b.N), "records/run")
			if backend == "moto" {
				b.ReportMetric(float64(requests)/float64(written), "ddb-req/record")
			}
		})
	}
}

// benchLog is where the benchmark's workers log: nowhere, unless
// JOINERY_BENCH_LOG=1 (to see why a run failed).
func benchLog() io.Writer {
	if os.Getenv("JOINERY_BENCH_LOG") == "1" {
		return os.Stderr
	}
	return io.Discard
}
