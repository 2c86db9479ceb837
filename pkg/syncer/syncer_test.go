package syncer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/embedded"
	"github.com/joinery/joinery/pkg/integration"
	"github.com/joinery/joinery/pkg/sqsworker"
	"github.com/joinery/joinery/pkg/syncer"
)

// fakePlatform is a platform listing posts by id, by position (offset and
// limit, like WordPress), whose answers a test can script.
type fakePlatform struct {
	mu       sync.Mutex
	posts    map[int]time.Time // id → modified, on the platform's clock
	pageSize int
	// fail scripts an answer for a page token (the offset listed from):
	// called before the page is served; a non-nil error is the answer.
	fail  func(page string, call int) error
	calls map[string]int
	// skew is the platform's clock less the real one; noDate: its answers
	// carry no clock. served is the clock of each token's last answer.
	skew   time.Duration
	noDate bool
	last   time.Time
	served map[string]time.Time
	// maxAnswer > 0: an answer of more items is refused as too large;
	// large are items too large to be answered even alone.
	maxAnswer int
	large     map[int]bool
	broken    int // an item that can't be read
	hidden    int // an item the listing misses
	// pushes
	creates       int
	rejectUpdates bool
	slugs         map[string]int
	titles        map[int]string
}

func newPlatform(n int) *fakePlatform {
	p := &fakePlatform{posts: map[int]time.Time{}, pageSize: 10, calls: map[string]int{}, slugs: map[string]int{}, titles: map[int]string{},
		served: map[string]time.Time{}, large: map[int]bool{}}
	old := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 1; i <= n; i++ {
		p.posts[i] = old
	}
	return p
}

// nowLocked is the platform's clock; it never stands still, so an edit
// is always after the answer before it.
func (p *fakePlatform) nowLocked() time.Time {
	t := time.Now().UTC().Round(0).Add(p.skew)
	if !t.After(p.last) {
		t = p.last.Add(time.Microsecond)
	}
	p.last = t
	return t
}

func (p *fakePlatform) touch(ids ...int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, id := range ids {
		p.posts[id] = p.nowLocked()
	}
}

func (p *fakePlatform) TestConnection(context.Context, connector.Connection) (connector.TestResult, error) {
	return connector.TestResult{OK: true}, nil
}
func (p *fakePlatform) Structure(context.Context, connector.Connection) (connector.Structure, error) {
	return connector.Structure{ContentTypes: []connector.ContentType{{Name: "post"}}}, nil
}
func (p *fakePlatform) Models() []string              { return []string{"post"} }
func (p *fakePlatform) WindowToken(offset int) string { return strconv.Itoa(offset) }
func (p *fakePlatform) MaxPageSize() int              { return 100 }

// record is post id as the platform answers it.
func (p *fakePlatform) record(id int) integration.Record {
	title := p.titles[id]
	if title == "" {
		title = fmt.Sprintf("Post %d", id)
	}
	return integration.Record{ExternalID: strconv.Itoa(id), Model: "post", Title: title, ModifiedAt: p.posts[id]}
}

// window is the ids listed at a page token, and how many are listed.
func (p *fakePlatform) window(req connector.ListRequest) (string, []int, int) {
	token := req.Page
	if token == "" {
		token = "0"
	}
	offset, _ := strconv.Atoi(token)
	limit := req.PageSize
	if limit <= 0 {
		limit = p.pageSize
	}
	var ids []int
	for id, mod := range p.posts {
		if id != p.hidden && (req.ModifiedAfter.IsZero() || mod.After(req.ModifiedAfter)) {
			ids = append(ids, id)
		}
	}
	sort.Ints(ids)
	return token, ids[min(offset, len(ids)):min(offset+limit, len(ids))], len(ids)
}

func (p *fakePlatform) List(_ context.Context, _ connector.Connection, req connector.ListRequest) (connector.ListPage, error) {
	p.mu.Lock()
	token, _, _ := p.window(req)
	p.calls[token]++
	call := p.calls[token]
	fail := p.fail
	p.mu.Unlock()
	if fail != nil {
		if err := fail(token, call); err != nil {
			return connector.ListPage{}, err
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ids, total := p.window(req)
	if (p.maxAnswer > 0 && len(ids) > p.maxAnswer) || slices.ContainsFunc(ids, func(id int) bool { return p.large[id] }) {
		return connector.ListPage{}, &connector.Error{Kind: connector.ErrTooLarge, Message: "The answer is larger than Joinery reads."}
	}
	out := connector.ListPage{Total: total, TotalPages: -1}
	if !p.noDate {
		out.ServerTime = p.nowLocked()
		p.served[token] = out.ServerTime
	}
	for _, id := range ids {
		if id == p.broken {
			out.Failed = append(out.Failed, connector.ItemFailure{ExternalID: strconv.Itoa(id), Message: "unreadable"})
			continue
		}
		out.Records = append(out.Records, p.record(id))
	}
	offset, _ := strconv.Atoi(token)
	if end := offset + len(ids); end < total {
		out.NextPage = strconv.Itoa(end)
	}
	return out, nil
}

func (p *fakePlatform) ListIDs(_ context.Context, _ connector.Connection, req connector.ListRequest) ([]string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ids, _ := p.window(req)
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = strconv.Itoa(id)
	}
	return out, nil
}

func (p *fakePlatform) Create(_ context.Context, _ connector.Connection, r integration.Record) (integration.Record, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.creates++
	id := 1000 + p.creates
	p.posts[id] = p.nowLocked()
	if p.slugs == nil {
		p.slugs = map[string]int{}
	}
	p.slugs[r.Slug] = id
	r.ExternalID = strconv.Itoa(id)
	return r, nil
}
func (p *fakePlatform) Update(_ context.Context, _ connector.Connection, r integration.Record) (integration.Record, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.rejectUpdates {
		return integration.Record{}, &connector.Error{Kind: connector.ErrInvalid, Status: 400, Message: "WordPress rejected the post."}
	}
	id, _ := strconv.Atoi(r.ExternalID)
	if _, ok := p.posts[id]; !ok {
		return integration.Record{}, &connector.Error{Kind: connector.ErrNotFound, Message: "no such post"}
	}
	p.posts[id] = p.nowLocked()
	for slug, sid := range p.slugs {
		if sid == id {
			delete(p.slugs, slug)
		}
	}
	p.slugs[r.Slug] = id
	p.titles[id] = r.Title
	r.ModifiedAt = p.posts[id]
	return r, nil
}
func (p *fakePlatform) PushModels() []string { return []string{"post"} }
func (p *fakePlatform) EnsureTerm(_ context.Context, _ connector.Connection, model, name string) (integration.Term, error) {
	return integration.Term{ExternalID: model + ":" + name, Name: name}, nil
}
func (p *fakePlatform) Get(_ context.Context, _ connector.Connection, model, ext string) (integration.Record, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	id, _ := strconv.Atoi(ext)
	if _, ok := p.posts[id]; !ok {
		return integration.Record{}, &connector.Error{Kind: connector.ErrNotFound, Message: "no such post"}
	}
	if p.large[id] {
		return integration.Record{}, &connector.Error{Kind: connector.ErrTooLarge, Message: "The answer is larger than Joinery reads."}
	}
	return p.record(id), nil
}
func (p *fakePlatform) FindBySlug(_ context.Context, _ connector.Connection, model, slug string) (integration.Record, bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	id, ok := p.slugs[slug]
	return integration.Record{ExternalID: strconv.Itoa(id), Model: model}, ok, nil
}
func (p *fakePlatform) Delete(context.Context, connector.Connection, string, string, bool) error {
	return fmt.Errorf("not supported")
}

// flakyStore fails CompleteJob once for one job: the worker "dies" after
// writing the page's records and before counting the job done.
type flakyStore struct {
	integration.SyncStore
	job    string
	failed atomic.Bool
}

func (f *flakyStore) CompleteJob(ctx context.Context, integrationID, runID, jobID string, res integration.JobResult) (*integration.Run, bool, error) {
	if jobID == f.job && f.failed.CompareAndSwap(false, true) {
		return nil, false, fmt.Errorf("worker died")
	}
	return f.SyncStore.CompleteJob(ctx, integrationID, runID, jobID, res)
}

// dupQueue delivers every message twice.
type dupQueue struct{ integration.Queue }

func (d dupQueue) Send(ctx context.Context, msgs []integration.Message) error {
	return d.Queue.Send(ctx, append(append([]integration.Message{}, msgs...), msgs...))
}

type harness struct {
	t        *testing.T
	store    *embedded.Store
	queue    *embedded.Queue
	service  *integration.Service
	engine   *syncer.Engine
	platform *fakePlatform
	mem      *memQueue // the queue of a direct harness
	it       *integration.Integration
	actor    integration.Actor
}

func newHarness(t *testing.T, platform *fakePlatform) *harness {
	t.Helper()
	dir := t.TempDir()
	store, err := embedded.OpenStore(filepath.Join(dir, "joinery.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	secrets, err := embedded.OpenSecrets(filepath.Join(dir, "secrets"))
	if err != nil {
		t.Fatal(err)
	}
	svc := &integration.Service{Store: store, Secrets: secrets, Catalog: connector.NewCatalog(), SyncData: store}
	q := embedded.NewQueue(embedded.QueueOptions{VisibilityTimeout: 500 * time.Millisecond, MaxReceives: 3})
	h := &harness{t: t, store: store, queue: q, service: svc, platform: platform,
		actor: integration.Actor{Subject: "u", AccountID: "acct-1", Role: integration.RoleEditor}}
	h.engine = &syncer.Engine{Integrations: svc, Store: store, Queue: q, Connectors: map[string]connector.Connector{"wordpress": platform},
		MaxReceives: 3, Backoff: func(int, time.Duration) time.Duration { return 50 * time.Millisecond }, Limits: &syncer.Limits{}, PageSize: 10}
	h.it, err = svc.Create(context.Background(), h.actor, integration.CreateInput{SiteID: "site-1", Platform: "wordpress",
		ExternalSiteURL: "https://blog.example.com", Credentials: map[string]string{"username": "u", "app_password": "secret pass"}})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// sync starts a run and consumes the queue until the run has finished.
func (h *harness) sync(in syncer.StartInput) *integration.Run {
	h.t.Helper()
	run, started, err := h.engine.Start(context.Background(), h.actor, h.it.ID, in)
	if err != nil || !started {
		h.t.Fatalf("start: %v (started %v)", err, started)
	}
	return h.wait(run.ID)
}

func (h *harness) wait(runID string) *integration.Run {
	h.t.Helper()
	w := &sqsworker.Worker{Engine: h.engine, Visibility: h.queue, Log: slog.New(slog.NewTextHandler(logOut, nil))}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = h.queue.Consume(ctx, w.Handle) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		run, err := h.store.GetRun(context.Background(), h.it.ID, runID)
		if err != nil {
			h.t.Fatal(err)
		}
		if !run.Active() {
			// Let any duplicate deliveries still queued run too.
			time.Sleep(100 * time.Millisecond)
			return run
		}
		time.Sleep(20 * time.Millisecond)
	}
	h.t.Fatalf("run %s did not finish", runID)
	return nil
}

func (h *harness) records() map[string]integration.StoredRecord {
	h.t.Helper()
	out := map[string]integration.StoredRecord{}
	cursor := ""
	for {
		recs, next, err := h.store.ListRecords(context.Background(), integration.RecordQuery{IntegrationID: h.it.ID, Model: "post", Limit: 100, Cursor: cursor})
		if err != nil {
			h.t.Fatal(err)
		}
		for _, r := range recs {
			if _, dup := out[r.ExternalID]; dup {
				h.t.Fatalf("record %s listed twice", r.ExternalID)
			}
			out[r.ExternalID] = r
		}
		if next == "" {
			return out
		}
		cursor = next
	}
}

func (h *harness) events(typ string) []integration.SyncEvent {
	h.t.Helper()
	evs, _, err := h.store.ListEvents(context.Background(), integration.EventQuery{IntegrationID: h.it.ID, Type: typ, Limit: 100})
	if err != nil {
		h.t.Fatal(err)
	}
	return evs
}

func (h *harness) integration() *integration.Integration {
	h.t.Helper()
	it, err := h.service.Get(context.Background(), h.actor, h.it.ID)
	if err != nil {
		h.t.Fatal(err)
	}
	return it
}

var logOut io.Writer = io.Discard

var pull = syncer.StartInput{Direction: integration.DirectionFromExternal}

func TestPullThenIncremental(t *testing.T) {
	h := newHarness(t, newPlatform(35))
	run := h.sync(pull)
	if run.Status != integration.RunCompleted || run.Progress.PagesDone != 4 || run.Progress.PagesTotal != 4 ||
		run.Progress.ItemsSeen != 35 || run.Progress.ItemsWritten != 35 || run.JobsDone != run.JobsTotal {
		t.Fatalf("first run: %+v", run)
	}
	if n := len(h.records()); n != 35 {
		t.Fatalf("%d records, want 35", n)
	}
	it := h.integration()
	if it.SyncStatus != integration.SyncCompleted || it.LastSyncAt == nil || it.SyncError != "" {
		t.Fatalf("integration after the run: %s %v %q", it.SyncStatus, it.LastSyncAt, it.SyncError)
	}
	// Nothing changed: the incremental run lists nothing new, writes nothing.
	run = h.sync(pull)
	if run.Status != integration.RunCompleted || run.Progress.ItemsWritten != 0 {
		t.Fatalf("second run: %+v", run)
	}
	// A full run reads everything again and still writes nothing.
	run = h.sync(syncer.StartInput{Direction: integration.DirectionFromExternal, Full: true})
	if run.Progress.ItemsSeen != 35 || run.Progress.ItemsWritten != 0 {
		t.Fatalf("full re-run: %+v", run.Progress)
	}
	h.platform.touch(3, 17, 33)
	run = h.sync(pull)
	if run.Progress.ItemsSeen != 3 || run.Progress.ItemsWritten != 3 {
		t.Fatalf("after editing 3 posts: %+v", run.Progress)
	}
	// Gone from the platform: marked deleted by a full run, only.
	h.platform.mu.Lock()
	delete(h.platform.posts, 20)
	h.platform.mu.Unlock()
	h.sync(pull)
	if h.records()["20"].Deleted {
		t.Fatal("an incremental run marked a record deleted")
	}
	h.sync(syncer.StartInput{Direction: integration.DirectionFromExternal, Full: true})
	recs := h.records()
	if !recs["20"].Deleted || recs["19"].Deleted || len(recs) != 35 {
		t.Fatalf("after a full run: 20 deleted=%v, 19 deleted=%v, %d records", recs["20"].Deleted, recs["19"].Deleted, len(recs))
	}
	var body map[string]any
	if err := json.Unmarshal(recs["20"].Data, &body); err != nil || body["deleted"] != true || body["title"] != "Post 20" {
		t.Fatalf("deleted record: %s", recs["20"].Data)
	}
}

func TestOneActiveRunPerIntegration(t *testing.T) {
	h := newHarness(t, newPlatform(5))
	first, started, err := h.engine.Start(context.Background(), h.actor, h.it.ID, pull)
	if err != nil || !started {
		t.Fatal(err)
	}
	second, started, err := h.engine.Start(context.Background(), h.actor, h.it.ID, pull)
	if err != nil || started || second.ID != first.ID {
		t.Fatalf("second start: %v %v %v", second, started, err)
	}
	h.wait(first.ID)
	third, started, err := h.engine.Start(context.Background(), h.actor, h.it.ID, pull)
	if err != nil || !started || third.ID == first.ID {
		t.Fatalf("after the first finished: %v %v", started, err)
	}
	h.wait(third.ID)
}

func TestDuplicateDeliveries(t *testing.T) {
	h := newHarness(t, newPlatform(35))
	h.engine.Queue = dupQueue{h.queue}
	run := h.sync(pull)
	if run.Status != integration.RunCompleted || run.JobsDone != run.JobsTotal || run.JobsTotal != 4 || run.Progress.ItemsSeen != 35 {
		t.Fatalf("run: %+v", run)
	}
	time.Sleep(300 * time.Millisecond)
	if n := len(h.records()); n != 35 {
		t.Fatalf("%d records, want 35", n)
	}
	if n := len(h.events("run_finished")); n != 1 {
		t.Fatalf("%d run_finished events, want 1", n)
	}
}

func TestWorkerDiesMidPage(t *testing.T) {
	h := newHarness(t, newPlatform(35))
	flaky := &flakyStore{SyncStore: h.store, job: "post/3"}
	h.engine.Store = flaky
	run := h.sync(pull)
	if !flaky.failed.Load() || run.Status != integration.RunCompleted || h.platform.calls["19"] != 2 {
		t.Fatalf("run: %+v; page 3 listed %d times", run, h.platform.calls["19"])
	}
	if n := len(h.records()); n != 35 {
		t.Fatalf("%d records, want 35", n)
	}
}

func TestRateLimitedThenOK(t *testing.T) {
	h := newHarness(t, newPlatform(35))
	h.engine.Backoff = syncer.Backoff
	h.platform.fail = func(page string, call int) error {
		if page == "9" && call == 1 {
			return &connector.Error{Kind: connector.ErrRateLimited, Status: 429, Message: "rate limited", RetryAfter: time.Second}
		}
		return nil
	}
	h.engine.Backoff = func(attempt int, ra time.Duration) time.Duration { return max(ra, 50*time.Millisecond) }
	start := time.Now()
	run := h.sync(pull)
	if run.Status != integration.RunCompleted || len(h.records()) != 35 || h.platform.calls["9"] != 2 {
		t.Fatalf("run %+v; page 2 listed %d times", run, h.platform.calls["9"])
	}
	if d := time.Since(start); d < time.Second {
		t.Fatalf("finished in %s: Retry-After (1s) was not honoured", d)
	}
	if n := len(h.events("job_retry")); n != 1 {
		t.Fatalf("%d job_retry events, want 1", n)
	}
}

func TestServerErrorForever(t *testing.T) {
	h := newHarness(t, newPlatform(35))
	h.platform.fail = func(page string, _ int) error {
		if page == "19" {
			return &connector.Error{Kind: connector.ErrUnavailable, Status: 500, Message: "WordPress answered HTTP 500."}
		}
		return nil
	}
	run := h.sync(pull)
	if run.Status != integration.RunError || !strings.Contains(run.Error, "post items 20-30 failed 3 times") || !strings.Contains(run.Error, "HTTP 500") {
		t.Fatalf("run: %s %q", run.Status, run.Error)
	}
	it := h.integration()
	if it.SyncStatus != integration.SyncError || it.SyncError != run.Error {
		t.Fatalf("integration: %s %q", it.SyncStatus, it.SyncError)
	}
	var dead []string
	for deadline := time.Now().Add(5 * time.Second); len(dead) == 0 && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		dead, _ = h.queue.DeadLetters(context.Background())
	}
	if len(dead) != 1 || !strings.Contains(dead[0], `"page":"19"`) {
		t.Fatalf("dead letters: %v", dead)
	}
	if h.platform.calls["19"] != 3 {
		t.Fatalf("page 3 listed %d times, want 3 (max receives)", h.platform.calls["19"])
	}
	// The cursor did not move: the next run reads everything again.
	cursors, _ := h.store.Cursors(context.Background(), h.it.ID)
	if len(cursors) != 0 {
		t.Fatalf("a failed run advanced the cursor: %v", cursors)
	}
}

func TestAuthFailureMidRun(t *testing.T) {
	h := newHarness(t, newPlatform(35))
	h.platform.fail = func(page string, _ int) error {
		if page == "9" {
			return &connector.Error{Kind: connector.ErrAuth, Status: 401, Message: "WordPress rejected the Application Password."}
		}
		return nil
	}
	run := h.sync(pull)
	if run.Status != integration.RunError || !strings.Contains(run.Error, "Application Password") {
		t.Fatalf("run: %s %q", run.Status, run.Error)
	}
	time.Sleep(700 * time.Millisecond) // longer than the visibility timeout
	if h.platform.calls["9"] != 1 {
		t.Fatalf("page 2 listed %d times: an auth failure must not be retried", h.platform.calls["9"])
	}
	it := h.integration()
	if it.ConnectionStatus != integration.ConnectionReauthorizationNeeded || it.SyncStatus != integration.SyncError {
		t.Fatalf("integration: connection %s, sync %s", it.ConnectionStatus, it.SyncStatus)
	}
	if dead, _ := h.queue.DeadLetters(context.Background()); len(dead) != 0 {
		t.Fatalf("dead letters: %v", dead)
	}
}

func TestDeleteRemovesSyncData(t *testing.T) {
	h := newHarness(t, newPlatform(12))
	h.sync(pull)
	if err := h.service.Delete(context.Background(), h.actor, h.it.ID, nil); err != nil {
		t.Fatal(err)
	}
	recs, _, _ := h.store.ListRecords(context.Background(), integration.RecordQuery{IntegrationID: h.it.ID, Model: "post", Limit: 100})
	evs, _, _ := h.store.ListEvents(context.Background(), integration.EventQuery{IntegrationID: h.it.ID, Limit: 100})
	if _, err := h.store.LatestRun(context.Background(), h.it.ID); integration.ErrorCode(err) != integration.ENOTFOUND || len(recs) != 0 || len(evs) != 0 {
		t.Fatalf("left behind: run %v, %d records, %d events", err, len(recs), len(evs))
	}
}

// flakyMappings fails the first SaveMapping after the item was created: the
// worker dies before it could remember the item's id.
type flakyMappings struct {
	integration.SyncStore
	failed atomic.Bool
}

func (f *flakyMappings) SaveMapping(ctx context.Context, m *integration.Mapping, owner string) error {
	if m.ExternalID != "" && f.failed.CompareAndSwap(false, true) {
		return fmt.Errorf("worker died")
	}
	return f.SyncStore.SaveMapping(ctx, m, owner)
}

func (h *harness) push(localID, title string) *integration.Push {
	h.t.Helper()
	p, err := h.engine.Push(context.Background(), h.actor, h.it.ID, "post", localID, syncer.PushData{Title: syncer.Val(title), Status: syncer.Val("publish"), Categories: syncer.Val([]string{"News"})})
	if err != nil {
		h.t.Fatal(err)
	}
	return p
}

// drain runs the queue until every push is applied.
func (h *harness) drain(ids ...string) map[string]*integration.Push {
	h.t.Helper()
	w := &sqsworker.Worker{Engine: h.engine, Visibility: h.queue, Log: slog.New(slog.NewTextHandler(logOut, nil))}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = h.queue.Consume(ctx, w.Handle) }()
	defer func() { cancel(); <-done }()
	out := map[string]*integration.Push{}
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		pending := 0
		for _, id := range ids {
			p, err := h.store.GetPush(context.Background(), h.it.ID, id)
			if err != nil {
				h.t.Fatal(err)
			}
			out[id] = p
			if p.Status == integration.PushQueued {
				pending++
			}
		}
		if pending == 0 {
			time.Sleep(100 * time.Millisecond) // let duplicates run too
			return out
		}
	}
	h.t.Fatal("pushes still queued")
	return nil
}

func TestPushesApplyInOrderOnce(t *testing.T) {
	h := newHarness(t, newPlatform(0))
	h.engine.Queue = dupQueue{h.queue} // every push job delivered twice
	var ids []string
	for i := 1; i <= 5; i++ {
		ids = append(ids, h.push("article-1", fmt.Sprintf("v%d", i)).ID)
	}
	other := h.push("article-2", "other").ID
	got := h.drain(append(ids, other)...)
	for i, id := range ids {
		if got[id].Status != integration.PushDone || got[id].ExternalID != "1001" || got[id].Seq != int64(i+1) {
			t.Fatalf("push %d: %+v", i+1, got[id])
		}
	}
	if h.platform.creates != 2 || h.platform.titles[1001] != "v5" || got[other].ExternalID != "1002" {
		t.Fatalf("%d items created (want 2), article-1 is %q (want the last push, v5)", h.platform.creates, h.platform.titles[1001])
	}
	rec, err := h.store.GetRecord(context.Background(), h.it.ID, "post", "1001")
	if err != nil || !strings.Contains(string(rec.Data), `"v5"`) {
		t.Fatalf("the pushed record: %v %v", rec, err)
	}
}

func TestPushRetriedAfterACrashCreatesNoSecondItem(t *testing.T) {
	h := newHarness(t, newPlatform(0))
	flaky := &flakyMappings{SyncStore: h.store}
	h.engine.Store = flaky
	p := h.push("article-9", "once")
	got := h.drain(p.ID)
	if !flaky.failed.Load() || got[p.ID].Status != integration.PushDone || h.platform.creates != 1 || got[p.ID].ExternalID != "1001" {
		t.Fatalf("push %+v; %d items created, want 1", got[p.ID], h.platform.creates)
	}
}

func TestPushConflictPolicies(t *testing.T) {
	for _, policy := range []string{"remote_wins", "local_wins", "manual"} {
		t.Run(policy, func(t *testing.T) {
			h := newHarness(t, newPlatform(0))
			if _, err := h.service.Update(context.Background(), h.actor, h.it.ID, integration.PatchInput{ConfigPatch: map[string]any{"conflict_policy": policy}}); err != nil {
				t.Fatal(err)
			}
			first := h.push("a", "mine 1")
			h.drain(first.ID)
			time.Sleep(5 * time.Millisecond)
			h.platform.mu.Lock()
			h.platform.posts[1001], h.platform.titles[1001] = time.Now().UTC(), "theirs"
			h.platform.mu.Unlock()
			second := h.push("a", "mine 2")
			got := h.drain(second.ID)[second.ID]
			rec, _ := h.store.GetRecord(context.Background(), h.it.ID, "post", "1001")
			switch policy {
			case "local_wins":
				if got.Status != integration.PushDone || h.platform.titles[1001] != "mine 2" {
					t.Fatalf("%+v, platform has %q", got, h.platform.titles[1001])
				}
			case "remote_wins":
				if got.Status != integration.PushConflict || h.platform.titles[1001] != "theirs" || !strings.Contains(string(rec.Data), `"theirs"`) {
					t.Fatalf("%+v, platform has %q, record %s", got, h.platform.titles[1001], rec.Data)
				}
			case "manual":
				if got.Status != integration.PushConflict || h.platform.titles[1001] != "theirs" || !strings.Contains(string(rec.Data), `"mine 1"`) {
					t.Fatalf("%+v, platform has %q, record %s", got, h.platform.titles[1001], rec.Data)
				}
				if n := len(h.events("conflict")); n != 1 {
					t.Fatalf("%d conflict events", n)
				}
			}
			if policy == "manual" {
				return // the next push waits for the conflict's resolution: TestManualConflictResolves
			}
			// The conflict is settled: the next push applies.
			third := h.push("a", "mine 3")
			if got := h.drain(third.ID)[third.ID]; got.Status != integration.PushDone || h.platform.titles[1001] != "mine 3" {
				t.Fatalf("the push after the conflict: %+v, platform has %q", got, h.platform.titles[1001])
			}
		})
	}
}

func TestSchedulerStartsDueSyncs(t *testing.T) {
	h := newHarness(t, newPlatform(12))
	ctx := context.Background()
	clock := time.Now().UTC()
	h.service.Now = func() time.Time { return clock }
	h.engine.Now = func() time.Time { return clock }
	interval := 15
	enabled := true
	it, err := h.service.Update(ctx, h.actor, h.it.ID, integration.PatchInput{SyncEnabled: &enabled, SyncIntervalMinutes: &interval})
	if err != nil || it.NextSyncAt == nil || !it.NextSyncAt.Equal(clock.Add(15*time.Minute)) {
		t.Fatalf("next sync after enabling: %v %v", it.NextSyncAt, err)
	}
	if n, err := h.engine.Tick(ctx); err != nil || n != 0 {
		t.Fatalf("tick before due: %d %v", n, err)
	}
	clock = clock.Add(16 * time.Minute)
	if n, err := h.engine.Tick(ctx); err != nil || n != 1 {
		t.Fatalf("tick when due: %d %v", n, err)
	}
	it = h.integration()
	if it.NextSyncAt == nil || !it.NextSyncAt.Equal(clock.Add(15*time.Minute)) {
		t.Fatalf("next sync after the tick: %v", it.NextSyncAt)
	}
	if n, _ := h.engine.Tick(ctx); n != 0 {
		t.Fatalf("a second tick started %d runs", n)
	}
	run, err := h.store.LatestRun(ctx, h.it.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got := h.wait(run.ID); got.Status != integration.RunCompleted || got.Progress.ItemsWritten != 12 {
		t.Fatalf("scheduled run: %+v", got)
	}
	disabled := false
	if it, _ := h.service.Update(ctx, h.actor, h.it.ID, integration.PatchInput{SyncEnabled: &disabled}); it.NextSyncAt != nil {
		t.Fatalf("disabled, still scheduled at %v", it.NextSyncAt)
	}
}

func TestToExternalPushesFailedAgain(t *testing.T) {
	h := newHarness(t, newPlatform(0))
	h.platform.rejectUpdates = true
	p := h.push("article-5", "try me")
	if got := h.drain(p.ID)[p.ID]; got.Status != integration.PushFailed || !strings.Contains(got.Error, "rejected") {
		t.Fatalf("push: %+v", got)
	}
	h.platform.mu.Lock()
	h.platform.rejectUpdates = false
	h.platform.mu.Unlock()
	run := h.sync(syncer.StartInput{Direction: integration.DirectionToExternal})
	if run.Status != integration.RunCompleted || run.Progress.ItemsSeen != 1 {
		t.Fatalf("to_external run: %+v", run)
	}
	again, err := h.store.PushBySeq(context.Background(), h.it.ID, "post", "article-5", 2)
	if err != nil {
		t.Fatal(err)
	}
	if got := h.drain(again.ID)[again.ID]; got.Status != integration.PushDone || h.platform.titles[1001] != "try me" || h.platform.creates != 1 {
		t.Fatalf("pushed again: %+v; %d created", got, h.platform.creates)
	}
}

func TestAJobThatPanicsEndsItsRunOnItsLastDelivery(t *testing.T) {
	h := newHarness(t, newPlatform(35))
	h.platform.fail = func(page string, _ int) error {
		if page == "9" {
			panic("a bug")
		}
		return nil
	}
	run := h.sync(pull)
	if run.Status != integration.RunError || !strings.Contains(run.Error, "post/2 could not be run") || h.platform.calls["9"] != 3 {
		t.Fatalf("run: %s %q; page 2 tried %d times", run.Status, run.Error, h.platform.calls["9"])
	}
}

func TestAnUnreadableItemFailsAloneAndIsNeverMarkedDeleted(t *testing.T) {
	h := newHarness(t, newPlatform(25))
	h.sync(pull)
	h.platform.mu.Lock()
	h.platform.broken = 12
	h.platform.mu.Unlock()
	run := h.sync(syncer.StartInput{Direction: integration.DirectionFromExternal, Full: true})
	if run.Status != integration.RunCompleted || run.Progress.ItemsFailed != 1 || run.Progress.ItemsSeen != 25 {
		t.Fatalf("run: %s %+v", run.Status, run.Progress)
	}
	if recs := h.records(); recs["12"].Deleted || len(recs) != 25 {
		t.Fatalf("the unreadable item's record: %+v", recs["12"])
	}
	evs := h.events("item_failed")
	if len(evs) != 1 || evs[0].ExternalID != "12" || evs[0].Status != "error" {
		t.Fatalf("item_failed events: %+v", evs)
	}
}

func (p *fakePlatform) Exists(_ context.Context, _ connector.Connection, _, ext string) (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	id, _ := strconv.Atoi(ext)
	_, ok := p.posts[id]
	return ok, nil
}

func TestAnItemTheListingMissedIsNotMarkedDeleted(t *testing.T) {
	h := newHarness(t, newPlatform(25))
	h.sync(pull)
	h.platform.mu.Lock()
	h.platform.hidden = 7
	h.platform.mu.Unlock()
	h.sync(syncer.StartInput{Direction: integration.DirectionFromExternal, Full: true})
	if h.records()["7"].Deleted {
		t.Fatal("an item that still exists was marked deleted")
	}
}

// failFirstFanOut fails the first send of page jobs, then lets a hook run.
type failFirstFanOut struct {
	integration.Queue
	failed atomic.Bool
	then   func()
}

func (f *failFirstFanOut) Send(ctx context.Context, msgs []integration.Message) error {
	if len(msgs) > 1 && f.failed.CompareAndSwap(false, true) {
		f.then()
		return fmt.Errorf("queue unavailable")
	}
	return f.Queue.Send(ctx, msgs)
}

func TestAReplayedPlanSendsThePagesItCounted(t *testing.T) {
	h := newHarness(t, newPlatform(35))
	// The plan's fan-out fails; by its redelivery the site has grown by
	// 15 posts (two more pages).
	h.engine.Queue = &failFirstFanOut{Queue: h.queue, then: func() {
		h.platform.mu.Lock()
		for id := 36; id <= 50; id++ {
			h.platform.posts[id] = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		}
		h.platform.mu.Unlock()
	}}
	run := h.sync(pull)
	if run.Status != integration.RunCompleted || run.JobsDone != run.JobsTotal {
		t.Fatalf("run: %s, %d of %d jobs", run.Status, run.JobsDone, run.JobsTotal)
	}
	if n := len(h.records()); n != 50 {
		t.Fatalf("%d records, want 50: the last planned page reads on while there are more", n)
	}
}

func TestDeleteHandsTheSyncDataToTheWorkers(t *testing.T) {
	h := newHarness(t, newPlatform(12))
	h.service.PurgeLater = h.engine.QueuePurge
	h.sync(pull)
	if err := h.service.Delete(context.Background(), h.actor, h.it.ID, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := h.service.Get(context.Background(), h.actor, h.it.ID); integration.ErrorCode(err) != integration.ENOTFOUND {
		t.Fatalf("the integration after delete: %v", err)
	}
	w := &sqsworker.Worker{Engine: h.engine, Visibility: h.queue}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = h.queue.Consume(ctx, w.Handle) }()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		recs, _, _ := h.store.ListRecords(context.Background(), integration.RecordQuery{IntegrationID: h.it.ID, Model: "post", Limit: 10})
		if _, err := h.store.LatestRun(context.Background(), h.it.ID); len(recs) == 0 && integration.ErrorCode(err) == integration.ENOTFOUND {
			return
		}
	}
	t.Fatal("the sync data was not removed")
}

// memQueue keeps the messages sent, for drive to deliver one at a time.
type memQueue struct {
	mu   sync.Mutex
	msgs []delivery
}

type delivery struct {
	body    string
	attempt int
}

func (q *memQueue) Send(_ context.Context, msgs []integration.Message) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, m := range msgs {
		q.msgs = append(q.msgs, delivery{m.Body, 1})
	}
	return nil
}

func (q *memQueue) pop() (delivery, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.msgs) == 0 {
		return delivery{}, false
	}
	d := q.msgs[0]
	q.msgs = q.msgs[1:]
	return d, true
}

func (q *memQueue) again(d delivery) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.msgs = append(q.msgs, delivery{d.body, d.attempt + 1})
}

// newDirectHarness is a harness whose jobs run one at a time, in the
// order they were sent, in the test's own goroutine: no waiting, and the
// platform's hooks see a known order.
func newDirectHarness(t *testing.T, platform *fakePlatform) *harness {
	h := newHarness(t, platform)
	h.mem = &memQueue{}
	h.engine.Queue = h.mem
	return h
}

// drive delivers queued jobs until there are none, redelivering failed
// ones (at once) up to MaxReceives, and returns the failures.
func (h *harness) drive() []error {
	h.t.Helper()
	var errs []error
	for n := 0; ; n++ {
		if n > 10000 {
			h.t.Fatal("the jobs never ran out")
		}
		d, ok := h.mem.pop()
		if !ok {
			return errs
		}
		var job syncer.Job
		if err := json.Unmarshal([]byte(d.body), &job); err != nil {
			h.t.Fatal(err)
		}
		err := h.engine.Handle(context.Background(), job, d.attempt)
		if err == nil {
			continue
		}
		errs = append(errs, fmt.Errorf("job %s, delivery %d: %w", job.JobID, d.attempt, err))
		if d.attempt < h.engine.MaxReceives {
			h.mem.again(d)
		} else {
			h.engine.Abandon(context.Background(), job, "failed")
		}
	}
}

// runNow starts a run, runs its jobs and returns it finished.
func (h *harness) runNow(in syncer.StartInput) *integration.Run {
	h.t.Helper()
	run, started, err := h.engine.Start(context.Background(), h.actor, h.it.ID, in)
	if err != nil || !started {
		h.t.Fatalf("start: %v (started %v)", err, started)
	}
	if errs := h.drive(); len(errs) > 0 {
		h.t.Logf("failed deliveries: %v", errs)
	}
	run, err = h.store.GetRun(context.Background(), h.it.ID, run.ID)
	if err != nil {
		h.t.Fatal(err)
	}
	if run.Active() {
		h.t.Fatalf("run %s is still running with no job left: %+v", run.ID, run)
	}
	return run
}

func (h *harness) cursor() time.Time {
	h.t.Helper()
	cursors, err := h.store.Cursors(context.Background(), h.it.ID)
	if err != nil {
		h.t.Fatal(err)
	}
	return cursors["post"]
}

var full = syncer.StartInput{Direction: integration.DirectionFromExternal, Full: true}

func TestADeleteBalancedByAnInsertKeepsTheCursor(t *testing.T) {
	h := newDirectHarness(t, newPlatform(35))
	h.runNow(full)
	before := h.cursor()
	// Every post edited: the incremental run lists all 35, in 4 pages.
	h.platform.touch(slices.Collect(func(yield func(int) bool) {
		for id := 1; id <= 35; id++ {
			yield(id)
		}
	})...)
	edited := h.platform.posts[11]
	// Once the first page is read, posts 3 and 4 (on it) go and posts 36
	// and 37 come: the count stays at 35, but every later post moves two
	// places up, so post 11 slips onto the page already read.
	h.platform.fail = func(page string, call int) error {
		if page == "9" && call == 2 {
			h.platform.mu.Lock()
			delete(h.platform.posts, 3)
			delete(h.platform.posts, 4)
			h.platform.mu.Unlock()
			h.platform.touch(36, 37)
		}
		return nil
	}
	run := h.runNow(pull)
	if run.Status != integration.RunCompleted {
		t.Fatalf("run: %s %q", run.Status, run.Error)
	}
	if got := h.records()["11"]; got.ModifiedAt.Equal(edited) {
		t.Fatal("post 11 was read after all; the test no longer shifts the listing")
	}
	if c := h.cursor(); !c.Equal(before) {
		t.Fatalf("the cursor moved from %v to %v over a shifted listing", before, c)
	}
	if evs := h.events("listing_shifted"); len(evs) != 1 || evs[0].Status != "warning" || evs[0].Model != "post" {
		t.Fatalf("listing_shifted events: %+v", evs)
	}
	h.platform.fail = nil
	h.runNow(pull)
	if got := h.records()["11"]; !got.ModifiedAt.Equal(edited) {
		t.Fatalf("the next run did not pick post 11 up: modified %v, want %v", got.ModifiedAt, edited)
	}
	if c := h.cursor(); !c.After(before) {
		t.Fatalf("the cursor did not advance after a clean run: %v", c)
	}
}

func TestAGrowingListingAdvancesTheCursor(t *testing.T) {
	p := newPlatform(25)
	p.skew = -time.Minute // its clock is not Joinery's
	h := newDirectHarness(t, p)
	next := 26
	for i := 0; i < 3; i++ {
		// A new post at the end while the run reads the listing.
		h.platform.fail = func(page string, call int) error {
			if page == "9" && call == i+1 {
				h.platform.touch(next)
				next++
			}
			return nil
		}
		run := h.runNow(full)
		if run.Status != integration.RunCompleted {
			t.Fatalf("run %d: %s %q", i, run.Status, run.Error)
		}
		if n := len(h.records()); n != next-1 {
			t.Fatalf("run %d: %d records, want %d", i, n, next-1)
		}
		if c, want := h.cursor(), h.platform.served["0"]; !c.Equal(want) {
			t.Fatalf("run %d: cursor %v, want the platform's clock when the run began listing, %v", i, c, want)
		}
	}
	if evs := h.events("listing_shifted"); len(evs) != 0 {
		t.Fatalf("a listing that only grew was taken as shifted: %+v", evs)
	}
}

func TestThePlatformsClockIsTheCursor(t *testing.T) {
	p := newPlatform(12)
	p.skew = -5 * time.Minute
	h := newDirectHarness(t, p)
	h.runNow(full)
	// An edit made while the run reads, to a post it has already read.
	h.platform.fail = func(page string, call int) error {
		if page == "9" && call == 2 {
			h.platform.touch(3)
		}
		return nil
	}
	h.platform.touch(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12)
	h.runNow(pull)
	edited := h.platform.posts[3]
	if h.records()["3"].ModifiedAt.Equal(edited) {
		t.Fatal("the run read the edit itself; the test no longer edits behind it")
	}
	h.platform.fail = nil
	run := h.runNow(pull)
	if got := h.records()["3"]; !got.ModifiedAt.Equal(edited) || run.Progress.ItemsSeen != 1 {
		t.Fatalf("the next incremental run: post 3 modified %v (want %v), %d items seen", got.ModifiedAt, edited, run.Progress.ItemsSeen)
	}
}

func TestNoPlatformClockKeepsAnIncrementalCursor(t *testing.T) {
	p := newPlatform(12)
	h := newDirectHarness(t, p)
	h.runNow(full)
	before := h.cursor()
	h.platform.mu.Lock()
	h.platform.noDate = true
	h.platform.mu.Unlock()
	h.platform.touch(4)
	h.runNow(pull)
	if c := h.cursor(); !c.Equal(before) {
		t.Fatalf("an incremental run without the platform's clock moved the cursor from %v to %v", before, c)
	}
	// A full run goes by the newest item it saw, less 5 minutes.
	h.runNow(full)
	if c, want := h.cursor(), h.platform.posts[4].Add(-5*time.Minute); !c.Equal(want) {
		t.Fatalf("cursor after a full run without the platform's clock: %v, want %v", c, want)
	}
}

func TestAWindowTooLargeIsReadInHalves(t *testing.T) {
	p := newPlatform(35)
	p.maxAnswer = 3
	h := newDirectHarness(t, p)
	run := h.runNow(full)
	if run.Status != integration.RunCompleted || run.Progress.ItemsSeen != 35 || run.Progress.ItemsWritten != 35 || run.Progress.ItemsFailed != 0 {
		t.Fatalf("run: %s %q %+v", run.Status, run.Error, run.Progress)
	}
	if n := len(h.records()); n != 35 {
		t.Fatalf("%d records, want 35", n)
	}
	if evs := h.events("listing_shifted"); len(evs) != 0 {
		t.Fatalf("halves that line up were taken as a shift: %+v", evs)
	}
	if c := h.cursor(); c.IsZero() {
		t.Fatal("the cursor did not advance")
	}
}

func TestAnItemTooLargeFailsAloneAndIsReadAgainLater(t *testing.T) {
	h := newDirectHarness(t, newPlatform(25))
	h.runNow(full)
	h.platform.mu.Lock()
	h.platform.large[17] = true
	h.platform.mu.Unlock()
	h.platform.touch(17)
	run := h.runNow(full)
	if run.Status != integration.RunCompleted || run.Progress.ItemsFailed != 1 || run.Progress.ItemsSeen != 25 {
		t.Fatalf("run: %s %q %+v", run.Status, run.Error, run.Progress)
	}
	evs := h.events("item_failed")
	if len(evs) != 1 || evs[0].ExternalID != "17" || !strings.Contains(evs[0].Message, "larger than") || evs[0].Details["size"] == nil {
		t.Fatalf("item_failed events: %+v", evs)
	}
	if rec := h.records()["17"]; rec.Deleted {
		t.Fatal("the item too large was marked deleted")
	}
	retry, err := h.store.Retries(context.Background(), h.it.ID, "post", 100)
	if err != nil || len(retry) != 1 || retry["17"] == "" {
		t.Fatalf("retry set: %v %v", retry, err)
	}
	// Still too large: it stays, and the run goes on.
	h.runNow(pull)
	if retry, _ := h.store.Retries(context.Background(), h.it.ID, "post", 100); len(retry) != 1 {
		t.Fatalf("retry set after reading it again too large: %v", retry)
	}
	h.platform.mu.Lock()
	delete(h.platform.large, 17)
	edited := h.platform.posts[17]
	h.platform.mu.Unlock()
	run = h.runNow(pull)
	if run.Status != integration.RunCompleted {
		t.Fatalf("run: %s %q", run.Status, run.Error)
	}
	if rec := h.records()["17"]; !rec.ModifiedAt.Equal(edited) {
		t.Fatalf("record 17 modified %v, want %v", rec.ModifiedAt, edited)
	}
	if retry, err := h.store.Retries(context.Background(), h.it.ID, "post", 100); err != nil || len(retry) != 0 {
		t.Fatalf("retry set after the item was read: %v %v", retry, err)
	}
}

func TestAnItemGoneFromTheRetrySetIsMarkedDeleted(t *testing.T) {
	h := newDirectHarness(t, newPlatform(12))
	h.runNow(full)
	if err := h.store.AddRetries(context.Background(), h.it.ID, "post", map[string]string{"5": "too large"}); err != nil {
		t.Fatal(err)
	}
	h.platform.mu.Lock()
	delete(h.platform.posts, 5)
	h.platform.mu.Unlock()
	h.runNow(pull)
	if rec := h.records()["5"]; !rec.Deleted {
		t.Fatalf("a retried item gone from the platform: %+v", rec)
	}
	if retry, _ := h.store.Retries(context.Background(), h.it.ID, "post", 100); len(retry) != 0 {
		t.Fatalf("retry set: %v", retry)
	}
}

// raceStore lets a second job complete the run's last step right after
// the first did, before the first could finish the run.
type raceStore struct {
	integration.SyncStore
	once       sync.Once
	race       func(runID string)
	setCursors atomic.Int32
}

func (s *raceStore) CompleteJob(ctx context.Context, integrationID, runID, jobID string, res integration.JobResult) (*integration.Run, bool, error) {
	run, first, err := s.SyncStore.CompleteJob(ctx, integrationID, runID, jobID, res)
	if err == nil && first && run.Active() && run.JobsDone >= run.JobsTotal {
		s.once.Do(func() { s.race(runID) })
	}
	return run, first, err
}

func (s *raceStore) SetCursors(ctx context.Context, integrationID string, cursors map[string]time.Time) error {
	s.setCursors.Add(1)
	return s.SyncStore.SetCursors(ctx, integrationID, cursors)
}

func TestJobsRacingToFinishFinishOnce(t *testing.T) {
	h := newDirectHarness(t, newPlatform(35))
	h.engine.Queue = dupQueue{h.mem} // every job delivered twice
	rs := &raceStore{SyncStore: h.store}
	rs.race = func(runID string) {
		// The plan, delivered once more, sees every job done too.
		job := syncer.Job{Kind: "plan", AccountID: h.it.AccountID, IntegrationID: h.it.ID, RunID: runID, JobID: "plan"}
		if err := h.engine.Handle(context.Background(), job, 2); err != nil {
			t.Errorf("the racing job: %v", err)
		}
	}
	h.engine.Store = rs
	run := h.runNow(full)
	if run.Status != integration.RunCompleted || run.JobsDone != run.JobsTotal || run.Progress.ItemsSeen != 35 {
		t.Fatalf("run: %+v", run)
	}
	if n := len(h.events("run_finished")); n != 1 {
		t.Fatalf("%d run_finished events, want 1", n)
	}
	if n := rs.setCursors.Load(); n != 1 {
		t.Fatalf("the run was finalised %d times, want 1", n)
	}
}

func TestAJobAfterItsIntegrationsDataWasDeletedWritesNothing(t *testing.T) {
	h := newDirectHarness(t, newPlatform(35))
	// While posts 20-30 are listed, the integration's sync data is deleted.
	h.platform.fail = func(page string, call int) error {
		if page == "19" && call == 1 {
			if err := h.store.DeleteSyncData(context.Background(), h.it.ID); err != nil {
				t.Error(err)
			}
		}
		return nil
	}
	if _, started, err := h.engine.Start(context.Background(), h.actor, h.it.ID, full); err != nil || !started {
		t.Fatalf("start: %v %v", started, err)
	}
	if errs := h.drive(); len(errs) != 0 {
		t.Fatalf("jobs failed or were retried: %v", errs)
	}
	if h.platform.calls["19"] != 1 {
		t.Fatalf("posts 20-30 listed %d times, want 1", h.platform.calls["19"])
	}
	if recs := h.records(); len(recs) != 0 {
		t.Fatalf("%d records written after the data was deleted", len(recs))
	}
}

func TestTokenPagesChainWithoutWindows(t *testing.T) {
	h := newDirectHarness(t, newPlatform(35))
	h.engine.Connectors["wordpress"] = tokenPaged{h.platform}
	run := h.runNow(full)
	// The plan, three pages, and one job checking the stored records for
	// deleted items.
	if run.Status != integration.RunCompleted || run.JobsTotal != 5 || run.Progress.ItemsSeen != 35 || len(h.records()) != 35 {
		t.Fatalf("run: %+v", run)
	}
	if c := h.cursor(); !c.Equal(h.platform.served["0"]) {
		t.Fatalf("cursor %v, want the platform's clock at the first page, %v", c, h.platform.served["0"])
	}
}

// tokenPaged is the platform through a connector that only pages by token.
type tokenPaged struct{ connector.Connector }

func TestMigrateJobsChainUntilDone(t *testing.T) {
	h := newDirectHarness(t, newPlatform(0))
	bs := &backfillStore{SyncStore: h.store, pages: 3}
	h.engine.Store = bs
	tick := func() []string {
		t.Helper()
		if _, err := h.engine.Tick(context.Background()); err != nil {
			t.Fatal(err)
		}
		bs.mu.Lock()
		before := len(bs.cursors)
		bs.mu.Unlock()
		if errs := h.drive(); len(errs) != 0 {
			t.Fatal(errs)
		}
		return bs.cursors[before:]
	}
	// The first tick only looks; the next, seeing no progress, starts it.
	if got := tick(); len(got) != 0 {
		t.Fatalf("the first tick ran pages from %q", got)
	}
	if got, want := tick(), []string{"", "c1", "c2"}; !slices.Equal(got, want) {
		t.Fatalf("backfill pages read from %q, want %q", got, want)
	}
	if got := tick(); len(got) != 0 {
		t.Fatalf("a finished backfill ran pages from %q", got)
	}
	// A chain that died at c1 is restarted there.
	bs.mu.Lock()
	bs.state, bs.done = "c1", false
	bs.mu.Unlock()
	tick()
	if got, want := tick(), []string{"c1", "c2"}; !slices.Equal(got, want) {
		t.Fatalf("restarted backfill read pages from %q, want %q", got, want)
	}
	// The worker takes a migrate job, which names no integration.
	w := &sqsworker.Worker{Engine: h.engine, Log: slog.New(slog.NewTextHandler(logOut, nil))}
	resp, _ := w.Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{{MessageId: "m1", Body: `{"kind":"migrate","page":"c2"}`}}})
	if len(resp.BatchItemFailures) != 0 || bs.cursors[len(bs.cursors)-1] != "c2" {
		t.Fatalf("the worker with a migrate job: %+v, pages %q", resp, bs.cursors)
	}
	if d, ok := h.mem.pop(); ok {
		t.Fatalf("the last page queued another: %s", d.body)
	}
}

func TestMigrationPendingStartsTheBackfill(t *testing.T) {
	h := newDirectHarness(t, newPlatform(0))
	h.engine.Store = pendingStore{h.store}
	for i := 0; i < 2; i++ {
		if _, err := h.engine.Tick(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	d, ok := h.mem.pop()
	if !ok || d.body != `{"kind":"migrate","job_id":"migrate"}` {
		t.Fatalf("queued: %q", d.body)
	}
	if d, ok := h.mem.pop(); ok {
		t.Fatalf("the next tick queued another backfill: %s", d.body)
	}
}

// pendingStore says the backfill is pending.
type pendingStore struct{ integration.SyncStore }

func (pendingStore) MigrationPending(context.Context) (bool, error) { return true, nil }

// backfillStore is a store with records to backfill in pages pages.
type backfillStore struct {
	integration.SyncStore
	mu      sync.Mutex
	pages   int
	cursors []string // where each page was read from
	state   string
	done    bool
}

func (s *backfillStore) BackfillRecords(_ context.Context, cursor string, limit int) (string, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if limit != 200 {
		return "", false, fmt.Errorf("limit %d", limit)
	}
	s.cursors = append(s.cursors, cursor)
	n, _ := strconv.Atoi(strings.TrimPrefix(cursor, "c"))
	next := fmt.Sprintf("c%d", n+1)
	if n+1 >= s.pages {
		next = ""
	}
	s.state, s.done = next, next == ""
	return next, s.done, nil
}

func (s *backfillStore) BackfillState(context.Context) (string, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state, s.done, nil
}

func TestAnEditThatEntersAnIncrementalListingBeforeTheReadPositionKeepsNothingBack(t *testing.T) {
	h := newDirectHarness(t, newPlatform(40))
	h.runNow(full)
	before := h.cursor()
	// Posts 11-40 edited: the incremental run lists 30 of them, in windows.
	h.platform.touch(slices.Collect(func(yield func(int) bool) {
		for id := 11; id <= 40; id++ {
			yield(id)
		}
	})...)
	// Once the first window is read, post 2 is edited: it enters the
	// listing ahead of every window and pushes later items one place
	// back, so the next window starts on an item the first already read.
	h.platform.fail = func(page string, call int) error {
		if page == "9" && call == 2 {
			h.platform.touch(2)
		}
		return nil
	}
	run := h.runNow(pull)
	if run.Status != integration.RunCompleted {
		t.Fatalf("run: %s %q", run.Status, run.Error)
	}
	if evs := h.events("listing_shifted"); len(evs) != 0 {
		t.Fatalf("an insert before the read position was taken as a shift: %+v", evs)
	}
	if c := h.cursor(); !c.After(before) {
		t.Fatalf("the cursor did not advance: %v", c)
	}
	for id := 11; id <= 40; id++ {
		if got := h.records()[strconv.Itoa(id)]; !got.ModifiedAt.Equal(h.platform.posts[id]) {
			t.Fatalf("post %d: modified %v, want %v", id, got.ModifiedAt, h.platform.posts[id])
		}
	}
	edited := h.platform.posts[2]
	h.platform.fail = nil
	h.runNow(pull)
	if got := h.records()["2"]; !got.ModifiedAt.Equal(edited) {
		t.Fatalf("the next run did not pick post 2 up: modified %v, want %v", got.ModifiedAt, edited)
	}
}

func TestARedeliveredPlanDoesNotMoveTheCursorPastItsWindowsReads(t *testing.T) {
	h := newDirectHarness(t, newPlatform(25))
	// The plan dies after sending its windows: they run before it comes
	// back and reads the first window again, later.
	h.engine.Store = &flakyStore{SyncStore: h.store, job: "plan"}
	h.platform.fail = func(page string, call int) error {
		if page == "0" && call == 2 {
			h.platform.touch(26) // created after the windows were read
		}
		return nil
	}
	// Incremental (the first run reads everything anyway): a full run's
	// deletion jobs would keep the run open for the windows the plan's
	// later delivery sends again, which would read post 26.
	if run := h.runNow(pull); run.Status != integration.RunCompleted {
		t.Fatalf("run: %s %q", run.Status, run.Error)
	}
	if _, ok := h.records()["26"]; ok {
		t.Fatal("the run read post 26; the test no longer creates it behind the windows")
	}
	h.engine.Store, h.platform.fail = h.store, nil
	h.runNow(pull)
	if _, ok := h.records()["26"]; !ok {
		t.Fatal("post 26, created while the run read its windows, was never read: the cursor came from the plan's later delivery")
	}
}

func TestAReplayedPlanThatFindsMoreThanItPlannedKeepsTheCursor(t *testing.T) {
	h := newDirectHarness(t, newPlatform(5))
	h.runNow(full)
	before := h.cursor()
	// The plan dies after recording its windows (none: 5 posts fit its
	// own), and by its redelivery 15 posts have been edited: the listing
	// now holds more than the plan reads.
	h.engine.Store = &flakyStore{SyncStore: h.store, job: "plan"}
	h.platform.fail = func(page string, call int) error {
		if page == "0" && call == 3 {
			h.platform.mu.Lock()
			at := h.platform.nowLocked()
			for id := 6; id <= 20; id++ {
				h.platform.posts[id] = at
			}
			h.platform.mu.Unlock()
		}
		return nil
	}
	if run := h.runNow(pull); run.Status != integration.RunCompleted {
		t.Fatalf("run: %s %q", run.Status, run.Error)
	}
	if n := len(h.records()); n == 20 {
		t.Fatal("the run read every post; the test no longer grows the listing behind its plan")
	}
	if c := h.cursor(); !c.Equal(before) {
		t.Fatalf("the cursor moved from %v to %v past posts no read covered", before, c)
	}
	h.engine.Store, h.platform.fail = h.store, nil
	h.runNow(pull)
	if n := len(h.records()); n != 20 {
		t.Fatalf("%d records after a clean run, want 20", n)
	}
}

func TestAnItemSlippingBetweenTwoSingleReadsIsNotMarkedDeleted(t *testing.T) {
	h := newDirectHarness(t, newPlatform(25))
	h.runNow(full)
	// Posts 17 and 18 are too large to read even alone, so the second
	// window is read in halves down to single items: 16, then 17 (too
	// large: only named). Between the two, post 3 goes and post 26 comes
	// (the count stays): 17 moves to 16's place and the read of the next
	// place names 18 instead.
	h.platform.mu.Lock()
	h.platform.large[17], h.platform.large[18] = true, true
	h.platform.mu.Unlock()
	var once sync.Once
	h.platform.fail = func(page string, call int) error {
		if page == "16" {
			once.Do(func() {
				h.platform.mu.Lock()
				delete(h.platform.posts, 3)
				h.platform.posts[26] = h.platform.posts[25]
				h.platform.mu.Unlock()
			})
		}
		return nil
	}
	if run := h.runNow(full); run.Status != integration.RunCompleted {
		t.Fatalf("run: %s %q", run.Status, run.Error)
	}
	if rec := h.records()["17"]; rec.Deleted {
		t.Fatal("post 17, which slipped between two single reads, was marked deleted")
	}
	if evs := h.events("listing_shifted"); len(evs) != 1 {
		t.Fatalf("listing_shifted events: %+v", evs)
	}
}
