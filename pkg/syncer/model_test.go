package syncer_test

// The model test: random schedules of sync runs against a platform that
// changes while it is read, with workers killed between store calls,
// platform errors, duplicate and reordered deliveries, all on one virtual
// clock and a deterministic scheduler. Each schedule ends with quiet runs
// after which Joinery's records, outbox and counts must match the platform
// exactly.
//
//	go test -race -count=1 -run TestModel ./pkg/syncer/     500 schedules (embedded), 25 (DynamoDB on moto)
//	SEEDS=2000 go test -run TestModel ./pkg/syncer/          2000 embedded schedules
//	SEEDS_DYNAMODB=200 go test -run TestModel/dynamodb ./pkg/syncer/   200 DynamoDB schedules
//	SEED=17 go test -run TestModel ./pkg/syncer/             schedule 17 alone, on both stores
//	MODEL_TRACE=1 SEED=17 go test -run TestModel -v ./pkg/syncer/   and print its trace

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go/middleware"
	"github.com/joinery/joinery/pkg/awstest"
	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/dynamostore"
	"github.com/joinery/joinery/pkg/embedded"
	"github.com/joinery/joinery/pkg/integration"
	"github.com/joinery/joinery/pkg/sqsworker"
	"github.com/joinery/joinery/pkg/syncer"
	"github.com/oklog/ulid/v2"
)

func TestMain(m *testing.M) { awstest.Main(m) }

// modelDynamoSeeds are the schedules run on DynamoDB every time.
var modelDynamoSeeds = []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25}

const (
	modelEmbeddedSeeds = 500
	modelMaxReceives   = 8
	modelVisibility    = 2 * time.Minute
	modelMaxSteps      = 40000 // scheduler steps one run may take
)

func modelSeeds(t *testing.T) (emb, dyn []int64) {
	if s := os.Getenv("SEED"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("SEED=%q is not a number", s)
		}
		return []int64{n}, []int64{n}
	}
	n := modelEmbeddedSeeds
	if s := os.Getenv("SEEDS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 0 {
			t.Fatalf("SEEDS=%q is not a count", s)
		}
		n = v
	}
	for i := 1; i <= n; i++ {
		emb = append(emb, int64(i))
	}
	dyn = modelDynamoSeeds
	if s := os.Getenv("SEEDS_DYNAMODB"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 0 {
			t.Fatalf("SEEDS_DYNAMODB=%q is not a count", s)
		}
		dyn = nil
		for i := 1; i <= v; i++ {
			dyn = append(dyn, int64(i))
		}
	}
	return emb, dyn
}

func TestModel(t *testing.T) {
	emb, dyn := modelSeeds(t)
	t.Run("embedded", func(t *testing.T) {
		for _, seed := range emb {
			t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
				t.Parallel()
				runModel(t, seed, "")
			})
		}
	})
	t.Run("dynamodb", func(t *testing.T) {
		if len(dyn) == 0 {
			return
		}
		endpoint := awstest.Moto(t)
		for _, seed := range dyn {
			t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
				t.Parallel()
				runModel(t, seed, endpoint)
			})
		}
	})
}

// modelParams shape one schedule; all come from its seed.
type modelParams struct {
	models      []string
	initial     int
	pageSize    int // the engine's
	maxPage     int // the platform's
	capSize     int
	skew        time.Duration
	start       time.Time
	slots       int // jobs under way at once
	runs        int // runs while the platform changes
	pFull       float64
	pMutStep    float64       // a scheduler step changes the platform instead
	pHook       float64       // a platform call changes the platform first
	pPlatFault  float64       // a platform call fails (429 or 5xx)
	pStoreFault float64       // a store call (or a send) kills the worker or fails
	pReqFault   float64       // a DynamoDB request kills the worker or fails
	pDup        float64       // a sent message is delivered twice
	pLateDup    float64       // a message done with comes back once more
	pOversize   float64       // a new or edited item is too large to read
	pBroken     float64       // an edited item can't be read (a page lists it as failed)
	bulky       int           // items of several hundred KiB
	staleAfter  time.Duration // >0: runs go stale this soon, and some are taken over
}

func newParams(seed int64, dynamo bool) modelParams {
	r := rand.New(rand.NewPCG(uint64(seed), 0x4a6f696e657279))
	p := modelParams{models: []string{"post"}}
	if r.Float64() < 0.3 {
		p.models = []string{"post", "page"}
	}
	p.initial = 3 + r.IntN(14)
	p.runs = 3 + r.IntN(2)
	if dynamo {
		// moto answers some hundred requests a second: DynamoDB schedules
		// are smaller.
		p.initial = 3 + r.IntN(5)
		p.runs = 2
		if r.Float64() < 0.3 {
			p.runs = 3
		}
	}
	p.pageSize = 2 + r.IntN(5)
	p.maxPage = 100
	if r.Float64() < 0.3 {
		p.maxPage = 3 + r.IntN(p.pageSize)
	}
	if dynamo {
		// Fewer, larger windows: fewer jobs, fewer requests.
		p.pageSize, p.maxPage = p.pageSize+2, max(p.maxPage, 5)
	}
	p.capSize = 600 + r.IntN(900)
	p.skew = time.Duration(r.Int64N(int64(10*time.Minute))) - 5*time.Minute
	// The clock starts in the future, so a deadline taken from it is
	// never already past on the wall clock.
	p.start = time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(seed%97)*time.Hour + time.Duration(r.IntN(1000))*time.Millisecond)
	p.slots = 1 + r.IntN(3)
	p.pFull = 0.35
	p.pMutStep = 0.05 + 0.25*r.Float64()
	p.pHook = 0.1 + 0.3*r.Float64()
	p.pPlatFault = 0.02 + 0.08*r.Float64()
	p.pStoreFault = 0.01 + 0.03*r.Float64()
	p.pReqFault = 0.005 * r.Float64()
	p.pDup = 0.1 * r.Float64()
	p.pLateDup = 0.05 * r.Float64()
	p.pOversize = 0.05 + 0.15*r.Float64()
	p.pBroken = 0.05 * r.Float64()
	// The DynamoDB store judges a run stale on the wall clock, which the
	// virtual clock is years ahead of: takeovers run on the embedded
	// store only.
	if !dynamo && r.Float64() < 0.2 {
		p.staleAfter = time.Duration(15+r.IntN(45)) * time.Second
	}
	// Records of several hundred KiB go to parts on DynamoDB; the embedded
	// store keeps them whole, and they only make its schedules slow.
	if dynamo && r.Float64() < 0.25 {
		p.bulky = 1
	}
	return p
}

// vclock is the one clock of a schedule: Joinery's, the queue's and (with
// a skew) the platform's. Every reading moves it on a millisecond, as
// time passes while a worker works.
type vclock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *vclock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(time.Millisecond)
	return c.now
}

func (c *vclock) peek() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *vclock) advance(d time.Duration) {
	if d <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *vclock) advanceTo(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.now) {
		c.now = t
	}
}

// world is one schedule: the platform, the stores, the queue, the engine
// and what the test saw.
type world struct {
	t       *testing.T
	seed    int64
	backend string
	p       modelParams

	rmu sync.Mutex
	rng *rand.Rand

	clock *vclock
	idmu  sync.Mutex
	ids   *ulid.MonotonicEntropy

	plat  *modelPlatform
	q     *vqueue
	raw   integration.SyncStore
	store *faultStore
	svc   *integration.Service
	eng   *syncer.Engine
	wk    *sqsworker.Worker
	it    *integration.Integration
	actor integration.Actor

	mutating atomic.Bool
	faults   atomic.Bool
	budget   atomic.Int64 // changes left for this run

	smu    sync.Mutex // slot states
	slots  []*slot
	events chan schedEvent

	omu                     sync.Mutex
	writes                  map[recKey]map[int64]obsWrite // observed record writes by ChangedAt
	finished                map[string]bool               // runs a FinishRun finished
	bug                     string                        // a broken rule seen inside a job
	parallel                int                           // calls a job made while another of its calls waited
	requests, checkRequests int                           // DynamoDB requests: all, and the test's own
	partials                int                           // batch write items left unprocessed (under rmu)

	runs  []string
	trace []string
}

type recKey struct{ model, ext string }

func (k recKey) String() string { return k.model + "/" + k.ext }

// obsWrite is a record write the test saw land.
type obsWrite struct {
	deleted  bool
	modified time.Time
	seq      int
}

func (w *world) intn(n int) int {
	w.rmu.Lock()
	defer w.rmu.Unlock()
	return w.rng.IntN(n)
}

func (w *world) chance(p float64) bool {
	w.rmu.Lock()
	defer w.rmu.Unlock()
	return w.rng.Float64() < p
}

func (w *world) uint64() uint64 {
	w.rmu.Lock()
	defer w.rmu.Unlock()
	return w.rng.Uint64()
}

func (w *world) newID() string {
	w.idmu.Lock()
	defer w.idmu.Unlock()
	return ulid.MustNew(ulid.Timestamp(w.clock.peek()), w.ids).String()
}

func (w *world) isMutating() bool { return w.mutating.Load() }

func (w *world) tracef(format string, args ...any) {
	line := fmt.Sprintf("%s %s", shortTime(w.clock.peek()), fmt.Sprintf(format, args...))
	w.omu.Lock()
	w.trace = append(w.trace, line)
	w.omu.Unlock()
}

// fatalf ends the schedule, saying how to run it again and what happened.
func (w *world) fatalf(format string, args ...any) {
	w.t.Helper()
	msg := fmt.Sprintf(format, args...)
	w.omu.Lock()
	trace := append([]string(nil), w.trace...)
	w.omu.Unlock()
	path := filepath.Join(os.TempDir(), fmt.Sprintf("joinery-model-%s-seed-%d.log", w.backend, w.seed))
	_ = os.WriteFile(path, []byte(strings.Join(trace, "\n")+"\n"), 0o644)
	tail := trace
	if len(tail) > 150 && os.Getenv("MODEL_TRACE") == "" {
		tail = tail[len(tail)-150:]
	}
	w.t.Fatalf("%s\n\nschedule seed %d on %s (%+v)\nrerun: SEED=%d go test ./pkg/syncer -run TestModel\nfull trace: %s\nlast %d trace lines:\n%s",
		msg, w.seed, w.backend, w.paramsSummary(), w.seed, path, len(tail), strings.Join(tail, "\n"))
}

func (w *world) paramsSummary() string {
	p := w.p
	return fmt.Sprintf("models %v, %d items (%d bulky), page %d, max page %d, cap %d, skew %s, %d slots, %d runs, faults platform %.2f store %.3f",
		p.models, p.initial, p.bulky, p.pageSize, p.maxPage, p.capSize, p.skew, p.slots, p.runs, p.pPlatFault, p.pStoreFault)
}

func runModel(t *testing.T, seed int64, endpoint string) {
	w := newWorld(t, seed, endpoint)
	if os.Getenv("MODEL_TRACE") != "" {
		defer func() {
			for _, l := range w.trace {
				t.Log(l)
			}
		}()
	}
	// Runs while the platform changes and everything fails now and then.
	w.mutating.Store(true)
	w.faults.Store(true)
	for i := 0; i < w.p.runs; i++ {
		full := w.chance(w.p.pFull)
		run := w.runOnce(full)
		// moto answers some hundred requests a second: on DynamoDB the
		// records are read after the last of these runs only.
		if w.backend == "embedded" || i == w.p.runs-1 {
			w.checkConsistent(fmt.Sprintf("after run %d (%s, %s)", i+1, runKind(full), run.Status), false)
		}
	}
	// Quiet: one incremental run and one full run must bring the records
	// to what the platform holds.
	w.mutating.Store(false)
	w.faults.Store(false)
	w.tracef("== quiet from here: no more changes or faults")
	run := w.runOnce(false)
	w.wantCompleted(run, "the quiet incremental run")
	w.checkExact("after the quiet incremental run", false)
	run = w.runOnce(true)
	w.wantCompleted(run, "the quiet full run")
	w.checkExact("after the quiet full run", true)
	// Items that could not be read are read once an edit mends them.
	if shrunk := w.plat.shrink(); len(shrunk) > 0 {
		w.tracef("== shrink %v", shrunk)
		run = w.runOnce(false)
		w.wantCompleted(run, "the incremental run after shrinking")
		// Items gone for good were marked deleted by the full run; no
		// record of them may have come back to life since.
		w.checkExact("after the incremental run that reads the shrunk items", true)
	}
	w.checkRunsFinished()
	if w.parallel > 0 {
		t.Logf("jobs made %d calls while another of their calls waited: the schedule may not replay exactly", w.parallel)
	}
	if w.backend == "dynamodb" {
		t.Logf("%d DynamoDB requests, %d of them the test's own checks; %d batch write items left unprocessed", w.requests, w.checkRequests, w.partials)
	}
}

func runKind(full bool) string {
	if full {
		return "full"
	}
	return "incremental"
}

func newWorld(t *testing.T, seed int64, endpoint string) *world {
	dynamo := endpoint != ""
	w := &world{t: t, seed: seed, backend: "embedded", p: newParams(seed, dynamo),
		rng: rand.New(rand.NewPCG(uint64(seed), 0x6d6f64656c)), writes: map[recKey]map[int64]obsWrite{},
		finished: map[string]bool{},
		events:   make(chan schedEvent), actor: integration.Actor{Subject: "u", AccountID: "acct-1", Role: integration.RoleEditor}}
	if dynamo {
		w.backend = "dynamodb"
	}
	w.clock = &vclock{now: w.p.start}
	w.ids = ulid.Monotonic(rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), 'm', 'o', 'd', 'e', 'l'}), 0)
	w.plat = &modelPlatform{w: w, models: w.p.models, capSize: w.p.capSize, maxPage: w.p.maxPage, skew: w.p.skew, items: map[int]*mItem{}}
	for i := 0; i < w.p.initial; i++ {
		w.plat.create(w.p.models[w.intn(len(w.p.models))], i < w.p.bulky, w.chance(w.p.pOversize))
	}
	// Some items are gone or in the trash before Joinery first looks.
	for id := 1; id <= w.plat.nextID; id++ {
		it := w.plat.items[id]
		switch r := w.intn(10); {
		case r == 0:
			it.gone = true
		case r == 1:
			it.trashed = true
			it.snapshot()
		}
	}
	w.q = &vqueue{w: w}
	for i := 0; i < w.p.slots; i++ {
		w.slots = append(w.slots, &slot{idx: i, wake: make(chan struct{})})
	}

	dir, err := os.MkdirTemp(shmDir(), "joinery-model-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	var istore integration.Store
	if dynamo {
		db := dynamodb.NewFromConfig(awstest.Config(endpoint), func(o *dynamodb.Options) {
			o.APIOptions = append(o.APIOptions, func(s *middleware.Stack) error {
				return s.Initialize.Add(middleware.InitializeMiddlewareFunc("ModelTestHooks", w.dynamoHook), middleware.Before)
			}, dynamostore.PartialBatchWrites(w.partial))
		})
		table := fmt.Sprintf("joinery-model-%d-%d", seed, time.Now().UnixNano())
		if err := dynamostore.CreateTable(awstest.Context(t), db, table); err != nil {
			t.Fatal(err)
		}
		s := dynamostore.New(db, table)
		// The store's waits between retries pass on the virtual clock.
		s.Sleep = w.clock.advance
		istore, w.raw = s, s
	} else {
		s, err := embedded.OpenStore(filepath.Join(dir, "joinery.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		istore, w.raw = s, s
	}
	secrets, err := embedded.OpenSecrets(filepath.Join(dir, "secrets"))
	if err != nil {
		t.Fatal(err)
	}
	w.store = &faultStore{SyncStore: w.raw, w: w}
	w.svc = &integration.Service{Store: istore, Secrets: secrets, Catalog: connector.NewCatalog(), SyncData: w.raw, Now: w.clock.Now, NewID: w.newID}
	// No write deadline (FeedSafety < 0): it runs on the wall clock, and
	// a job waiting at a call for others to run would miss it now and then,
	// and a schedule would not replay.
	w.eng = &syncer.Engine{Integrations: w.svc, Store: w.store, Queue: w.q, Connectors: map[string]connector.Connector{"wordpress": w.plat},
		MaxReceives: modelMaxReceives, PageSize: w.p.pageSize, Now: w.clock.Now, NewID: w.newID, StaleAfter: w.p.staleAfter, FeedSafety: -1}
	w.wk = &sqsworker.Worker{Engine: w.eng, Visibility: w.q, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Parallel: 1}
	w.it, err = w.svc.Create(context.Background(), w.actor, integration.CreateInput{SiteID: "site-1", Platform: "wordpress",
		ExternalSiteURL: "https://blog.example.com", Credentials: map[string]string{"username": "u", "app_password": "secret pass"}})
	if err != nil {
		t.Fatal(err)
	}
	w.tracef("schedule seed %d on %s: %s", seed, w.backend, w.paramsSummary())
	return w
}

// shmDir keeps bbolt files in memory where it can: fsyncs cost nothing
// there, and a schedule makes thousands.
func shmDir() string {
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		return "/dev/shm"
	}
	return os.TempDir()
}

// The queue: SQS with its visibility timeout and redrive policy, on the
// virtual clock. Messages are delivered in a random order, some twice.

type qmsg struct {
	id        string
	body      string
	receipt   string
	visibleAt time.Time
	receives  int
}

type vqueue struct {
	w    *world
	mu   sync.Mutex
	msgs []*qmsg
	dead []string
	n    int
}

func (q *vqueue) add(body string, at time.Time) {
	q.n++
	q.msgs = append(q.msgs, &qmsg{id: fmt.Sprintf("m%d", q.n), body: body, visibleAt: at})
}

func (q *vqueue) Send(ctx context.Context, msgs []integration.Message) error {
	if err := q.w.fault(ctx, "queue send"); err != nil {
		return err
	}
	for i, m := range msgs {
		if len(m.Body) > 256<<10 || m.Delay < 0 || m.Delay > 15*time.Minute {
			q.w.noteBug(fmt.Sprintf("message %d sent is not one SQS takes: %d bytes, delay %s", i, len(m.Body), m.Delay))
			return fmt.Errorf("message %d: not one SQS takes", i)
		}
	}
	now := q.w.clock.peek()
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, m := range msgs {
		q.add(m.Body, now.Add(m.Delay))
		if q.w.chance(q.w.p.pDup) {
			q.add(m.Body, now.Add(m.Delay))
			q.w.tracef("  queue: %s sent twice", jobName(m.Body))
		}
	}
	return nil
}

// ChangeVisibility is SQS's: the in-flight message comes back after d.
func (q *vqueue) ChangeVisibility(_ context.Context, receipt string, d time.Duration) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, m := range q.msgs {
		if m.receipt == receipt {
			m.visibleAt = q.w.clock.peek().Add(d)
			q.w.tracef("  queue: %s back in %s", jobName(m.body), d)
			return nil
		}
	}
	return fmt.Errorf("receipt handle %s is not in flight", receipt)
}

// visible returns the messages a receive could get now, after moving those
// received too often to the dead-letter queue, as SQS does.
func (q *vqueue) visible(now time.Time) []*qmsg {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []*qmsg
	kept := q.msgs[:0]
	for _, m := range q.msgs {
		if !m.visibleAt.After(now) && m.receives >= modelMaxReceives {
			q.dead = append(q.dead, m.body)
			q.w.tracef("  queue: %s to the dead-letter queue", jobName(m.body))
			continue
		}
		kept = append(kept, m)
		if !m.visibleAt.After(now) {
			out = append(out, m)
		}
	}
	q.msgs = kept
	return out
}

func (q *vqueue) nextVisible() time.Time {
	q.mu.Lock()
	defer q.mu.Unlock()
	var next time.Time
	for _, m := range q.msgs {
		if next.IsZero() || m.visibleAt.Before(next) {
			next = m.visibleAt
		}
	}
	return next
}

func (q *vqueue) size() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.msgs)
}

// receive takes m for a delivery.
func (q *vqueue) receive(m *qmsg, now time.Time) events.SQSMessage {
	q.mu.Lock()
	defer q.mu.Unlock()
	m.receives++
	m.receipt = fmt.Sprintf("%s-r%d", m.id, m.receives)
	m.visibleAt = now.Add(modelVisibility)
	return events.SQSMessage{MessageId: m.id, ReceiptHandle: m.receipt, Body: m.body,
		Attributes: map[string]string{"ApproximateReceiveCount": strconv.Itoa(m.receives)}, EventSource: "aws:sqs"}
}

// done deletes a delivered message, unless it was received again since.
func (q *vqueue) done(m *qmsg, receipt string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i, x := range q.msgs {
		if x == m && x.receipt == receipt {
			q.msgs = append(q.msgs[:i], q.msgs[i+1:]...)
			return true
		}
	}
	return false
}

func jobName(body string) string {
	var j syncer.Job
	if json.Unmarshal([]byte(body), &j) != nil {
		return "?"
	}
	return fmt.Sprintf("%s %s of run …%s", j.Kind, j.JobID, tail(j.RunID, 4))
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}

// The scheduler. Jobs run in slots, one message each, through the real
// worker. Only one job runs at any moment: each stops at its next store,
// platform, queue or DynamoDB call and waits there until the scheduler,
// drawing from the schedule's seed, lets it (or another) go on, delivers
// another message, or changes the platform. So jobs interleave at every
// call, and a schedule runs the same way each time.

type slotKey struct{}

type slotState int

const (
	slotIdle slotState = iota
	slotRunning
	slotParked
)

type slot struct {
	idx     int
	wake    chan struct{}
	state   slotState // under world.smu
	msg     *qmsg
	receipt string
	job     string
	at      string
	lastTry bool

	mu     sync.Mutex
	parked bool
	// inPut: the job is inside PutRecords; committed: a transaction of it
	// landed. No other job runs from then until the call returns, so the
	// records it wrote are still as it wrote them when it is watched.
	inPut, committed bool
}

type schedEvent struct {
	sl       *slot
	at       string
	done     bool
	failed   bool
	panicked any
}

func slotOf(ctx context.Context) *slot {
	sl, _ := ctx.Value(slotKey{}).(*slot)
	return sl
}

func (w *world) inJob(ctx context.Context) bool { return slotOf(ctx) != nil }

// yield stops a job at a call until the scheduler lets it go on.
func (w *world) yield(ctx context.Context, at string) {
	sl := slotOf(ctx)
	if sl == nil {
		return
	}
	sl.mu.Lock()
	if sl.parked {
		// Another call of the same job is waiting: the job calls in
		// parallel. Let this one through; interleavings are no longer
		// the seed's alone.
		sl.mu.Unlock()
		w.omu.Lock()
		w.parallel++
		w.omu.Unlock()
		return
	}
	hold := sl.inPut && sl.committed
	sl.mu.Unlock()
	if hold {
		return
	}
	if w.isMutating() && w.chance(w.p.pMutStep) {
		w.mutate("between calls")
	}
	// Going on with the same job is decided here, as the scheduler would
	// (one choice among the jobs waiting and a new delivery): a hand-over
	// to the scheduler's goroutine and back costs more than the call.
	if !w.wantSwitch(sl) {
		return
	}
	sl.mu.Lock()
	sl.parked = true
	sl.mu.Unlock()
	w.events <- schedEvent{sl: sl, at: at}
	<-sl.wake
	sl.mu.Lock()
	sl.parked = false
	sl.mu.Unlock()
}

// wantSwitch draws whether the job in sl stops here for another to run.
func (w *world) wantSwitch(sl *slot) bool {
	others, idle := 0, false
	w.smu.Lock()
	for _, o := range w.slots {
		switch {
		case o == sl:
		case o.state == slotParked:
			others++
		case o.state == slotIdle:
			idle = true
		}
	}
	w.smu.Unlock()
	if idle && len(w.q.visible(w.clock.peek())) > 0 {
		others++
	}
	return others > 0 && w.intn(others+1) > 0
}

// fault is where a worker may die (a panic, which the worker recovers:
// the message comes back) or a call fail, before the call is made. Never
// on a message's last delivery: that one ends the run if it fails.
func (w *world) fault(ctx context.Context, what string) error {
	w.yield(ctx, what)
	sl := slotOf(ctx)
	if sl == nil || sl.lastTry || !w.faults.Load() || !w.chance(w.p.pStoreFault) {
		return nil
	}
	if w.chance(0.5) {
		w.tracef("  KILL: the worker dies before %s", what)
		panic("the model test killed the worker before " + what)
	}
	w.tracef("  FAULT: %s fails", what)
	return fmt.Errorf("%s: the model test failed the call", what)
}

func (w *world) platformFault(ctx context.Context, what string) error {
	sl := slotOf(ctx)
	if sl == nil || sl.lastTry || !w.faults.Load() || !w.chance(w.p.pPlatFault) {
		return nil
	}
	if w.chance(0.5) {
		after := time.Duration(1+w.intn(120)) * time.Second
		w.tracef("  platform: %s: 429, retry after %s", what, after)
		return &connector.Error{Kind: connector.ErrRateLimited, Status: 429, Message: "WordPress is rate limiting Joinery.", RetryAfter: after}
	}
	status := []int{500, 502, 503, 504}[w.intn(4)]
	w.tracef("  platform: %s: HTTP %d", what, status)
	return &connector.Error{Kind: connector.ErrUnavailable, Status: status, Message: fmt.Sprintf("WordPress answered HTTP %d.", status)}
}

// mutate changes the platform once, while the run's budget of changes
// lasts: a platform changing faster than a run reads it would keep the
// run reading for ever.
func (w *world) mutate(where string) {
	if w.budget.Add(-1) < 0 {
		return
	}
	w.tracef("  CHANGE %s: %s", where, w.plat.mutate())
}

func (w *world) noteBug(msg string) {
	w.omu.Lock()
	defer w.omu.Unlock()
	if w.bug == "" {
		w.bug = msg
	}
}

// drive runs the scheduler until stop says so with no job under way;
// between is called at every step, with every job stopped or idle.
func (w *world) drive(what string, between func(), stop func() bool) {
	w.t.Helper()
	for step := 0; ; step++ {
		if step > modelMaxSteps {
			w.fatalf("%s: still going after %d scheduler steps (%d messages queued)", what, step, w.q.size())
		}
		between()
		var parked, idle []*slot
		w.smu.Lock()
		for _, sl := range w.slots {
			switch sl.state {
			case slotParked:
				parked = append(parked, sl)
			case slotIdle:
				idle = append(idle, sl)
			}
		}
		w.smu.Unlock()
		if len(idle) == len(w.slots) && stop() {
			return
		}
		visible := w.q.visible(w.clock.peek())
		choices := len(parked)
		if len(idle) > 0 && len(visible) > 0 {
			choices++
		}
		if choices == 0 {
			if next := w.q.nextVisible(); !next.IsZero() {
				w.clock.advanceTo(next)
				continue
			}
			w.fatalf("%s: nothing is queued and nothing runs, yet it is not over: a run is stuck running", what)
		}
		if w.isMutating() && w.chance(w.p.pMutStep) {
			w.mutate("between calls")
			continue
		}
		if c := w.intn(choices); c < len(parked) {
			sl := parked[c]
			w.setState(sl, slotRunning)
			sl.wake <- struct{}{}
		} else {
			w.deliver(idle[w.intn(len(idle))], visible[w.intn(len(visible))])
		}
		w.await()
	}
}

func (w *world) deliver(sl *slot, m *qmsg) {
	msg := w.q.receive(m, w.clock.peek())
	w.setState(sl, slotRunning)
	sl.msg, sl.receipt, sl.job = m, msg.ReceiptHandle, jobName(m.body)
	sl.lastTry = m.receives >= modelMaxReceives
	w.tracef("[%d] deliver %s (receive %d)", sl.idx, sl.job, m.receives)
	ctx := context.WithValue(context.Background(), slotKey{}, sl)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				w.events <- schedEvent{sl: sl, done: true, panicked: p}
			}
		}()
		resp, err := w.wk.Handle(ctx, events.SQSEvent{Records: []events.SQSMessage{msg}})
		w.events <- schedEvent{sl: sl, done: true, failed: err != nil || len(resp.BatchItemFailures) > 0}
	}()
}

func (w *world) setState(sl *slot, st slotState) {
	w.smu.Lock()
	defer w.smu.Unlock()
	sl.state = st
}

// await waits for the running job to stop at a call or end.
func (w *world) await() {
	w.t.Helper()
	var ev schedEvent
	select {
	case ev = <-w.events:
	case <-time.After(3 * time.Minute):
		// A safety net only: jobs never wait on the wall clock.
		w.fatalf("no job stopped or ended within 3 minutes of wall time: a job is blocked outside the calls the test controls")
	}
	w.omu.Lock()
	bug := w.bug
	w.omu.Unlock()
	if bug != "" {
		w.fatalf("%s", bug)
	}
	sl := ev.sl
	if !ev.done {
		w.setState(sl, slotParked)
		sl.at = ev.at
		return
	}
	w.setState(sl, slotIdle)
	if ev.panicked != nil {
		w.fatalf("job %s panicked outside the worker: %v", sl.job, ev.panicked)
	}
	if ev.failed {
		w.tracef("[%d] %s failed; it comes back", sl.idx, sl.job)
		return
	}
	if w.q.done(sl.msg, sl.receipt) {
		w.tracef("[%d] %s done", sl.idx, sl.job)
	} else {
		w.tracef("[%d] %s done, but its message was received again meanwhile", sl.idx, sl.job)
	}
	if w.chance(w.p.pLateDup) {
		w.q.mu.Lock()
		w.q.add(sl.msg.body, w.clock.peek().Add(time.Duration(w.intn(60))*time.Second))
		w.q.mu.Unlock()
		w.tracef("  queue: %s will come again", sl.job)
	}
}

// runOnce starts a run and drives the queue until it has finished.
func (w *world) runOnce(full bool) *integration.Run {
	w.t.Helper()
	w.clock.advance(time.Duration(1+w.intn(300)) * time.Second)
	if w.isMutating() {
		// Changes between runs, then the budget of those while it runs.
		w.budget.Store(int64(w.intn(5)))
		for i := w.intn(5); i > 0; i-- {
			w.mutate("between runs")
		}
		w.budget.Store(int64(10 + w.intn(30)))
	}
	run, started, err := w.eng.Start(context.Background(), w.actor, w.it.ID, syncer.StartInput{Direction: integration.DirectionFromExternal, Full: full})
	if err != nil || !started {
		active := ""
		if run != nil {
			active = fmt.Sprintf(" (run %s is %s)", run.ID, run.Status)
		}
		w.fatalf("a %s run could not start: %v%s", runKind(full), err, active)
	}
	w.runs = append(w.runs, run.ID)
	w.tracef("== %s run …%s started (platform clock %s)", runKind(full), tail(run.ID, 4), shortTime(w.plat.now()))
	leave := w.chance(0.5) // leave what is still queued to the next run
	// Some runs are taken over once stale, their jobs still under way.
	takeover := w.p.staleAfter > 0 && w.isMutating() && w.chance(0.4)
	w.drive("run "+run.ID, func() {
		if takeover && w.clock.peek().Sub(run.StartedAt) > w.p.staleAfter && w.chance(0.2) {
			takeover = false
			run = w.takeOver(run)
		}
	}, func() bool {
		// The runs finished are known from FinishRun; the store is asked
		// only when nothing is queued (a worker may have died in a
		// FinishRun that had landed).
		if !w.isFinished(run.ID) {
			if w.q.size() > 0 || w.getRun(run.ID).Active() {
				return false
			}
			w.markFinished(run.ID)
		}
		return leave || w.q.size() == 0
	})
	r := w.getRun(run.ID)
	w.tracef("== run …%s: %s %q, %d/%d jobs, %+v", tail(run.ID, 4), r.Status, r.Error, r.JobsDone, r.JobsTotal, r.Progress)
	return r
}

// takeOver starts a run in place of old, which has gone stale: old must
// end as error at once, and its jobs, some perhaps half done, write
// nothing more.
func (w *world) takeOver(old *integration.Run) *integration.Run {
	w.t.Helper()
	if r := w.getRun(old.ID); !r.Active() {
		return old
	}
	full := w.chance(0.5)
	run, started, err := w.eng.Start(context.Background(), w.actor, w.it.ID, syncer.StartInput{Direction: integration.DirectionFromExternal, Full: full})
	if err != nil || !started {
		w.fatalf("run %s is stale (started %s, now %s, stale after %s) but a new run could not take over: %v (started %v)",
			old.ID, old.StartedAt, w.clock.peek(), w.p.staleAfter, err, started)
	}
	if r := w.getRun(old.ID); r.Status != integration.RunError || r.FinishedAt == nil {
		w.fatalf("run %s was taken over by %s but is %s", old.ID, run.ID, r.Status)
	}
	w.runs = append(w.runs, run.ID)
	w.markFinished(old.ID)
	w.tracef("== run …%s is stale: %s run …%s takes over", tail(old.ID, 4), runKind(full), tail(run.ID, 4))
	return run
}

func (w *world) markFinished(runID string) {
	w.omu.Lock()
	defer w.omu.Unlock()
	w.finished[runID] = true
}

func (w *world) isFinished(runID string) bool {
	w.omu.Lock()
	defer w.omu.Unlock()
	return w.finished[runID]
}

func (w *world) getRun(id string) *integration.Run {
	w.t.Helper()
	r, err := w.raw.GetRun(context.Background(), w.it.ID, id)
	if err != nil {
		w.fatalf("get run %s: %v", id, err)
	}
	return r
}

func (w *world) wantCompleted(r *integration.Run, what string) {
	w.t.Helper()
	if r.Status != integration.RunCompleted || r.JobsDone != r.JobsTotal {
		w.fatalf("%s ended %s (%q) with %d of %d jobs done; with nothing failing it must complete", what, r.Status, r.Error, r.JobsDone, r.JobsTotal)
	}
}

func (w *world) checkRunsFinished() {
	w.t.Helper()
	for _, id := range w.runs {
		if r := w.getRun(id); r.Active() {
			w.fatalf("run %s is still running at the end", id)
		}
	}
}

// faultStore is the sync store as a job sees it: each call is a point
// where the scheduler may run another job first, and where the worker may
// die or the call fail before it is made. Record writes are watched, so
// the outbox can be checked against the writes that happened.
type faultStore struct {
	integration.SyncStore
	w *world
}

func (f *faultStore) StartRun(ctx context.Context, run *integration.Run, staleAfter time.Duration) (*integration.Run, bool, error) {
	if err := f.w.fault(ctx, "StartRun"); err != nil {
		return nil, false, err
	}
	return f.SyncStore.StartRun(ctx, run, staleAfter)
}
func (f *faultStore) GetRun(ctx context.Context, integrationID, runID string) (*integration.Run, error) {
	if err := f.w.fault(ctx, "GetRun"); err != nil {
		return nil, err
	}
	return f.SyncStore.GetRun(ctx, integrationID, runID)
}
func (f *faultStore) LatestRun(ctx context.Context, integrationID string) (*integration.Run, error) {
	if err := f.w.fault(ctx, "LatestRun"); err != nil {
		return nil, err
	}
	return f.SyncStore.LatestRun(ctx, integrationID)
}
func (f *faultStore) AddJobs(ctx context.Context, integrationID, runID, parentJobID string, children []string, totals map[string]int64) ([]string, error) {
	if err := f.w.fault(ctx, "AddJobs "+parentJobID); err != nil {
		return nil, err
	}
	return f.SyncStore.AddJobs(ctx, integrationID, runID, parentJobID, children, totals)
}
func (f *faultStore) CompleteJob(ctx context.Context, integrationID, runID, jobID string, res integration.JobResult) (*integration.Run, bool, error) {
	if err := f.w.fault(ctx, "CompleteJob "+jobID); err != nil {
		return nil, false, err
	}
	run, first, err := f.SyncStore.CompleteJob(ctx, integrationID, runID, jobID, res)
	if err == nil && first {
		var reads []string
		for _, p := range res.Pages {
			reads = append(reads, fmt.Sprintf("%s@%d/%d:%d[%s..%s]t%d%s", p.Model, p.Offset, p.Limit, p.Count, p.FirstID, p.LastID, p.Total, map[bool]string{true: "?", false: ""}[p.Doubt]))
		}
		f.w.tracef("  completed %s: seen %v, reads %v, clock %v", jobID, res.Seen, reads, res.Clock)
	}
	return run, first, err
}
func (f *faultStore) SeenIDs(ctx context.Context, integrationID, runID, model string) (map[string]bool, error) {
	if err := f.w.fault(ctx, "SeenIDs"); err != nil {
		return nil, err
	}
	return f.SyncStore.SeenIDs(ctx, integrationID, runID, model)
}
func (f *faultStore) RunReads(ctx context.Context, integrationID, runID string) ([]integration.PageRead, map[string]time.Time, error) {
	if err := f.w.fault(ctx, "RunReads"); err != nil {
		return nil, nil, err
	}
	return f.SyncStore.RunReads(ctx, integrationID, runID)
}
func (f *faultStore) ClaimFinish(ctx context.Context, integrationID, runID, jobID string) (bool, error) {
	if err := f.w.fault(ctx, "ClaimFinish "+jobID); err != nil {
		return false, err
	}
	return f.SyncStore.ClaimFinish(ctx, integrationID, runID, jobID)
}
func (f *faultStore) FinishRun(ctx context.Context, integrationID, runID string, status integration.RunStatus, message string, at time.Time) (bool, error) {
	if err := f.w.fault(ctx, "FinishRun"); err != nil {
		return false, err
	}
	done, err := f.SyncStore.FinishRun(ctx, integrationID, runID, status, message, at)
	if err == nil && done {
		f.w.markFinished(runID)
	}
	return done, err
}
func (f *faultStore) Cursors(ctx context.Context, integrationID string) (map[string]time.Time, error) {
	if err := f.w.fault(ctx, "Cursors"); err != nil {
		return nil, err
	}
	return f.SyncStore.Cursors(ctx, integrationID)
}
func (f *faultStore) SetCursors(ctx context.Context, integrationID string, cursors map[string]time.Time) error {
	if err := f.w.fault(ctx, "SetCursors"); err != nil {
		return err
	}
	f.w.tracef("  set cursors %v", cursors)
	return f.SyncStore.SetCursors(ctx, integrationID, cursors)
}
func (f *faultStore) PutRecords(ctx context.Context, scope integration.WriteScope, recs []integration.StoredRecord) (integration.PutResult, error) {
	if err := f.w.fault(ctx, fmt.Sprintf("PutRecords of %d", len(recs))); err != nil {
		return integration.PutResult{}, err
	}
	// Watched even when the worker dies inside the call: what landed
	// before it died must have its outbox entry too.
	defer f.w.observe(scope, recs)
	if sl := slotOf(ctx); sl != nil {
		sl.mu.Lock()
		sl.inPut, sl.committed = true, false
		sl.mu.Unlock()
		defer func() {
			sl.mu.Lock()
			sl.inPut, sl.committed = false, false
			sl.mu.Unlock()
		}()
	}
	return f.SyncStore.PutRecords(ctx, scope, recs)
}
func (f *faultStore) GetRecord(ctx context.Context, integrationID, model, externalID string) (*integration.StoredRecord, error) {
	if err := f.w.fault(ctx, "GetRecord"); err != nil {
		return nil, err
	}
	return f.SyncStore.GetRecord(ctx, integrationID, model, externalID)
}
func (f *faultStore) ListRecords(ctx context.Context, q integration.RecordQuery) ([]integration.StoredRecord, string, error) {
	if err := f.w.fault(ctx, "ListRecords"); err != nil {
		return nil, "", err
	}
	return f.SyncStore.ListRecords(ctx, q)
}
func (f *faultStore) CountRecords(ctx context.Context, integrationID, model string) (int64, error) {
	if err := f.w.fault(ctx, "CountRecords"); err != nil {
		return 0, err
	}
	return f.SyncStore.CountRecords(ctx, integrationID, model)
}
func (f *faultStore) ListChanges(ctx context.Context, integrationID string, limit int, cursor string) ([]integration.RecordChange, string, error) {
	if err := f.w.fault(ctx, "ListChanges"); err != nil {
		return nil, "", err
	}
	return f.SyncStore.ListChanges(ctx, integrationID, limit, cursor)
}
func (f *faultStore) AddRetries(ctx context.Context, integrationID, model string, items map[string]string) error {
	if err := f.w.fault(ctx, "AddRetries"); err != nil {
		return err
	}
	f.w.tracef("  add retries %s %v", model, items)
	return f.SyncStore.AddRetries(ctx, integrationID, model, items)
}
func (f *faultStore) Retries(ctx context.Context, integrationID, model string, limit int) (map[string]string, error) {
	if err := f.w.fault(ctx, "Retries"); err != nil {
		return nil, err
	}
	return f.SyncStore.Retries(ctx, integrationID, model, limit)
}
func (f *faultStore) RemoveRetries(ctx context.Context, integrationID, model string, ids []string) error {
	if err := f.w.fault(ctx, "RemoveRetries"); err != nil {
		return err
	}
	f.w.tracef("  remove retries %s %v", model, ids)
	return f.SyncStore.RemoveRetries(ctx, integrationID, model, ids)
}
func (f *faultStore) AddEvents(ctx context.Context, evs []integration.SyncEvent) error {
	if err := f.w.fault(ctx, "AddEvents"); err != nil {
		return err
	}
	for _, e := range evs {
		if e.Status != "ok" {
			f.w.tracef("  event %s %s %s/%s: %s", e.Type, e.Status, e.Model, e.ExternalID, e.Message)
		}
	}
	return f.SyncStore.AddEvents(ctx, evs)
}
func (f *faultStore) ListEvents(ctx context.Context, q integration.EventQuery) ([]integration.SyncEvent, string, error) {
	if err := f.w.fault(ctx, "ListEvents"); err != nil {
		return nil, "", err
	}
	return f.SyncStore.ListEvents(ctx, q)
}
func (f *faultStore) CreatePush(ctx context.Context, p *integration.Push) error {
	if err := f.w.fault(ctx, "CreatePush"); err != nil {
		return err
	}
	return f.SyncStore.CreatePush(ctx, p)
}
func (f *faultStore) GetPush(ctx context.Context, integrationID, pushID string) (*integration.Push, error) {
	if err := f.w.fault(ctx, "GetPush"); err != nil {
		return nil, err
	}
	return f.SyncStore.GetPush(ctx, integrationID, pushID)
}
func (f *faultStore) PushBySeq(ctx context.Context, integrationID, model, localID string, seq int64) (*integration.Push, error) {
	if err := f.w.fault(ctx, "PushBySeq"); err != nil {
		return nil, err
	}
	return f.SyncStore.PushBySeq(ctx, integrationID, model, localID, seq)
}
func (f *faultStore) UpdatePush(ctx context.Context, p *integration.Push) error {
	if err := f.w.fault(ctx, "UpdatePush"); err != nil {
		return err
	}
	return f.SyncStore.UpdatePush(ctx, p)
}
func (f *faultStore) ListPushes(ctx context.Context, integrationID string, statuses ...integration.PushStatus) ([]*integration.Push, error) {
	if err := f.w.fault(ctx, "ListPushes"); err != nil {
		return nil, err
	}
	return f.SyncStore.ListPushes(ctx, integrationID, statuses...)
}
func (f *faultStore) PendingPushes(ctx context.Context, integrationID string) (int, error) {
	if err := f.w.fault(ctx, "PendingPushes"); err != nil {
		return 0, err
	}
	return f.SyncStore.PendingPushes(ctx, integrationID)
}
func (f *faultStore) LeaseMapping(ctx context.Context, integrationID, model, localID, owner string, until time.Time) (*integration.Mapping, bool, error) {
	if err := f.w.fault(ctx, "LeaseMapping"); err != nil {
		return nil, false, err
	}
	return f.SyncStore.LeaseMapping(ctx, integrationID, model, localID, owner, until)
}
func (f *faultStore) SaveMapping(ctx context.Context, m *integration.Mapping, owner string) error {
	if err := f.w.fault(ctx, "SaveMapping"); err != nil {
		return err
	}
	return f.SyncStore.SaveMapping(ctx, m, owner)
}
func (f *faultStore) ReleaseMapping(ctx context.Context, integrationID, model, localID, owner string) error {
	if err := f.w.fault(ctx, "ReleaseMapping"); err != nil {
		return err
	}
	return f.SyncStore.ReleaseMapping(ctx, integrationID, model, localID, owner)
}
func (f *faultStore) DeleteSyncData(ctx context.Context, integrationID string) error {
	if err := f.w.fault(ctx, "DeleteSyncData"); err != nil {
		return err
	}
	return f.SyncStore.DeleteSyncData(ctx, integrationID)
}

// observe notes which of recs the write just made landed: those stored
// now with the write's stamp and hash. One listing of the records changed
// since the write's first stamp finds them (a request per record would
// double a schedule's requests on DynamoDB).
func (w *world) observe(scope integration.WriteScope, recs []integration.StoredRecord) {
	if len(recs) == 0 {
		return
	}
	type stored struct {
		changed time.Time
		hash    string
	}
	now := map[recKey]stored{}
	from := map[string]time.Time{}
	for _, r := range recs {
		if t, ok := from[r.Model]; !ok || r.ChangedAt.Before(t) {
			from[r.Model] = r.ChangedAt
		}
	}
	for m, t := range from {
		cursor := ""
		for {
			page, next, err := w.raw.ListRecords(context.Background(), integration.RecordQuery{IntegrationID: recs[0].IntegrationID, Model: m,
				ChangedAfter: t.Add(-time.Nanosecond), Limit: 100, Cursor: cursor})
			if err != nil {
				w.noteBug(fmt.Sprintf("list the records just written: %v", err))
				return
			}
			for _, r := range page {
				now[recKey{m, r.ExternalID}] = stored{r.ChangedAt, r.Hash}
			}
			if next == "" {
				break
			}
			cursor = next
		}
	}
	for _, r := range recs {
		k := recKey{r.Model, r.ExternalID}
		// A write stamped before the stored version's changed_at is stored
		// just after it (integration.Supersede: changed_at never goes
		// back), so it is observed at the stamp it got, not the one it
		// carried.
		got, ok := now[k]
		if !ok || got.hash != r.Hash || got.changed.Before(r.ChangedAt) {
			continue
		}
		r.ChangedAt = got.changed
		w.omu.Lock()
		m := w.writes[k]
		if m == nil {
			m = map[int64]obsWrite{}
			w.writes[k] = m
		}
		if _, seen := m[r.ChangedAt.UnixNano()]; !seen {
			// Writes land in the order they are seen (a store call is not
			// interleaved on the embedded store): the platform's
			// modification time of a record never goes back.
			var last obsWrite
			for _, o := range m {
				if o.seq > last.seq {
					last = o
				}
			}
			m[r.ChangedAt.UnixNano()] = obsWrite{deleted: r.Deleted, modified: r.ModifiedAt, seq: len(m) + 1}
			if w.backend == "embedded" && last.seq > 0 && last.modified.After(r.ModifiedAt) && w.bug == "" {
				w.bug = fmt.Sprintf("%s: a write (scope %+v) replaced a record modified at %s by one modified at %s", k, scope, last.modified, r.ModifiedAt)
			}
		}
		w.omu.Unlock()
		w.tracef("  wrote %s deleted=%v modified %s changed %s (scope %s/%s)", k, r.Deleted, shortTime(r.ModifiedAt), shortTime(r.ChangedAt), tail(scope.RunID, 4), scope.JobID)
	}
}

// partial draws whether a BatchWriteItem leaves one of its items
// unprocessed (below 0.5), while faults are on.
func (w *world) partial() float64 {
	if !w.faults.Load() {
		return 1
	}
	w.rmu.Lock()
	defer w.rmu.Unlock()
	v := w.rng.Float64()
	if v < 0.5 {
		w.partials++
	}
	return v
}

// dynamoHook is SDK middleware on the DynamoDB store's client: every
// request of a job is a point where another job may run first and where
// the worker may die. (dynamostore.PartialBatchWrites, before it, has
// BatchWriteItem leave items unprocessed, as DynamoDB does under load.)
func (w *world) dynamoHook(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
	sl := slotOf(ctx)
	w.omu.Lock()
	w.requests++
	if sl == nil {
		w.checkRequests++
	}
	w.omu.Unlock()
	if sl == nil {
		return next.HandleInitialize(ctx, in)
	}
	op := strings.TrimSuffix(strings.TrimPrefix(fmt.Sprintf("%T", in.Parameters), "*dynamodb."), "Input")
	w.yield(ctx, "DynamoDB "+op)
	if !sl.lastTry && w.faults.Load() && w.chance(w.p.pReqFault) {
		if w.chance(0.5) {
			w.tracef("  KILL: the worker dies before DynamoDB %s", op)
			panic("the model test killed the worker before DynamoDB " + op)
		}
		w.tracef("  FAULT: DynamoDB %s fails", op)
		return middleware.InitializeOutput{}, middleware.Metadata{}, fmt.Errorf("DynamoDB %s: the model test failed the request", op)
	}
	if _, ok := in.Parameters.(*dynamodb.TransactWriteItemsInput); ok {
		out, md, err := next.HandleInitialize(ctx, in)
		if err == nil {
			sl.mu.Lock()
			sl.committed = sl.inPut
			sl.mu.Unlock()
		}
		return out, md, err
	}
	return next.HandleInitialize(ctx, in)
}

// Checks.

type snapshot struct {
	recs    map[recKey]integration.StoredRecord
	data    map[recKey]syncer.RecordJSON
	changes map[recKey][]integration.RecordChange
}

// read reads every record (paging, and when thorough each one again
// alone) and the whole outbox, checking the answers agree.
func (w *world) read(stage string, thorough bool) snapshot {
	w.t.Helper()
	ctx := context.Background()
	s := snapshot{recs: map[recKey]integration.StoredRecord{}, data: map[recKey]syncer.RecordJSON{}, changes: map[recKey][]integration.RecordChange{}}
	// Small pages check the paging; when not thorough, large ones save
	// requests.
	recLimit, changeLimit := 7, 5
	if !thorough {
		recLimit, changeLimit = 100, 100
	}
	for _, m := range w.p.models {
		cursor := ""
		var last time.Time
		for pages := 0; ; pages++ {
			recs, next, err := w.raw.ListRecords(ctx, integration.RecordQuery{IntegrationID: w.it.ID, Model: m, Limit: recLimit, Cursor: cursor})
			if err != nil {
				w.fatalf("%s: list records: %v", stage, err)
			}
			if len(recs) > recLimit || pages > 10000 {
				w.fatalf("%s: a page of %d records for a limit of %d", stage, len(recs), recLimit)
			}
			for _, r := range recs {
				k := recKey{m, r.ExternalID}
				if _, dup := s.recs[k]; dup {
					w.fatalf("%s: record %s listed twice", stage, k)
				}
				if r.Model != m || r.IntegrationID != w.it.ID {
					w.fatalf("%s: listing %s gave a record of %s/%s", stage, m, r.IntegrationID, r.Model)
				}
				if r.ChangedAt.Before(last) {
					w.fatalf("%s: records listed out of change order: %s changed %s after one changed %s", stage, k, r.ChangedAt, last)
				}
				last = r.ChangedAt
				if r.Unreadable != "" || r.Data == nil {
					w.fatalf("%s: record %s cannot be read back: %q", stage, k, r.Unreadable)
				}
				if thorough {
					one, err := w.raw.GetRecord(ctx, w.it.ID, m, r.ExternalID)
					if err != nil {
						w.fatalf("%s: get record %s, which the listing has: %v", stage, k, err)
					}
					if one.Hash != r.Hash || one.Deleted != r.Deleted || !one.ChangedAt.Equal(r.ChangedAt) || !one.ModifiedAt.Equal(r.ModifiedAt) || string(one.Data) != string(r.Data) {
						w.fatalf("%s: record %s read alone differs from the listing's:\n%s\n%s", stage, k, recSummary(*one), recSummary(r))
					}
				}
				var d syncer.RecordJSON
				if err := json.Unmarshal(r.Data, &d); err != nil {
					w.fatalf("%s: record %s holds data that is not a record: %v", stage, k, err)
				}
				s.recs[k], s.data[k] = r, d
			}
			if next == "" {
				break
			}
			cursor = next
		}
	}
	cursor := ""
	for pages := 0; ; pages++ {
		cs, next, err := w.raw.ListChanges(ctx, w.it.ID, changeLimit, cursor)
		if err != nil {
			w.fatalf("%s: list changes: %v", stage, err)
		}
		if len(cs) > changeLimit || pages > 100000 {
			w.fatalf("%s: a page of %d changes for a limit of %d", stage, len(cs), changeLimit)
		}
		for _, c := range cs {
			k := recKey{c.Model, c.ExternalID}
			if c.IntegrationID != w.it.ID {
				w.fatalf("%s: the outbox gave a change of integration %q", stage, c.IntegrationID)
			}
			s.changes[k] = append(s.changes[k], c)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	return s
}

func recSummary(r integration.StoredRecord) string {
	var d syncer.RecordJSON
	_ = json.Unmarshal(r.Data, &d)
	mod := "-"
	if d.ModifiedAt != nil {
		mod = d.ModifiedAt.UTC().Format(time.RFC3339)
	}
	return fmt.Sprintf("%s/%s deleted=%v title=%q data modified %s (record modified %s) changed %s hash %.8s",
		r.Model, r.ExternalID, r.Deleted, d.Title, mod, r.ModifiedAt.UTC().Format(time.RFC3339), r.ChangedAt.UTC().Format(time.RFC3339Nano), r.Hash)
}

func (w *world) item(k recKey) *mItem {
	id, err := strconv.Atoi(k.ext)
	if err != nil {
		return nil
	}
	it := w.plat.items[id]
	if it == nil || it.model != k.model {
		return nil
	}
	return it
}

func sameTime(a *time.Time, b time.Time) bool { return a != nil && a.Equal(b) }

// checkConsistent checks what must hold at any time between runs: every
// record is a state its item has had (or, for an item gone for good, one
// of those marked deleted); the outbox has exactly one change per record
// write, of the right type; the platform's clock is ahead of every cursor.
func (w *world) checkConsistent(stage string, thorough bool) snapshot {
	w.t.Helper()
	s := w.read(stage, thorough)
	w.plat.mu.Lock()
	defer w.plat.mu.Unlock()
	keys := make([]recKey, 0, len(s.recs))
	for k := range s.recs {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
	for _, k := range keys {
		r, d := s.recs[k], s.data[k]
		it := w.item(k)
		if it == nil {
			w.fatalf("%s: record %s of an item the platform never had", stage, k)
		}
		if d.ExternalID != k.ext || d.Deleted != r.Deleted {
			w.fatalf("%s: record %s: its data says id %q, deleted %v", stage, recSummary(r), d.ExternalID, d.Deleted)
		}
		if !sameTime(d.ModifiedAt, r.ModifiedAt) {
			w.fatalf("%s: record %s: its ModifiedAt is not its data's modification time", stage, recSummary(r))
		}
		ok := false
		for _, v := range it.versions {
			if v.title == d.Title && v.body == d.BodyHTML && sameTime(d.ModifiedAt, v.modified) && (v.trashed == r.Deleted || (r.Deleted && it.gone)) {
				ok = true
				break
			}
		}
		if !ok {
			w.fatalf("%s: record %s is no state item %d ever had (now: %q modified %s trashed %v gone %v)",
				stage, recSummary(r), it.id, it.title, it.modified.Format(time.RFC3339), it.trashed, it.gone)
		}
	}
	w.checkOutbox(stage, s)
	cursors, err := w.raw.Cursors(context.Background(), w.it.ID)
	if err != nil {
		w.fatalf("%s: cursors: %v", stage, err)
	}
	for m, c := range cursors {
		if c.After(w.plat.stamp()) {
			w.fatalf("%s: the cursor of %s is %s, ahead of the platform's clock (%s): an item changed now would be missed", stage, m, c, w.plat.stamp())
		}
	}
	return s
}

// changeType is the outbox type of a write taking a record from prev to
// deleted: the first write creates it (even deleted); a live record that
// goes is deleted; anything else updates it.
func changeType(prev *bool, deleted bool) string {
	switch {
	case prev == nil:
		return integration.ChangeCreated
	case !*prev && deleted:
		return integration.ChangeDeleted
	}
	return integration.ChangeUpdated
}

func (w *world) checkOutbox(stage string, s snapshot) {
	w.t.Helper()
	w.omu.Lock()
	writes := map[recKey]map[int64]obsWrite{}
	for k, m := range w.writes {
		writes[k] = map[int64]obsWrite{}
		for ns, o := range m {
			writes[k][ns] = o
		}
	}
	w.omu.Unlock()
	writeList := func(k recKey) string {
		var ts []string
		for ns, o := range writes[k] {
			ts = append(ts, fmt.Sprintf("%s deleted=%v #%d", time.Unix(0, ns).UTC().Format(time.RFC3339Nano), o.deleted, o.seq))
		}
		sort.Strings(ts)
		return strings.Join(ts, ", ")
	}
	keys := map[recKey]bool{}
	for k := range s.recs {
		keys[k] = true
	}
	for k := range s.changes {
		keys[k] = true
	}
	for k := range writes {
		keys[k] = true
	}
	sorted := make([]recKey, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].String() < sorted[j].String() })
	for _, k := range sorted {
		r, has := s.recs[k]
		cs, obs := s.changes[k], writes[k]
		if !has {
			w.fatalf("%s: %d outbox changes and %d writes seen for %s, which has no record", stage, len(cs), len(obs), k)
		}
		var prev *bool
		for i, c := range cs {
			if i > 0 && !c.ChangedAt.After(cs[i-1].ChangedAt) {
				w.fatalf("%s: the changes of %s are not in strictly increasing change time: %s then %s", stage, k, cs[i-1].ChangedAt, c.ChangedAt)
			}
			o, ok := obs[c.ChangedAt.UnixNano()]
			if !ok {
				w.fatalf("%s: outbox change %s %s of %s matches no write of the record (%s)", stage, c.Type, c.ChangedAt.Format(time.RFC3339Nano), k, writeList(k))
			}
			if want := changeType(prev, o.deleted); c.Type != want {
				w.fatalf("%s: change %d of %s (%s, deleted=%v) is %q, want %q; changes: %s", stage, i+1, k, c.ChangedAt.Format(time.RFC3339Nano), o.deleted, c.Type, want, changeTypes(cs))
			}
			d := o.deleted
			prev = &d
		}
		if len(cs) != len(obs) {
			w.fatalf("%s: %s was written %d times (%s) but the outbox has %d changes (%s)", stage, k, len(obs), writeList(k), len(cs), changeTypes(cs))
		}
		if len(cs) == 0 {
			w.fatalf("%s: record %s has no outbox change", stage, recSummary(r))
		}
		last := cs[len(cs)-1]
		if !last.ChangedAt.Equal(r.ChangedAt) || *prev != r.Deleted {
			w.fatalf("%s: the last change of %s is %s at %s (deleted=%v) but the record is %s: a write that landed later carried an earlier stamp",
				stage, k, last.Type, last.ChangedAt.Format(time.RFC3339Nano), *prev, recSummary(r))
		}
	}
}

func changeTypes(cs []integration.RecordChange) string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Type+"@"+c.ChangedAt.Format("15:04:05.000000"))
	}
	return strings.Join(out, " ")
}

// checkExact checks, after a quiet run, that the records are the
// platform's: every item that can be read as it is now; with goneDeleted
// (after a full run), items deleted for good deleted or never synced;
// items that can't be read (too large, or failing) in the retry set,
// named by an item_failed event, their records a state they had; nothing
// else in the retry set; counts right; no run still running.
func (w *world) checkExact(stage string, goneDeleted bool) {
	w.t.Helper()
	s := w.checkConsistent(stage, goneDeleted)
	ctx := context.Background()
	w.plat.mu.Lock()
	ids := make([]int, 0, len(w.plat.items))
	for id := range w.plat.items {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	large := map[string]map[string]bool{} // model → ids that can't be read
	for _, m := range w.p.models {
		large[m] = map[string]bool{}
	}
	var problems []string
	for _, id := range ids {
		it := w.plat.items[id]
		k := recKey{it.model, strconv.Itoa(id)}
		r, has := s.recs[k]
		switch {
		case it.gone:
			if goneDeleted && has && !r.Deleted {
				problems = append(problems, fmt.Sprintf("%s is deleted for good but its record is live: %s", k, recSummary(r)))
			}
		case w.plat.unreadable(it):
			large[it.model][k.ext] = true
		case !has:
			problems = append(problems, fmt.Sprintf("%s (%q, trashed %v, modified %s) has no record", k, it.title, it.trashed, it.modified.Format(time.RFC3339)))
		default:
			d := s.data[k]
			if d.Title != it.title || d.BodyHTML != it.body || !sameTime(d.ModifiedAt, it.modified) || r.Deleted != it.trashed || !r.ModifiedAt.Equal(it.modified) {
				problems = append(problems, fmt.Sprintf("%s is %q modified %s trashed %v on the platform, but the record is %s",
					k, it.title, it.modified.Format(time.RFC3339), it.trashed, recSummary(r)))
			}
		}
	}
	w.plat.mu.Unlock()
	if len(problems) > 0 {
		w.fatalf("%s: the records are not the platform's:\n  %s", stage, strings.Join(problems, "\n  "))
	}
	failed := map[recKey]bool{}
	cursor := ""
	for {
		evs, next, err := w.raw.ListEvents(ctx, integration.EventQuery{IntegrationID: w.it.ID, Type: "item_failed", Limit: 100, Cursor: cursor})
		if err != nil {
			w.fatalf("%s: list events: %v", stage, err)
		}
		for _, e := range evs {
			failed[recKey{e.Model, e.ExternalID}] = true
		}
		if next == "" {
			break
		}
		cursor = next
	}
	for _, m := range w.p.models {
		retries, err := w.raw.Retries(ctx, w.it.ID, m, 1000)
		if err != nil {
			w.fatalf("%s: retries of %s: %v", stage, m, err)
		}
		got := make([]string, 0, len(retries))
		for id := range retries {
			got = append(got, id)
		}
		want := make([]string, 0, len(large[m]))
		for id := range large[m] {
			want = append(want, id)
			if !failed[recKey{m, id}] {
				w.fatalf("%s: %s/%s can't be read, and no item_failed event says so", stage, m, id)
			}
		}
		sort.Strings(got)
		sort.Strings(want)
		if strings.Join(got, " ") != strings.Join(want, " ") {
			w.fatalf("%s: the retry set of %s is %v; the items that can't be read are %v", stage, m, retries, want)
		}
		live := int64(0)
		for k, r := range s.recs {
			if k.model == m && !r.Deleted {
				live++
			}
		}
		n, err := w.raw.CountRecords(ctx, w.it.ID, m)
		if err != nil {
			w.fatalf("%s: count %s: %v", stage, m, err)
		}
		if n != live {
			w.fatalf("%s: CountRecords(%s) = %d, but %d records of it are live", stage, m, n, live)
		}
	}
	w.checkRunsFinished()
	w.tracef("== %s: %d records match the platform", stage, len(s.recs))
}
