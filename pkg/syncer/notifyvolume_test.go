package syncer_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/embedded"
	"github.com/joinery/joinery/pkg/integration"
	"github.com/joinery/joinery/pkg/notify"
	"github.com/joinery/joinery/pkg/sqsworker"
	"github.com/joinery/joinery/pkg/syncer"
)

// volumeRecords is the volume test's sync: 100,000 records
// (JOINERY_VOLUME_RECORDS for a quicker look while working on it).
func volumeRecords() int {
	if n, err := strconv.Atoi(os.Getenv("JOINERY_VOLUME_RECORDS")); err == nil && n > 0 {
		return n
	}
	return 100_000
}

// hostCounter is a host endpoint that counts what it gets by event id
// and type; it answers 204 at once.
type hostCounter struct {
	mu       sync.Mutex
	ids      map[string]int // event id → deliveries
	types    map[string]int // event type → deliveries
	requests int
	srv      *httptest.Server
}

func newHostCounter(t testing.TB) *hostCounter {
	h := &hostCounter{ids: map[string]int{}, types: map[string]int{}}
	h.srv = httptest.NewServer(h)
	t.Cleanup(h.srv.Close)
	return h
}

// inProcess is a client that hands each request to the host whose URL it
// names, in this process: the volume's deliveries cost no sockets.
func inProcess(hosts ...*hostCounter) *http.Client {
	return &http.Client{Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
		for _, h := range hosts {
			if strings.HasPrefix(r.URL.String(), h.srv.URL) {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				return w.Result(), nil
			}
		}
		return nil, fmt.Errorf("no host at %s", r.URL)
	})}
}

type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func (h *hostCounter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	// The body starts {"id":…,"type":"…": its type without decoding it.
	typ := ""
	if _, rest, ok := strings.Cut(string(body), `"type":"`); ok {
		typ, _, _ = strings.Cut(rest, `"`)
	}
	h.mu.Lock()
	h.requests++
	h.ids[r.Header.Get("webhook-id")]++
	h.types[typ]++
	h.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (h *hostCounter) count() int { h.mu.Lock(); defer h.mu.Unlock(); return h.requests }

// hookQueue is the notifications queue in memory: first in, first out,
// delays not kept (no attempt fails here, so none is delayed but for a
// busy endpoint, which the deliverer asks again for in any order).
type hookQueue struct {
	ch      chan string
	pending sync.WaitGroup
}

func (q *hookQueue) Send(_ context.Context, msgs []integration.Message) error {
	for _, m := range msgs {
		q.pending.Add(1)
		q.ch <- m.Body
	}
	return nil
}

// TestNotifyVolume: a sync writing 100,000 records emits exactly 100,000
// record events, one per record; an endpoint subscribed to sync.* gets
// the run's sync.completed and nothing else, and one subscribed to
// record.* gets every record event (each event id at least once, no
// other type).
//
// The race detector slows this path (bbolt, JSON, HTTP) about tenfold:
// under it, the same run is checked at a small count in this process,
// and the 100,000 in a build of this package without the detector.
func TestNotifyVolume(t *testing.T) {
	if !raceDetector || os.Getenv(volumeChildEnv) != "" {
		notifyVolume(t, volumeRecords())
		return
	}
	t.Run("race detector, 500 records", func(t *testing.T) { notifyVolume(t, 500) })
	t.Run("100,000 records, without the race detector", func(t *testing.T) {
		goCmd, err := exec.LookPath("go")
		if err != nil {
			t.Log("SKIPPED (real dependency missing): the go command, to build this package without the race detector")
			if os.Getenv("CI") == "true" {
				t.Fatal("CI=true: a skipped test is a failure")
			}
			t.Skip("no go command")
		}
		bin := filepath.Join(t.TempDir(), "syncer.test")
		began := time.Now()
		build := exec.Command(goCmd, "test", "-c", "-race=false", "-o", bin, ".")
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("build without the race detector: %v\n%s", err, out)
		}
		t.Logf("built in %v", time.Since(began).Round(time.Millisecond))
		run := exec.Command(bin, "-test.run", "^TestNotifyVolume$", "-test.v", "-test.count=1", "-test.timeout=10m")
		run.Env = append(os.Environ(), volumeChildEnv+"=1")
		out, err := run.CombinedOutput()
		t.Logf("%s", out)
		if err != nil {
			t.Fatalf("the run without the race detector: %v", err)
		}
	})
}

// volumeChildEnv marks the run of TestNotifyVolume at full count.
const volumeChildEnv = "JOINERY_VOLUME_CHILD"

func notifyVolume(t *testing.T, n int) {
	began := time.Now()
	step := func(what string) { t.Logf("%v: %s", time.Since(began).Round(time.Millisecond), what) }
	dir := t.TempDir()
	store, err := embedded.OpenStore(filepath.Join(dir, "joinery.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	store.SkipSync()
	secrets, err := embedded.OpenSecrets(filepath.Join(dir, "secrets"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	svc := &integration.Service{Store: store, Secrets: secrets, Catalog: connector.NewCatalog(), SyncData: store}
	jobs := embedded.NewQueue(embedded.QueueOptions{VisibilityTimeout: 5 * time.Minute, MaxReceives: 5})
	platform := newBigPlatform(n)
	platform.body = "<p>Hi</p>"
	engine := &syncer.Engine{Integrations: svc, Store: store, Queue: jobs, Connectors: map[string]connector.Connector{"wordpress": platform},
		MaxReceives: 5, Limits: &syncer.Limits{}, PageSize: platform.MaxPageSize()}
	worker := &sqsworker.Worker{Engine: engine, Visibility: jobs, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	wctx, cancel := context.WithCancel(ctx)
	var workers sync.WaitGroup
	for range benchSyncWorkers {
		workers.Add(1)
		go func() { defer workers.Done(); _ = jobs.Consume(wctx, worker.Handle) }()
	}
	defer func() { cancel(); workers.Wait() }()

	// The host's endpoints: one for runs, one for records.
	var clock struct {
		sync.Mutex
		t time.Time
	}
	clock.t = time.Now().UTC()
	now := func() time.Time { clock.Lock(); defer clock.Unlock(); return clock.t }
	q := &hookQueue{ch: make(chan string, 4*n+1000)}
	eps := &notify.Endpoints{Store: store, Queue: q, Now: now}
	admin := integration.Actor{Subject: "u", AccountID: "acct-volume", Role: integration.RoleAdmin}
	runs, records := newHostCounter(t), newHostCounter(t)
	for _, e := range []struct {
		url   string
		types []string
	}{{runs.srv.URL, []string{"sync.*"}}, {records.srv.URL, []string{"record.*"}}} {
		if _, _, err := eps.Create(ctx, admin, notify.EndpointInput{URL: &e.url, EventTypes: &e.types}); err != nil {
			t.Fatal(err)
		}
	}
	bus := &countingBus{ids: map[string]int{}, types: map[string]int{}}
	disp := &notify.Dispatcher{Store: store, Integrations: store, Owners: store, Queue: q, Bus: bus, Now: now}
	dlv := &notify.Deliverer{Store: store, Queue: q, HTTP: inProcess(runs, records), Schedule: []time.Duration{0, time.Second}, Now: now}

	// Fanned out and delivered while the sync writes, as the runner does:
	// two deliveries at once, as many as an endpoint takes.
	var delivering sync.WaitGroup
	for range notify.SlotsPerEndpoint {
		delivering.Add(1)
		go func() {
			defer delivering.Done()
			for body := range q.ch {
				if err := dlv.Handle(ctx, body); err != nil {
					t.Error(err)
				}
				q.pending.Done()
			}
		}()
	}
	dctx, stopDispatch := context.WithCancel(ctx)
	dispatched := make(chan struct{})
	go func() { defer close(dispatched); disp.Run(dctx, 20*time.Millisecond) }()

	step("set up")
	actor := integration.Actor{Subject: "u", AccountID: "acct-volume", Role: integration.RoleEditor}
	it, err := svc.Create(ctx, actor, integration.CreateInput{SiteID: "site-1", Platform: "wordpress",
		ExternalSiteURL: "https://blog.example.com", Credentials: map[string]string{"username": "u", "app_password": "secret pass"}})
	if err != nil {
		t.Fatal(err)
	}
	run, started, err := engine.Start(ctx, actor, it.ID, syncer.StartInput{Direction: integration.DirectionFromExternal})
	if err != nil || !started {
		t.Fatalf("start: %v (started %v)", err, started)
	}
	for run.Active() {
		time.Sleep(20 * time.Millisecond)
		if run, err = store.GetRun(ctx, it.ID, run.ID); err != nil {
			t.Fatal(err)
		}
	}
	if run.Status != integration.RunCompleted || run.Progress.ItemsWritten != int64(n) {
		t.Fatalf("run %s: %s, %d written (%s)", run.ID, run.Status, run.Progress.ItemsWritten, run.Error)
	}
	step(fmt.Sprintf("synced (%d delivered so far)", records.count()))
	stopDispatch()
	<-dispatched
	if _, err := disp.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	step(fmt.Sprintf("fanned out (%d delivered so far)", records.count()))
	q.pending.Wait()
	close(q.ch)
	delivering.Wait()
	step("delivered")

	if got := bus.types["record.created"]; got != n || len(bus.ids) != n+1 || bus.types["sync.completed"] != 1 || len(bus.types) != 2 {
		t.Fatalf("emitted %v (%d ids), want %d record.created and a sync.completed", bus.types, len(bus.ids), n)
	}
	if len(runs.types) != 1 || runs.types["sync.completed"] != 1 {
		t.Fatalf("the sync.* endpoint got %v", runs.types)
	}
	if len(records.types) != 1 || records.types["record.created"] < n || len(records.ids) != n {
		t.Fatalf("the record.* endpoint got %v, %d event ids, want %d", records.types, len(records.ids), n)
	}
	for id := range records.ids {
		if bus.ids[id] != 1 {
			t.Fatalf("the record.* endpoint got %s, which was not emitted", id)
		}
	}
}

// countingBus is the event bus, counting what is put on it.
type countingBus struct {
	mu    sync.Mutex
	ids   map[string]int
	types map[string]int
}

func (b *countingBus) PutEvents(_ context.Context, evs []notify.BusEvent) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, e := range evs {
		b.types[e.Type]++
		id, _, _ := strings.Cut(strings.TrimPrefix(e.Detail, `{"id":"`), `"`)
		b.ids[id]++
	}
	return 0, nil
}
