package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/embedded"
	"github.com/joinery/joinery/pkg/integration"
	"github.com/joinery/joinery/pkg/safehttp"
)

// clock is a virtual clock: tests move it, nothing sleeps.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.t) {
		c.t = t
	}
}

// queue keeps what is sent, each message due at the clock's time plus its
// delay.
type queue struct {
	mu    sync.Mutex
	clock *clock
	msgs  []queued
}

type queued struct {
	integration.Message
	due time.Time
}

func (q *queue) Send(_ context.Context, msgs []integration.Message) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, m := range msgs {
		if m.Delay > 15*time.Minute {
			panic("a delay beyond what SQS allows")
		}
		q.msgs = append(q.msgs, queued{m, q.clock.Now().Add(m.Delay)})
	}
	return nil
}

// next takes the earliest due message, moving the clock to it.
func (q *queue) next() (queued, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.msgs) == 0 {
		return queued{}, false
	}
	sort.SliceStable(q.msgs, func(i, j int) bool { return q.msgs[i].due.Before(q.msgs[j].due) })
	m := q.msgs[0]
	q.msgs = q.msgs[1:]
	q.clock.Set(m.due)
	return m, true
}

func (q *queue) len() int { q.mu.Lock(); defer q.mu.Unlock(); return len(q.msgs) }

type fixture struct {
	store *embedded.Store
	clock *clock
	queue *queue
	disp  *Dispatcher
	dlv   *Deliverer
	eps   *Endpoints
	admin integration.Actor
	integ *integration.Integration
}

var t0 = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func newFixture(t testing.TB, schedule string) *fixture {
	t.Helper()
	st, err := embedded.OpenStore(filepath.Join(t.TempDir(), "joinery.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	sched, err := ParseSchedule(schedule)
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{t: t0}
	q := &queue{clock: c}
	f := &fixture{store: st, clock: c, queue: q, admin: integration.Actor{Subject: "u", AccountID: "acct", Role: integration.RoleAdmin}}
	f.disp = &Dispatcher{Store: st, Integrations: st, Owners: st, Queue: q, Now: c.Now}
	client := safehttp.New(safehttp.Options{Policy: safehttp.Policy{AllowAll: true}, MaxRedirects: -1, Timeout: AttemptTimeout})
	f.dlv = &Deliverer{Store: st, Queue: q, HTTP: client, Schedule: sched, Now: c.Now}
	f.eps = &Endpoints{Store: st, Queue: q, Now: c.Now}
	f.integ = &integration.Integration{ID: integration.NewID(), AccountID: "acct", SiteID: "site-1", Platform: "wordpress", Config: map[string]any{},
		CreatedAt: t0, UpdatedAt: t0, Version: 1}
	if err := st.CreateIntegration(context.Background(), f.integ); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) endpoint(t testing.TB, u string, types, sites []string) (*integration.Endpoint, string) {
	t.Helper()
	in := EndpointInput{URL: &u}
	if types != nil {
		in.EventTypes = &types
	}
	if sites != nil {
		in.SiteIDs = &sites
	}
	e, secret, err := f.eps.Create(context.Background(), f.admin, in)
	if err != nil {
		t.Fatal(err)
	}
	return e, secret
}

// syncSomething writes two records under a run and finishes it.
func (f *fixture) syncSomething(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	run := &integration.Run{ID: integration.NewID(), AccountID: "acct", IntegrationID: f.integ.ID, Direction: integration.DirectionFromExternal,
		Status: integration.RunRunning, JobsTotal: 1, StartedAt: t0}
	if _, ok, err := f.store.StartRun(ctx, run, time.Hour); err != nil || !ok {
		t.Fatal(ok, err)
	}
	recs := []integration.StoredRecord{
		{IntegrationID: f.integ.ID, Model: "post", ExternalID: "1", Hash: "a", Data: []byte(`{"title":"secret body"}`), ChangedAt: t0},
		{IntegrationID: f.integ.ID, Model: "post", ExternalID: "2", Hash: "b", Data: []byte(`{"title":"secret body"}`), ChangedAt: t0},
	}
	for range 2 { // a redelivered job writes the same again
		if _, err := f.store.PutRecords(ctx, integration.WriteScope{RunID: run.ID}, recs); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		if _, err := f.store.FinishRun(ctx, f.integ.ID, run.ID, integration.RunCompleted, "", t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
}

// receiver is a host endpoint that verifies every delivery and answers
// from a script (then 200).
type receiver struct {
	t       *testing.T
	mu      sync.Mutex
	secrets []string
	script  []func(w http.ResponseWriter)
	got     []delivered
	srv     *httptest.Server
	now     func() time.Time
}

type delivered struct {
	id, sig string
	body    map[string]any
}

func newReceiver(t *testing.T, now func() time.Time, script ...func(w http.ResponseWriter)) *receiver {
	r := &receiver{t: t, script: script, now: now}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		ok := false
		for _, s := range r.secrets {
			if Verify(s, req.Header, body, r.now()) == nil {
				ok = true
			}
		}
		if !ok {
			t.Errorf("a delivery did not verify: %s %s", req.Header.Get("webhook-signature"), body)
		}
		var m map[string]any
		_ = json.Unmarshal(body, &m)
		r.got = append(r.got, delivered{id: req.Header.Get("webhook-id"), sig: req.Header.Get("webhook-signature"), body: m})
		if len(r.script) > 0 {
			f := r.script[0]
			r.script = r.script[1:]
			f(w)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) deliveries() []delivered {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivered(nil), r.got...)
}

func status(code int) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) { w.WriteHeader(code) }
}

// run handles every queued message in due order, returning the delays
// of the messages sent on (retries), in order.
func (f *fixture) run(t *testing.T) {
	t.Helper()
	for i := 0; ; i++ {
		if i > 1000 {
			t.Fatal("the queue never emptied")
		}
		m, ok := f.queue.next()
		if !ok {
			return
		}
		if err := f.dlv.Handle(context.Background(), m.Body); err != nil {
			t.Fatal(err)
		}
	}
}

func TestEventsReachTheEndpointsThatWantThem(t *testing.T) {
	f := newFixture(t, "0s")
	all := newReceiver(t, f.clock.Now)
	syncs := newReceiver(t, f.clock.Now)
	other := newReceiver(t, f.clock.Now)
	off := newReceiver(t, f.clock.Now)
	_, s1 := f.endpoint(t, all.srv.URL, nil, nil)
	_, s2 := f.endpoint(t, syncs.srv.URL, []string{"sync.*"}, nil)
	_, s3 := f.endpoint(t, other.srv.URL, nil, []string{"site-2"})
	e4, s4 := f.endpoint(t, off.srv.URL, nil, nil)
	all.secrets, syncs.secrets, other.secrets, off.secrets = []string{s1}, []string{s2}, []string{s3}, []string{s4}
	disabled := true
	if _, err := f.eps.Update(context.Background(), f.admin, e4.ID, EndpointInput{Disabled: &disabled}); err != nil {
		t.Fatal(err)
	}
	f.syncSomething(t)
	if n, err := f.disp.Drain(context.Background()); err != nil || n != 3 {
		t.Fatalf("drained %d, %v; want 3 events (2 records, 1 run)", n, err)
	}
	// Nothing is left to fan out: the repeated writes emitted nothing new.
	if n, err := f.disp.Drain(context.Background()); err != nil || n != 0 {
		t.Fatalf("second drain %d, %v", n, err)
	}
	f.run(t)
	got := all.deliveries()
	if len(got) != 3 {
		t.Fatalf("the all-events endpoint got %d deliveries, want 3", len(got))
	}
	types := map[string]int{}
	for _, d := range got {
		types[d.body["type"].(string)]++
		if d.id != d.body["id"] || !strings.HasPrefix(d.id, "evt_") {
			t.Fatalf("webhook-id %q, body id %v", d.id, d.body["id"])
		}
		if d.body["account_id"] != "acct" || d.body["site_id"] != "site-1" || d.body["integration_id"] != f.integ.ID || d.body["platform"] != "wordpress" {
			t.Fatalf("body %v", d.body)
		}
		if _, err := time.Parse(time.RFC3339, d.body["timestamp"].(string)); err != nil {
			t.Fatalf("timestamp: %v", err)
		}
		if raw, _ := json.Marshal(d.body); strings.Contains(string(raw), "secret body") {
			t.Fatalf("a record's body was in its event: %s", raw)
		}
		if d.body["type"] == "record.created" {
			data := d.body["data"].(map[string]any)
			if data["model"] != "post" || data["external_id"] == nil || data["changed_at"] == nil || len(data) != 3 {
				t.Fatalf("record data %v", data)
			}
		}
	}
	if types["record.created"] != 2 || types["sync.completed"] != 1 {
		t.Fatalf("types %v", types)
	}
	if got := syncs.deliveries(); len(got) != 1 || got[0].body["type"] != "sync.completed" {
		t.Fatalf("the sync.* endpoint got %v", got)
	}
	if got := other.deliveries(); len(got) != 0 {
		t.Fatalf("the other site's endpoint got %d", len(got))
	}
	if got := off.deliveries(); len(got) != 0 {
		t.Fatalf("the disabled endpoint got %d", len(got))
	}
}

func TestFailedDeliveriesFollowTheScheduleUntilOneLands(t *testing.T) {
	f := newFixture(t, "0s,5s,5m,30m,2h")
	r := newReceiver(t, f.clock.Now, status(500), status(500), status(500))
	e, secret := f.endpoint(t, r.srv.URL, []string{"sync.completed"}, nil)
	r.secrets = []string{secret}
	f.syncSomething(t)
	if _, err := f.disp.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	var at []time.Duration
	for {
		m, ok := f.queue.next()
		if !ok {
			break
		}
		before := len(r.deliveries())
		if err := f.dlv.Handle(context.Background(), m.Body); err != nil {
			t.Fatal(err)
		}
		if len(r.deliveries()) > before {
			at = append(at, f.clock.Now().Sub(t0))
		}
	}
	want := []time.Duration{0, 5 * time.Second, 5*time.Second + 5*time.Minute, 5*time.Second + 35*time.Minute}
	if len(at) != len(want) {
		t.Fatalf("attempts at %v, want %v", at, want)
	}
	for i := range want {
		if at[i] != want[i] {
			t.Fatalf("attempts at %v, want %v", at, want)
		}
	}
	got := r.deliveries()
	if len(got) != 4 || got[0].id != got[3].id {
		t.Fatalf("deliveries %d; ids %v", len(got), got)
	}
	list, _, err := f.eps.Deliveries(context.Background(), f.admin, e.ID, "", 0, "")
	if err != nil || len(list) != 1 {
		t.Fatalf("log: %v %v", list, err)
	}
	if d := list[0]; d.Status != integration.NotifySucceeded || d.Attempts != 4 || d.StatusCode != 200 || d.EventType != "sync.completed" {
		t.Fatalf("log entry %+v", d)
	}
}

func TestRetryAfterAndLongWaits(t *testing.T) {
	f := newFixture(t, "0s,5s,2h")
	r := newReceiver(t, f.clock.Now, func(w http.ResponseWriter) {
		w.Header().Set("Retry-After", "120")
		w.WriteHeader(http.StatusTooManyRequests)
	}, status(503), status(503))
	e, secret := f.endpoint(t, r.srv.URL, []string{"sync.*"}, nil)
	r.secrets = []string{secret}
	f.syncSomething(t)
	if _, err := f.disp.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	var at []time.Duration
	for {
		m, ok := f.queue.next()
		if !ok {
			break
		}
		if m.Delay > 15*time.Minute {
			t.Fatalf("delay %v", m.Delay)
		}
		before := len(r.deliveries())
		if err := f.dlv.Handle(context.Background(), m.Body); err != nil {
			t.Fatal(err)
		}
		if len(r.deliveries()) > before {
			at = append(at, f.clock.Now().Sub(t0))
		}
	}
	// Retry-After: 120 beats the schedule's 5s; the 2h wait is made of
	// messages of at most 15 minutes.
	want := []time.Duration{0, 2 * time.Minute, 2*time.Minute + 2*time.Hour}
	if len(at) != 3 || at[0] != want[0] || at[1] != want[1] || at[2] != want[2] {
		t.Fatalf("attempts at %v, want %v", at, want)
	}
	list, _, _ := f.eps.Deliveries(context.Background(), f.admin, e.ID, integration.NotifyFailed, 0, "")
	if len(list) != 1 || list[0].Attempts != 3 || list[0].StatusCode != 503 {
		t.Fatalf("failed deliveries %+v", list)
	}
	// A manual retry sends the same event again, with the same id.
	if _, err := f.eps.Retry(context.Background(), f.admin, e.ID, list[0].ID); err != nil {
		t.Fatal(err)
	}
	f.run(t)
	got := r.deliveries()
	if len(got) != 4 || got[3].id != got[0].id {
		t.Fatalf("after a retry: %d deliveries", len(got))
	}
	if d, _ := f.store.GetNotifyDelivery(context.Background(), "acct", e.ID, list[0].ID); d.Status != integration.NotifySucceeded || d.Attempts != 4 {
		t.Fatalf("after a retry: %+v", d)
	}
}

func TestRedirectIsAFailureAndNotFollowed(t *testing.T) {
	f := newFixture(t, "0s")
	target := newReceiver(t, f.clock.Now)
	r := newReceiver(t, f.clock.Now, func(w http.ResponseWriter) {
		w.Header().Set("Location", target.srv.URL)
		w.WriteHeader(http.StatusTemporaryRedirect)
	})
	e, secret := f.endpoint(t, r.srv.URL, []string{"sync.*"}, nil)
	r.secrets = []string{secret}
	f.syncSomething(t)
	if _, err := f.disp.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.run(t)
	if n := len(target.deliveries()); n != 0 {
		t.Fatalf("the redirect was followed: %d", n)
	}
	list, _, _ := f.eps.Deliveries(context.Background(), f.admin, e.ID, "", 0, "")
	if len(list) != 1 || list[0].Status != integration.NotifyFailed || list[0].StatusCode != 307 || !strings.Contains(list[0].Error, "redirect") {
		t.Fatalf("log %+v", list[0])
	}
}

func TestAnEndpointHasAtMostTwoDeliveriesInFlight(t *testing.T) {
	f := newFixture(t, "0s")
	e, _ := f.endpoint(t, "http://127.0.0.1:1/", nil, nil)
	ctx := context.Background()
	// Two attempts are under way (their slots are taken).
	for _, h := range []string{"x#1", "y#1"} {
		if ok, _, err := f.store.TakeEndpointSlot(ctx, e.ID, h, SlotsPerEndpoint, t0, t0.Add(time.Minute)); err != nil || !ok {
			t.Fatal(ok, err)
		}
	}
	dl, err := f.eps.Test(ctx, f.admin, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := f.queue.next()
	if m.Group != e.ID {
		t.Fatalf("group %q, want the endpoint id", m.Group)
	}
	if err := f.dlv.Handle(ctx, m.Body); err != nil {
		t.Fatal(err)
	}
	// It was not attempted: it comes back shortly, as a new message.
	if f.queue.len() != 1 {
		t.Fatalf("queued %d", f.queue.len())
	}
	if d, _ := f.store.GetNotifyDelivery(ctx, "acct", e.ID, dl.ID); d.Attempts != 0 || d.Status != integration.NotifyPending {
		t.Fatalf("delivery %+v", d)
	}
	again, _ := f.queue.next()
	if again.Delay != slotWait || again.Group != e.ID {
		t.Fatalf("sent on with %v in %q", again.Delay, again.Group)
	}
	// Busy again (with attempts just begun, as a fast endpoint's are),
	// it waits longer each time, up to 8 s.
	var waits []time.Duration
	for range 5 {
		for _, h := range []string{"x#1", "y#1"} {
			if ok, _, err := f.store.TakeEndpointSlot(ctx, e.ID, h, SlotsPerEndpoint, f.clock.Now(), f.clock.Now().Add(slotLease)); err != nil || !ok {
				t.Fatal(ok, err)
			}
		}
		if err := f.dlv.Handle(ctx, again.Body); err != nil {
			t.Fatal(err)
		}
		again, _ = f.queue.next()
		waits = append(waits, again.Delay)
	}
	if fmt.Sprint(waits) != "[2s 4s 8s 8s 8s]" {
		t.Fatalf("waits %v", waits)
	}
}

func TestARotatedSecretSignsBesideTheNewOneForADay(t *testing.T) {
	f := newFixture(t, "0s")
	r := newReceiver(t, f.clock.Now)
	e, old := f.endpoint(t, r.srv.URL, nil, nil)
	_, fresh, err := f.eps.RotateSecret(context.Background(), f.admin, e.ID)
	if err != nil || fresh == old {
		t.Fatal(err)
	}
	r.secrets = []string{old}
	if _, err := f.eps.Test(context.Background(), f.admin, e.ID); err != nil {
		t.Fatal(err)
	}
	f.run(t)
	r.secrets = []string{fresh}
	if _, err := f.eps.Test(context.Background(), f.admin, e.ID); err != nil {
		t.Fatal(err)
	}
	f.run(t)
	got := r.deliveries()
	if len(got) != 2 || len(strings.Fields(got[0].sig)) != 2 || got[0].body["type"] != "ping" {
		t.Fatalf("during the overlap: %+v", got)
	}
	// A day later only the new secret signs.
	f.clock.Set(t0.Add(RotationOverlap + time.Second))
	if _, err := f.eps.Test(context.Background(), f.admin, e.ID); err != nil {
		t.Fatal(err)
	}
	f.run(t)
	if got := r.deliveries(); len(got) != 3 || len(strings.Fields(got[2].sig)) != 1 {
		t.Fatalf("after the overlap: %+v", got[2])
	}
}

func TestEndpointRules(t *testing.T) {
	f := newFixture(t, "0s")
	ctx := context.Background()
	u := "https://hooks.example.com/in"
	bad := []string{"record.*", "nope"}
	_, _, err := f.eps.Create(ctx, f.admin, EndpointInput{URL: &u, EventTypes: &bad})
	if integration.ErrorCode(err) != integration.EINVALID || !strings.Contains(integration.ErrorFields(err)["event_types"], "nope") {
		t.Fatalf("unknown type: %v", err)
	}
	for _, p := range []string{"record.*", "sync.completed", "connection.*", "ping"} {
		if !integration.ValidEventPattern(p) {
			t.Fatalf("%s refused", p)
		}
	}
	if integration.ValidEventPattern("nothing.*") || integration.ValidEventPattern("record") {
		t.Fatal("a pattern matching nothing was accepted")
	}
	editor := f.admin
	editor.Role = integration.RoleEditor
	if _, _, err := f.eps.Create(ctx, editor, EndpointInput{URL: &u}); integration.ErrorCode(err) != integration.EFORBIDDEN {
		t.Fatalf("editor: %v", err)
	}
	for _, raw := range []string{"", "ftp://x.example/", "https://user:pw@x.example/", "/relative"} {
		if _, _, err := f.eps.Create(ctx, f.admin, EndpointInput{URL: &raw}); integration.ErrorFields(err)["url"] == "" {
			t.Fatalf("url %q: %v", raw, err)
		}
	}
	f.eps.CheckURL = func(_ context.Context, u *url.URL) error {
		if u.Scheme != "https" {
			return errUnsafe
		}
		return nil
	}
	plain := "http://hooks.example.com/in"
	if _, _, err := f.eps.Create(ctx, f.admin, EndpointInput{URL: &plain}); integration.ErrorFields(err)["url"] != errUnsafe.Error() {
		t.Fatalf("checked url: %v", err)
	}
	// A caller limited to some sites subscribes within them only, and
	// sees only such endpoints.
	limited := f.admin
	limited.Sites = []string{"site-1"}
	if _, _, err := f.eps.Create(ctx, limited, EndpointInput{URL: &u}); integration.ErrorCode(err) != integration.EFORBIDDEN {
		t.Fatalf("no site_ids: %v", err)
	}
	other := []string{"site-1", "site-2"}
	if _, _, err := f.eps.Create(ctx, limited, EndpointInput{URL: &u, SiteIDs: &other}); integration.ErrorCode(err) != integration.EFORBIDDEN {
		t.Fatalf("another site: %v", err)
	}
	mine := []string{"site-1"}
	own, _, err := f.eps.Create(ctx, limited, EndpointInput{URL: &u, SiteIDs: &mine})
	if err != nil {
		t.Fatal(err)
	}
	everything, _, err := f.eps.Create(ctx, f.admin, EndpointInput{URL: &u})
	if err != nil {
		t.Fatal(err)
	}
	list, err := f.eps.List(ctx, limited)
	if err != nil || len(list) != 1 || list[0].ID != own.ID {
		t.Fatalf("limited list: %v %v", list, err)
	}
	if _, err := f.eps.Get(ctx, limited, everything.ID); integration.ErrorCode(err) != integration.ENOTFOUND {
		t.Fatalf("limited get of an all-sites endpoint: %v", err)
	}
	if _, err := f.eps.Update(ctx, limited, own.ID, EndpointInput{SiteIDs: &other}); integration.ErrorCode(err) != integration.EFORBIDDEN {
		t.Fatalf("limited widening: %v", err)
	}
	if err := f.eps.Delete(ctx, limited, everything.ID); integration.ErrorCode(err) != integration.ENOTFOUND {
		t.Fatalf("limited delete: %v", err)
	}
	if list, _ := f.eps.List(ctx, f.admin); len(list) != 2 {
		t.Fatalf("admin list %d", len(list))
	}
}

var errUnsafe = &integration.Error{Code: integration.EINVALID, Message: "must use https"}

type bus struct {
	mu      sync.Mutex
	batches []int
	fail    bool
}

func (b *bus) PutEvents(_ context.Context, evs []BusEvent) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.batches = append(b.batches, len(evs))
	if b.fail {
		return len(evs), nil
	}
	return 0, nil
}

func TestEveryEventGoesOnTheBusInBatchesOfTen(t *testing.T) {
	f := newFixture(t, "0s")
	b := &bus{}
	f.disp.Bus = b
	ctx := context.Background()
	var recs []integration.StoredRecord
	for i := range 23 {
		recs = append(recs, integration.StoredRecord{IntegrationID: f.integ.ID, Model: "post", ExternalID: string(rune('a' + i)), Hash: "h", Data: []byte(`{}`), ChangedAt: t0})
	}
	if _, err := f.store.PutRecords(ctx, integration.WriteScope{}, recs); err != nil {
		t.Fatal(err)
	}
	// Records written by a push: the account is found from the push.
	if err := f.store.CreatePush(ctx, &integration.Push{ID: integration.NewID(), AccountID: "acct", IntegrationID: f.integ.ID, Model: "post", LocalID: "l1", Status: integration.PushQueued, CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.disp.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	if len(b.batches) != 3 || b.batches[0] != 10 || b.batches[2] != 3 {
		t.Fatalf("batches %v", b.batches)
	}
	// A bus that fails costs no delivery: it is counted.
	e, _ := f.endpoint(t, "http://127.0.0.1:1/", nil, nil)
	b.fail = true
	if _, err := f.store.PutRecords(ctx, integration.WriteScope{}, recs[:1:1]); err != nil {
		t.Fatal(err)
	}
	recs[0].Hash, recs[0].ChangedAt = "h2", t0.Add(time.Second)
	if _, err := f.store.PutRecords(ctx, integration.WriteScope{}, recs[:1]); err != nil {
		t.Fatal(err)
	}
	if _, err := f.disp.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	if f.disp.BusFailures.Load() != 1 {
		t.Fatalf("bus failures %d", f.disp.BusFailures.Load())
	}
	if m, ok := f.queue.next(); !ok || !strings.Contains(m.Body, e.ID) {
		t.Fatalf("the delivery was not queued: %v", ok)
	}
}

func TestParseSchedule(t *testing.T) {
	d, err := ParseSchedule("")
	if err != nil || len(d) != 8 || d[0] != 0 || d[7] != 10*time.Hour {
		t.Fatalf("default %v %v", d, err)
	}
	if _, err := ParseSchedule("0s,soon"); err == nil || !strings.Contains(err.Error(), "soon") {
		t.Fatalf("bad entry: %v", err)
	}
}

func TestConnectionAndPushEventsReachTheHost(t *testing.T) {
	f := newFixture(t, "0s")
	r := newReceiver(t, f.clock.Now)
	_, secret := f.endpoint(t, r.srv.URL, []string{"connection.*", "push.*"}, nil)
	r.secrets = []string{secret}
	ctx := context.Background()
	svc := &integration.Service{Store: f.store}
	owner := integration.Actor{Subject: "u", AccountID: "acct", Role: integration.RoleOwner}
	at := time.Now().UTC()
	for range 2 { // the same outcome twice is one change
		if err := svc.RecordConnection(ctx, owner, f.integ.ID, integration.ConnectionError, "The site answered 401.", at); err != nil {
			t.Fatal(err)
		}
	}
	if err := svc.RecordConnection(ctx, owner, f.integ.ID, integration.ConnectionConnected, "", at.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	p := &integration.Push{ID: integration.NewID(), AccountID: "acct", IntegrationID: f.integ.ID, Model: "post", LocalID: "l1", Data: []byte(`{"title":"x"}`),
		Status: integration.PushQueued, CreatedAt: at, UpdatedAt: at}
	if err := f.store.CreatePush(ctx, p); err != nil {
		t.Fatal(err)
	}
	p.Status, p.Error, p.UpdatedAt = integration.PushConflict, "Changed on the site since.", at.Add(2*time.Second)
	if err := f.store.UpdatePush(ctx, p); err != nil {
		t.Fatal(err)
	}
	if _, err := f.disp.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	f.run(t)
	var types []string
	for _, d := range r.deliveries() {
		types = append(types, d.body["type"].(string))
		if d.body["site_id"] != "site-1" || d.body["platform"] != "wordpress" {
			t.Fatalf("body %v", d.body)
		}
	}
	sort.Strings(types)
	if strings.Join(types, " ") != "connection.connected connection.error push.conflict" {
		t.Fatalf("types %v", types)
	}
}

func TestAnEndpointFailingInARowBacksOffAndIsDisabledAfterFiveDays(t *testing.T) {
	f := newFixture(t, "0s,1s,1s,1s,1s,1s,1s,1s")
	down := newReceiver(t, f.clock.Now, status(500), status(500), status(500), status(500), status(500), status(500), status(500), status(500))
	e, secret := f.endpoint(t, down.srv.URL, []string{"sync.*"}, nil)
	down.secrets = []string{secret}
	f.syncSomething(t)
	ctx := context.Background()
	if _, err := f.disp.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	var at []time.Duration
	for {
		m, ok := f.queue.next()
		if !ok {
			break
		}
		before := len(down.deliveries())
		if err := f.dlv.Handle(ctx, m.Body); err != nil {
			t.Fatal(err)
		}
		if len(down.deliveries()) > before {
			at = append(at, f.clock.Now().Sub(t0))
		}
	}
	// Five failures in a row: the endpoint backs off a minute, then two,
	// then four, whatever the schedule says.
	want := []time.Duration{0, time.Second, 2 * time.Second, 3 * time.Second, 4 * time.Second, 64 * time.Second, 184 * time.Second, 424 * time.Second}
	if fmt.Sprint(at) != fmt.Sprint(want) {
		t.Fatalf("attempts at %v, want %v", at, want)
	}
	got, _ := f.store.GetEndpoint(ctx, "acct", e.ID)
	if got.Failures != 8 || got.Disabled || !got.FailingSince.Equal(t0) {
		t.Fatalf("endpoint %+v", got)
	}

	// Failing for five days, it is disabled, and the account's other
	// endpoints hear of it.
	watch := newReceiver(t, f.clock.Now)
	_, ws := f.endpoint(t, watch.srv.URL, []string{"endpoint.*"}, nil)
	watch.secrets = []string{ws}
	f.clock.Set(t0.Add(DisableAfter))
	down.mu.Lock()
	down.script = []func(http.ResponseWriter){status(500)}
	down.mu.Unlock()
	if _, err := f.eps.Test(ctx, f.admin, e.ID); err != nil {
		t.Fatal(err)
	}
	f.run(t)
	got, _ = f.store.GetEndpoint(ctx, "acct", e.ID)
	if !got.Disabled || got.DisabledReason == "" {
		t.Fatalf("after five days: %+v", got)
	}
	if _, err := f.disp.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	f.run(t)
	if d := watch.deliveries(); len(d) != 1 || d[0].body["type"] != "endpoint.disabled" || d[0].body["data"].(map[string]any)["endpoint_id"] != e.ID {
		t.Fatalf("the other endpoint got %+v", d)
	}
	// Enabled again, it starts afresh.
	enabled := false
	if got, err := f.eps.Update(ctx, f.admin, e.ID, EndpointInput{Disabled: &enabled}); err != nil || got.Failures != 0 || !got.BackoffUntil.IsZero() {
		t.Fatalf("enabled: %+v %v", got, err)
	}
}

func TestABacklogAsksAHangingEndpointOncePerAttemptTimeout(t *testing.T) {
	f := newFixture(t, "0s")
	e, _ := f.endpoint(t, "http://127.0.0.1:1/", nil, nil)
	ctx := context.Background()
	// Two attempts began at t0 and hang.
	for _, h := range []string{"x#1", "y#1"} {
		if ok, _, err := f.store.TakeEndpointSlot(ctx, e.ID, h, SlotsPerEndpoint, t0, t0.Add(slotLease)); err != nil || !ok {
			t.Fatal(ok, err)
		}
	}
	if _, err := f.eps.Test(ctx, f.admin, e.ID); err != nil {
		t.Fatal(err)
	}
	// Just after they began, the endpoint may be fast: ask again soon.
	m, _ := f.queue.next()
	if err := f.dlv.Handle(ctx, m.Body); err != nil {
		t.Fatal(err)
	}
	again, _ := f.queue.next()
	if again.Delay != slotWait {
		t.Fatalf("first wait %v, want %v", again.Delay, slotWait)
	}
	// Held for a second or more: ask again when the first times out, and
	// a share of the timeout more, its own.
	f.clock.Set(t0.Add(4 * time.Second))
	if err := f.dlv.Handle(ctx, again.Body); err != nil {
		t.Fatal(err)
	}
	again, _ = f.queue.next()
	var msg Message
	if err := json.Unmarshal([]byte(again.Body), &msg); err != nil {
		t.Fatal(err)
	}
	share := spread(msg.DeliveryID)
	if want := AttemptTimeout - 4*time.Second + share; again.Delay != want || share >= AttemptTimeout/2 {
		t.Fatalf("wait behind a hanging attempt %v, want %v", again.Delay, want)
	}
	if spread("dlv_a") == spread("dlv_b") && spread("dlv_b") == spread("dlv_c") {
		t.Fatal("deliveries' shares are not spread")
	}
}

func TestAFailingEndpointsBacklogWaitsForItsAttemptsEvenFresh(t *testing.T) {
	f := newFixture(t, "0s")
	e, _ := f.endpoint(t, "http://127.0.0.1:1/", nil, nil)
	ctx := context.Background()
	e.Failures = 1
	if err := f.store.UpdateEndpoint(ctx, e, e.Version); err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"x#1", "y#1"} {
		if ok, _, err := f.store.TakeEndpointSlot(ctx, e.ID, h, SlotsPerEndpoint, t0, t0.Add(slotLease)); err != nil || !ok {
			t.Fatal(ok, err)
		}
	}
	if _, err := f.eps.Test(ctx, f.admin, e.ID); err != nil {
		t.Fatal(err)
	}
	m, _ := f.queue.next()
	if err := f.dlv.Handle(ctx, m.Body); err != nil {
		t.Fatal(err)
	}
	again, _ := f.queue.next()
	if again.Delay < AttemptTimeout {
		t.Fatalf("waited %v behind a failing endpoint's attempts, want their timeout or more", again.Delay)
	}
}
