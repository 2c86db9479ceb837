package syncer_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/embedded"
	"github.com/joinery/joinery/pkg/integration"
	"github.com/joinery/joinery/pkg/notify"
	"github.com/joinery/joinery/pkg/safehttp"
	"github.com/joinery/joinery/pkg/sqsworker"
	"github.com/joinery/joinery/pkg/syncer"
)

// BenchmarkSyncNotify is Sync100k's full pull on the embedded store twice:
// with notifications off, then on (an endpoint subscribed to every event,
// its events fanned out and delivered to a local receiver while the sync
// runs, as the local runner does). It reports records/s of each and the
// sync's slowdown with notifications on, in percent, and how many of
// its events reached the endpoint while it ran.
func BenchmarkSyncNotify(b *testing.B) {
	records := benchRecords()
	var off, on time.Duration
	delivered := 0
	for i := 0; i < b.N; i++ {
		took, _ := syncTime(b, records, false)
		off += took
		took, n := syncTime(b, records, true)
		on += took
		delivered += n
	}
	total := float64(records * b.N)
	b.ReportMetric(total/off.Seconds(), "records/s-off")
	b.ReportMetric(total/on.Seconds(), "records/s-on")
	b.ReportMetric(100*(on.Seconds()-off.Seconds())/off.Seconds(), "slowdown-%")
	b.ReportMetric(float64(delivered)/float64(b.N), "delivered-during-sync")
}

// syncTime is how long a full pull of records posts takes, from its start
// to the run seen completed, and how many events were delivered by then.
func syncTime(b *testing.B, records int, notifications bool) (time.Duration, int) {
	b.StopTimer()
	defer b.StartTimer()
	dir := b.TempDir()
	store, err := embedded.OpenStore(filepath.Join(dir, "joinery.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	secrets, err := embedded.OpenSecrets(filepath.Join(dir, "secrets"))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var running sync.WaitGroup
	defer func() { cancel(); running.Wait() }()
	svc := &integration.Service{Store: store, Secrets: secrets, Catalog: connector.NewCatalog(), SyncData: store}
	q := embedded.NewQueue(embedded.QueueOptions{VisibilityTimeout: 5 * time.Minute, MaxReceives: 5})
	platform := newBigPlatform(records)
	engine := &syncer.Engine{Integrations: svc, Store: store, Queue: q, Connectors: map[string]connector.Connector{"wordpress": platform},
		MaxReceives: 5, Limits: &syncer.Limits{}, PageSize: platform.MaxPageSize()}
	log := slog.New(slog.NewTextHandler(benchLog(), nil))
	worker := &sqsworker.Worker{Engine: engine, Visibility: q, Log: log}
	for range benchSyncWorkers {
		running.Add(1)
		go func() { defer running.Done(); _ = q.Consume(ctx, worker.Handle) }()
	}
	actor := integration.Actor{Subject: "u", AccountID: "acct-bench", Role: integration.RoleAdmin}
	host := newHostCounter(b)
	if notifications {
		// The runner's notifications: a dispatcher polling the pending
		// changes, and a queue whose consumers deliver.
		nq := embedded.NewQueue(embedded.QueueOptions{VisibilityTimeout: time.Minute, MaxReceives: 10})
		eps := &notify.Endpoints{Store: store, Queue: nq}
		if _, _, err := eps.Create(ctx, actor, notify.EndpointInput{URL: &host.srv.URL}); err != nil {
			b.Fatal(err)
		}
		disp := &notify.Dispatcher{Store: store, Integrations: store, Owners: store, Queue: nq, Log: log}
		client := safehttp.New(safehttp.Options{Policy: safehttp.Policy{AllowAll: true}, MaxRedirects: -1, Timeout: notify.AttemptTimeout})
		dlv := &notify.Deliverer{Store: store, Queue: nq, HTTP: client, Schedule: []time.Duration{0, 5 * time.Second}, Log: log}
		notifier := &sqsworker.Notifier{Deliverer: dlv, Log: log}
		running.Add(1)
		go func() { defer running.Done(); disp.Run(ctx, 100*time.Millisecond) }()
		for range notify.SlotsPerEndpoint {
			running.Add(1)
			go func() { defer running.Done(); _ = nq.Consume(ctx, notifier.Handle) }()
		}
	}
	it, err := svc.Create(ctx, actor, integration.CreateInput{SiteID: "site-1", Platform: "wordpress",
		ExternalSiteURL: "https://blog.example.com", Credentials: map[string]string{"username": "u", "app_password": "secret pass"}})
	if err != nil {
		b.Fatal(err)
	}
	b.StartTimer()
	start := time.Now()
	run, started, err := engine.Start(ctx, actor, it.ID, syncer.StartInput{Direction: integration.DirectionFromExternal, Full: true})
	if err != nil || !started {
		b.Fatalf("start: %v (started %v)", err, started)
	}
	for run.Active() {
		time.Sleep(50 * time.Millisecond)
		if run, err = store.GetRun(ctx, it.ID, run.ID); err != nil {
			b.Fatal(err)
		}
	}
	took := time.Since(start)
	b.StopTimer()
	if run.Status != integration.RunCompleted || run.Progress.ItemsWritten != int64(records) {
		b.Fatalf("run %s: %s, %d of %d written (%s)", run.ID, run.Status, run.Progress.ItemsWritten, records, run.Error)
	}
	return took, host.count()
}
