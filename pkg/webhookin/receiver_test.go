package webhookin

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/joinery/joinery/pkg/integration"
	"github.com/joinery/joinery/pkg/syncer"
	"github.com/joinery/joinery/pkg/webhook"
)

// testScheme stands in for a platform's scheme: the signature (X-Sig) is
// sha256hex(key + body), the key being whichever of the keys is set; the
// body is {"id","event","account","objects","challenge","ack"}.
type testScheme struct{}

func (testScheme) Locate(r webhook.Request) (string, string) {
	_, hook, _ := splitPath(r.Path)
	return hook, r.Header.Get("X-Channel")
}

func sign(key string, body []byte) string {
	s := sha256.Sum256(append([]byte(key), body...))
	return hex.EncodeToString(s[:])
}

func (testScheme) Verify(r webhook.Request, k webhook.Keys, _ time.Time) error {
	key := k.AppSecret + k.HookSecret + k.TokenHash
	if key == "" || r.Header.Get("X-Sig") != sign(key, r.Body) {
		return webhook.ErrUnauthorized
	}
	return nil
}

func (testScheme) Parse(r webhook.Request) (webhook.Delivery, error) {
	var b struct {
		ID, Event, Account, Challenge string
		Objects                       []string
		Ack                           bool
	}
	if err := json.Unmarshal(r.Body, &b); err != nil {
		return webhook.Delivery{}, webhook.ErrBadRequest
	}
	d := webhook.Delivery{ID: b.ID, Event: b.Event, Account: b.Account, ObjectIDs: b.Objects, Ack: b.Ack, Model: "post"}
	if b.Challenge != "" {
		d.Reply = []byte(`{"challenge":"` + b.Challenge + `"}`)
	}
	return d, nil
}

// memStore is the webhook store and the integrations, in memory.
type memStore struct {
	mu       sync.Mutex
	routes   []integration.WebhookRoute
	markers  map[string]integration.DeliveryMarker
	counts   map[string]int // account/integration/received|rejected
	its      map[string]*integration.Integration
	getCalls int
}

func newMemStore() *memStore {
	return &memStore{markers: map[string]integration.DeliveryMarker{}, counts: map[string]int{}, its: map[string]*integration.Integration{}}
}

func (s *memStore) PutWebhookRoute(_ context.Context, r integration.WebhookRoute) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.routes = append(s.routes, r)
	return nil
}

func (s *memStore) WebhookRoutes(_ context.Context, platform, key string, limit int) ([]integration.WebhookRoute, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []integration.WebhookRoute
	for _, r := range s.routes {
		if r.Platform == platform && r.Key == key && len(out) < limit {
			out = append(out, r)
		}
	}
	return out, nil
}

func (s *memStore) DeleteWebhookRoutes(context.Context, string, string) error { return nil }

func (s *memStore) ClaimDelivery(_ context.Context, m integration.DeliveryMarker, staleAfter time.Duration) (*integration.DeliveryMarker, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if prev, ok := s.markers[m.Key]; ok && (prev.State == integration.DeliveryQueued || m.At.Sub(prev.At) < staleAfter) {
		return &prev, false, nil
	}
	s.markers[m.Key] = m
	return nil, true, nil
}

func (s *memStore) MarkDeliveryQueued(_ context.Context, key string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.markers[key]
	m.State, m.At = integration.DeliveryQueued, at
	s.markers[key] = m
	return nil
}

func (s *memStore) CountWebhook(_ context.Context, acct, id string, rejected bool, _ time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	kind := "received"
	if rejected {
		kind = "rejected"
	}
	s.counts[acct+"/"+id+"/"+kind]++
	return nil
}

func (s *memStore) WebhookStats(context.Context, string, string, time.Time) (integration.WebhookStats, error) {
	return integration.WebhookStats{}, nil
}

func (s *memStore) GetIntegration(_ context.Context, acct, id string) (*integration.Integration, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.getCalls++
	it, ok := s.its[acct+"/"+id]
	if !ok {
		return nil, integration.Errorf(integration.ENOTFOUND, "no integration")
	}
	c := *it
	return &c, nil
}

type memSecrets struct {
	mu       sync.Mutex
	versions map[string]map[string]string
	reads    int
}

func (s *memSecrets) GetSecret(_ context.Context, name, version string) (map[string]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads++
	v, ok := s.versions[name+"@"+version]
	if !ok {
		return nil, integration.Errorf(integration.ENOTFOUND, "no secret")
	}
	return v, nil
}

type memApps map[string]map[string]string

func (a memApps) App(_ context.Context, p string) (map[string]string, error) {
	v, ok := a[p]
	if !ok {
		return nil, integration.Errorf(integration.EUNPROCESSABLE, "not configured")
	}
	return v, nil
}

type memQueue struct {
	mu   sync.Mutex
	sent []integration.Message
	fail int // the next fail sends fail
}

func (q *memQueue) Send(_ context.Context, msgs []integration.Message) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.fail > 0 {
		q.fail--
		return errors.New("queue down")
	}
	q.sent = append(q.sent, msgs...)
	return nil
}

func (q *memQueue) jobs(t *testing.T) []syncer.Job {
	t.Helper()
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []syncer.Job
	for _, m := range q.sent {
		var j syncer.Job
		if err := json.Unmarshal([]byte(m.Body), &j); err != nil {
			t.Fatal(err)
		}
		if m.Group != j.AccountID {
			t.Errorf("job of %s sent in group %q", j.AccountID, m.Group)
		}
		out = append(out, j)
	}
	return out
}

type fixture struct {
	rc      *Receiver
	store   *memStore
	secrets *memSecrets
	queue   *memQueue
	now     time.Time
}

func newFixture() *fixture {
	f := &fixture{store: newMemStore(), secrets: &memSecrets{versions: map[string]map[string]string{}}, queue: &memQueue{},
		now: time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)}
	f.rc = &Receiver{Store: f.store, Secrets: f.secrets, Queue: f.queue,
		Apps:    memApps{"shopify": {"client_secret": "shop-secret"}, "slack": {"signing_secret": "slack-secret"}, "jira": {"client_secret": "jira-secret"}},
		Now:     func() time.Time { return f.now },
		Schemes: func(string) (webhook.Scheme, bool) { return testScheme{}, true }}
	return f
}

func (f *fixture) post(path, key, body string, headers ...string) events.LambdaFunctionURLResponse {
	h := http.Header{}
	if key != "" {
		h.Set("X-Sig", sign(key, []byte(body)))
	}
	for i := 0; i+1 < len(headers); i += 2 {
		h.Set(headers[i], headers[i+1])
	}
	return f.rc.Handle(context.Background(), webhook.Request{Method: "POST", Path: path, Header: h, Body: []byte(body)})
}

func wantStatus(t *testing.T, got events.LambdaFunctionURLResponse, status int, what string) {
	t.Helper()
	if got.StatusCode != status {
		t.Fatalf("%s: %d %s, want %d", what, got.StatusCode, got.Body, status)
	}
}

// A verified delivery is routed by its account and queued once, as ids
// only; a redelivery is 200 and not queued again.
func TestVerifiedDeliveryIsQueuedOnce(t *testing.T) {
	f := newFixture()
	f.store.routes = append(f.store.routes,
		integration.WebhookRoute{Platform: "shopify", Key: "shop.myshopify.com", AccountID: "acct-1", IntegrationID: "int-1"},
		integration.WebhookRoute{Platform: "shopify", Key: "shop.myshopify.com", AccountID: "acct-2", IntegrationID: "int-2"})
	body := `{"id":"ev-1","event":"products/update","account":"shop.myshopify.com","objects":["42"],"title":"secret tenant content"}`
	got := f.post("/webhooks/shopify", "shop-secret", body)
	wantStatus(t, got, 200, "delivery")
	jobs := f.queue.jobs(t)
	if len(jobs) != 2 {
		t.Fatalf("%d jobs, want one per integration", len(jobs))
	}
	for _, j := range jobs {
		if j.Kind != "webhook" || j.Webhook == nil || j.Webhook.DeliveryID != "ev-1" || j.Webhook.Platform != "shopify" ||
			j.Webhook.Event != "products/update" || len(j.Webhook.ObjectIDs) != 1 || j.Webhook.ObjectIDs[0] != "42" {
			t.Fatalf("job %+v %+v", j, j.Webhook)
		}
	}
	for _, m := range f.queue.sent {
		if strings.Contains(m.Body, "secret tenant content") {
			t.Fatalf("the job carries the body: %s", m.Body)
		}
	}
	if f.store.counts["acct-1/int-1/received"] != 1 || f.store.counts["acct-2/int-2/received"] != 1 {
		t.Fatalf("counts %v", f.store.counts)
	}
	if m := f.store.markers["shopify#ev-1"]; m.State != integration.DeliveryQueued || !m.Expires.Equal(f.now.Add(MarkerTTL)) {
		t.Fatalf("marker %+v", m)
	}
	f.now = f.now.Add(time.Hour)
	got = f.post("/webhooks/shopify", "shop-secret", body)
	wantStatus(t, got, 200, "redelivery")
	if !strings.Contains(got.Body, outcomeDuplicate) || len(f.queue.sent) != 2 {
		t.Fatalf("redelivery: %s, %d messages", got.Body, len(f.queue.sent))
	}
}

// A bad, missing or wrong-key signature is 401 and nothing is queued or
// claimed; against a known registration, the rejection is counted.
func TestUnverifiedDeliveryIsRefused(t *testing.T) {
	f := newFixture()
	f.store.routes = append(f.store.routes, integration.WebhookRoute{Platform: "shopify", Key: "shop", AccountID: "a", IntegrationID: "i"},
		integration.WebhookRoute{Platform: "google_calendar", Key: "chan-1", AccountID: "a", IntegrationID: "g", TokenHash: "tok-hash"})
	body := `{"id":"ev-1","account":"shop"}`
	for name, got := range map[string]events.LambdaFunctionURLResponse{
		"wrong secret":    f.post("/webhooks/shopify", "other", body),
		"missing header":  f.post("/webhooks/shopify", "", body),
		"one byte":        f.rc.Handle(context.Background(), webhook.Request{Method: "POST", Path: "/webhooks/shopify", Header: http.Header{"X-Sig": {sign("shop-secret", []byte(body))}}, Body: []byte(body + " ")}),
		"unconfigured":    f.post("/webhooks/tiktok", "", body),
		"google wrong":    f.post("/webhooks/google_calendar", "other", `{"id":"1","account":"chan-1"}`, "X-Channel", "chan-1"),
		"google unknown":  f.post("/webhooks/google_calendar", "tok-hash", `{"id":"1","account":"chan-2"}`, "X-Channel", "chan-2"),
		"jira missing id": f.post("/webhooks/jira", "jira-secret", body),
	} {
		if got.StatusCode != 401 || !strings.Contains(got.Body, `"unauthorized"`) {
			t.Errorf("%s: %d %s", name, got.StatusCode, got.Body)
		}
	}
	if len(f.queue.sent) != 0 || len(f.store.markers) != 0 {
		t.Fatalf("refused deliveries queued %d, claimed %d", len(f.queue.sent), len(f.store.markers))
	}
	if f.store.counts["a/g/rejected"] != 1 || f.store.counts["a/i/rejected"] != 0 {
		t.Fatalf("rejections counted %v: only the known channel's", f.store.counts)
	}
}

// An event for no known integration is 200, counted, not queued.
func TestUnknownAccountIsDropped(t *testing.T) {
	f := newFixture()
	got := f.post("/webhooks/slack", "slack-secret", `{"id":"ev-9","account":"T-unknown"}`)
	wantStatus(t, got, 200, "unknown team")
	if !strings.Contains(got.Body, outcomeUnrouted) || len(f.queue.sent) != 0 || f.rc.Unrouted() != 1 {
		t.Fatalf("%s; %d queued, %d unrouted", got.Body, len(f.queue.sent), f.rc.Unrouted())
	}
}

// An enqueue that fails after the marker is written loses nothing: a
// redelivery while the marker is fresh is told to come back; one after
// StaleAfter queues it, once.
func TestFailedEnqueueIsQueuedOnceOnRetry(t *testing.T) {
	f := newFixture()
	f.store.routes = append(f.store.routes, integration.WebhookRoute{Platform: "slack", Key: "T1", AccountID: "a", IntegrationID: "i"})
	body := `{"id":"ev-1","account":"T1"}`
	f.queue.fail = 1
	wantStatus(t, f.post("/webhooks/slack", "slack-secret", body), 500, "enqueue fails")
	f.now = f.now.Add(5 * time.Second)
	wantStatus(t, f.post("/webhooks/slack", "slack-secret", body), 409, "retry while pending")
	f.now = f.now.Add(StaleAfter)
	wantStatus(t, f.post("/webhooks/slack", "slack-secret", body), 200, "retry after the marker went stale")
	f.now = f.now.Add(time.Minute)
	wantStatus(t, f.post("/webhooks/slack", "slack-secret", body), 200, "later retry")
	if jobs := f.queue.jobs(t); len(jobs) != 1 {
		t.Fatalf("queued %d times, want once", len(jobs))
	}
	if f.store.counts["a/i/received"] != 1 {
		t.Fatalf("counts %v", f.store.counts)
	}
}

// WordPress deliveries are verified with the integration's own secret,
// found from the hook id in the path; secret versions are read once.
func TestWordPressKeysFromTheIntegrationsSecret(t *testing.T) {
	f := newFixture()
	f.store.routes = append(f.store.routes, integration.WebhookRoute{Platform: "wordpress", Key: "int-1", AccountID: "a", IntegrationID: "int-1"})
	f.store.its["a/int-1"] = &integration.Integration{ID: "int-1", AccountID: "a", Credentials: integration.CredentialsRef{SecretName: "s", VersionID: "v1"}}
	f.secrets.versions["s@v1"] = map[string]string{"app_password": "pw", SecretField: "whsec_one"}
	f.secrets.versions["s@v2"] = map[string]string{"app_password": "pw", SecretField: "whsec_two"}
	for i := range 3 {
		wantStatus(t, f.post("/webhooks/wordpress/int-1", "whsec_one", fmt.Sprintf(`{"id":"d-%d","objects":["7"]}`, i)), 200, "signed delivery")
	}
	if f.secrets.reads != 1 {
		t.Fatalf("secret read %d times, want once", f.secrets.reads)
	}
	// The app password is not what verifies.
	wantStatus(t, f.post("/webhooks/wordpress/int-1", "pw", `{"id":"d-x"}`), 401, "signed with another credential")
	wantStatus(t, f.post("/webhooks/wordpress/int-2", "whsec_one", `{"id":"d-y"}`), 401, "another hook id")
	// Rotated: the new version's secret verifies, the old one no longer.
	f.store.its["a/int-1"].Credentials.VersionID = "v2"
	wantStatus(t, f.post("/webhooks/wordpress/int-1", "whsec_one", `{"id":"d-z"}`), 401, "the old secret")
	wantStatus(t, f.post("/webhooks/wordpress/int-1", "whsec_two", `{"id":"d-z"}`), 200, "the new secret")
	jobs := f.queue.jobs(t)
	if len(jobs) != 4 || jobs[0].IntegrationID != "int-1" || jobs[0].Webhook.Model != "post" {
		t.Fatalf("jobs %+v", jobs)
	}
	if f.store.counts["a/int-1/rejected"] != 2 {
		t.Fatalf("counts %v", f.store.counts)
	}
}

// Jira's and Trello's hook ids are found by their hash; Trello's
// callback URL is the one stored.
func TestSecretHookIDs(t *testing.T) {
	f := newFixture()
	f.store.routes = append(f.store.routes,
		integration.WebhookRoute{Platform: "jira", Key: HashHookID("hook-jira"), AccountID: "a", IntegrationID: "j"},
		integration.WebhookRoute{Platform: "trello", Key: HashHookID("hook-trello"), AccountID: "a", IntegrationID: "t", CallbackURL: "https://x/webhooks/trello/hook-trello"})
	f.store.its["a/t"] = &integration.Integration{ID: "t", AccountID: "a", Credentials: integration.CredentialsRef{SecretName: "t", VersionID: "1"}}
	f.secrets.versions["t@1"] = map[string]string{SecretField: "trello-secret"}
	wantStatus(t, f.post("/webhooks/jira/hook-jira", "jira-secret", `{"id":"j-1"}`), 200, "jira")
	wantStatus(t, f.post("/webhooks/jira/hook-other", "jira-secret", `{"id":"j-2"}`), 401, "jira, wrong hook id")
	wantStatus(t, f.post("/webhooks/trello/hook-trello", "trello-secret", `{"id":"t-1"}`), 200, "trello")
	wantStatus(t, f.post("/webhooks/trello/hook-other", "trello-secret", `{"id":"t-2"}`), 401, "trello, wrong hook id")
	head := f.rc.Handle(context.Background(), webhook.Request{Method: "HEAD", Path: "/webhooks/trello/hook-trello"})
	wantStatus(t, head, 200, "trello's HEAD")
	if len(f.queue.sent) != 2 {
		t.Fatalf("%d queued", len(f.queue.sent))
	}
}

// A handshake is answered after verification and not queued.
func TestHandshakes(t *testing.T) {
	f := newFixture()
	got := f.post("/webhooks/slack", "slack-secret", `{"challenge":"c-123"}`)
	wantStatus(t, got, 200, "url_verification")
	if got.Body != `{"challenge":"c-123"}` {
		t.Fatalf("reply %s", got.Body)
	}
	wantStatus(t, f.post("/webhooks/slack", "", `{"challenge":"c-123"}`), 401, "unsigned url_verification")
	wantStatus(t, f.post("/webhooks/slack", "slack-secret", `{"ack":true}`), 200, "ack")
	if len(f.queue.sent) != 0 || len(f.store.markers) != 0 {
		t.Fatal("a handshake was queued")
	}
}

// Paths, methods, sizes and bodies the receiver does not take.
func TestRefusals(t *testing.T) {
	f := newFixture()
	f.rc.Platforms = []string{"shopify"}
	wantStatus(t, f.post("/webhooks/slack", "slack-secret", `{"id":"1"}`), 404, "another function's platform")
	wantStatus(t, f.post("/other", "shop-secret", `{"id":"1"}`), 404, "not a webhook path")
	wantStatus(t, f.post("/webhooks/shopify/a/b", "shop-secret", `{"id":"1"}`), 404, "a deeper path")
	wantStatus(t, f.rc.Handle(context.Background(), webhook.Request{Method: "GET", Path: "/webhooks/shopify"}), 404, "GET")
	big := make([]byte, MaxBodyBytes+1)
	got := f.rc.Handle(context.Background(), webhook.Request{Method: "POST", Path: "/webhooks/shopify", Header: http.Header{}, Body: big})
	if got.StatusCode != 413 || !strings.Contains(got.Body, "too_large") {
		t.Fatalf("over 6 MB: %d %s", got.StatusCode, got.Body)
	}
	wantStatus(t, f.post("/webhooks/shopify", "shop-secret", `not json`), 400, "malformed body")
	wantStatus(t, f.post("/webhooks/shopify", "shop-secret", `{"account":"x"}`), 400, "no delivery id")
}

// A delivery naming many objects still makes a job under 8 KB.
func TestJobStaysSmall(t *testing.T) {
	f := newFixture()
	f.store.routes = append(f.store.routes, integration.WebhookRoute{Platform: "shopify", Key: "s", AccountID: "a", IntegrationID: "i"})
	var ids []string
	for i := range 2000 {
		ids = append(ids, fmt.Sprint("gid://shopify/Product/", 1000000+i))
	}
	b, _ := json.Marshal(map[string]any{"id": "big", "account": "s", "objects": ids})
	wantStatus(t, f.post("/webhooks/shopify", "shop-secret", string(b)), 200, "many objects")
	if n := len(f.queue.sent[0].Body); n > maxJobBytes {
		t.Fatalf("job of %d bytes", n)
	}
}

// The function URL's event: headers as Lambda gives them (lower case), a
// binary body base64-encoded.
func TestFunctionURLEvent(t *testing.T) {
	f := newFixture()
	f.store.routes = append(f.store.routes, integration.WebhookRoute{Platform: "shopify", Key: "s", AccountID: "a", IntegrationID: "i"})
	body := `{"id":"u-1","account":"s"}`
	ev := events.LambdaFunctionURLRequest{RawPath: "/webhooks/shopify", Headers: map[string]string{"x-sig": sign("shop-secret", []byte(body))},
		Body: base64.StdEncoding.EncodeToString([]byte(body)), IsBase64Encoded: true,
		RequestContext: events.LambdaFunctionURLRequestContext{HTTP: events.LambdaFunctionURLRequestContextHTTPDescription{Method: "POST", Path: "/webhooks/shopify"}}}
	got, err := f.rc.HandleURL(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, got, 200, "function URL event")
	if len(f.queue.sent) != 1 {
		t.Fatal("not queued")
	}
}
