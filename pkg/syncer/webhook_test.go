package syncer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/joinery/joinery/pkg/awstest"
	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/dynamostore"
	"github.com/joinery/joinery/pkg/embedded"
	"github.com/joinery/joinery/pkg/integration"
	"github.com/joinery/joinery/pkg/syncer"
)

// hookPlatform is a WordPress whose posts a test edits, trashes and
// deletes; stale, when set, is answered once instead of the post (a read
// that raced a newer one).
type hookPlatform struct {
	mu    sync.Mutex
	posts map[string]integration.Record
	stale *integration.Record
	gets  int
	err   error
}

func (p *hookPlatform) TestConnection(context.Context, connector.Connection) (connector.TestResult, error) {
	return connector.TestResult{OK: true}, nil
}
func (p *hookPlatform) Structure(context.Context, connector.Connection) (connector.Structure, error) {
	return connector.Structure{}, nil
}
func (p *hookPlatform) Models() []string { return []string{"post", "page", "media"} }
func (p *hookPlatform) List(context.Context, connector.Connection, connector.ListRequest) (connector.ListPage, error) {
	return connector.ListPage{}, nil
}
func (p *hookPlatform) Create(context.Context, connector.Connection, integration.Record) (integration.Record, error) {
	return integration.Record{}, nil
}
func (p *hookPlatform) Update(context.Context, connector.Connection, integration.Record) (integration.Record, error) {
	return integration.Record{}, nil
}
func (p *hookPlatform) Delete(context.Context, connector.Connection, string, string, bool) error {
	return nil
}
func (p *hookPlatform) Get(_ context.Context, _ connector.Connection, model, id string) (integration.Record, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.gets++
	if p.err != nil {
		return integration.Record{}, p.err
	}
	if p.stale != nil {
		r := *p.stale
		p.stale = nil
		return r, nil
	}
	r, ok := p.posts[model+"/"+id]
	if !ok {
		return integration.Record{}, &connector.Error{Kind: connector.ErrNotFound, Message: "no such post"}
	}
	return r, nil
}

func (p *hookPlatform) set(r integration.Record) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.posts[r.Model+"/"+r.ExternalID] = r
}

// hookStore is a store of either backend.
type hookStore interface {
	integration.Store
	integration.SyncStore
}

type hookHarness struct {
	t        *testing.T
	store    hookStore
	service  *integration.Service
	engine   *syncer.Engine
	platform *hookPlatform
	it       *integration.Integration
}

func newHookHarness(t *testing.T) *hookHarness { return newHookHarnessOn(t, "embedded") }

// newHookHarnessOn is the harness on backend: "embedded" or "moto".
func newHookHarnessOn(t *testing.T, backend string) *hookHarness {
	t.Helper()
	dir := t.TempDir()
	var store hookStore
	if backend == "moto" {
		db := dynamodb.NewFromConfig(awstest.Config(awstest.Moto(t)))
		table := fmt.Sprintf("joinery-webhook-%d", time.Now().UnixNano())
		if err := dynamostore.CreateTable(awstest.Context(t), db, table); err != nil {
			t.Fatal(err)
		}
		store = dynamostore.New(db, table)
	} else {
		es, err := embedded.OpenStore(filepath.Join(dir, "joinery.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = es.Close() })
		store = es
	}
	secrets, err := embedded.OpenSecrets(filepath.Join(dir, "secrets"))
	if err != nil {
		t.Fatal(err)
	}
	svc := &integration.Service{Store: store, Secrets: secrets, Catalog: connector.NewCatalog(), SyncData: store}
	p := &hookPlatform{posts: map[string]integration.Record{}}
	h := &hookHarness{t: t, store: store, service: svc, platform: p,
		engine: &syncer.Engine{Integrations: svc, Store: store, Connectors: map[string]connector.Connector{"wordpress": p},
			Backoff: func(int, time.Duration) time.Duration { return time.Millisecond }}}
	h.it, err = svc.Create(context.Background(), integration.Actor{Subject: "u", AccountID: "acct-1", Role: integration.RoleEditor},
		integration.CreateInput{SiteID: "site-1", Platform: "wordpress", ExternalSiteURL: "https://blog.example.com",
			Credentials: map[string]string{"username": "u", "app_password": "secret pass"}})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

var hookT0 = time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC)

// deliver processes one delivery as the webhook worker does.
func (h *hookHarness) deliver(id, action, postType string, objects ...string) error {
	h.t.Helper()
	return h.engine.Handle(context.Background(), syncer.Job{Kind: "webhook", AccountID: h.it.AccountID, IntegrationID: h.it.ID,
		Webhook: &syncer.WebhookJob{Platform: h.it.Platform, DeliveryID: id, Event: action, Model: postType, ObjectIDs: objects, ReceivedAt: hookT0}}, 1)
}

func (h *hookHarness) record(model, id string) (*integration.StoredRecord, syncer.RecordJSON) {
	h.t.Helper()
	r, err := h.store.GetRecord(context.Background(), h.it.ID, model, id)
	if err != nil {
		h.t.Fatalf("record %s %s: %v", model, id, err)
	}
	var rec syncer.RecordJSON
	if err := json.Unmarshal(r.Data, &rec); err != nil {
		h.t.Fatal(err)
	}
	return r, rec
}

func (h *hookHarness) webhookEvents() []integration.SyncEvent {
	h.t.Helper()
	evs, _, err := h.store.ListEvents(context.Background(), integration.EventQuery{IntegrationID: h.it.ID, Type: "webhook", Limit: 100})
	if err != nil {
		h.t.Fatal(err)
	}
	return evs
}

// TestWebhookWritesTheObjectAsItIsNow: each WordPress delivery reads the
// post again and writes it as sync does; a replayed or late delivery,
// or a read that raced a newer one, never takes the record back; a
// trashed post is written as WordPress shows it, a deleted one marked
// deleted; each delivery is one webhook event.
func TestWebhookWritesTheObjectAsItIsNow(t *testing.T) {
	for _, backend := range []string{"embedded", "moto"} {
		t.Run(backend, func(t *testing.T) { testWebhookWritesTheObjectAsItIsNow(t, newHookHarnessOn(t, backend)) })
	}
}

func testWebhookWritesTheObjectAsItIsNow(t *testing.T, h *hookHarness) {
	v1 := integration.Record{ExternalID: "7", Model: "post", Title: "First", Status: "publish", ModifiedAt: hookT0}
	h.platform.set(v1)
	if err := h.deliver("msg_1", "post_created", "post", "7"); err != nil {
		t.Fatal(err)
	}
	first, rec := h.record("post", "7")
	if rec.Title != "First" || rec.Status != "publish" || first.Deleted {
		t.Fatalf("record after post_created: %+v", rec)
	}

	// The same message again (SQS redelivered it): no write, no event.
	if err := h.deliver("msg_1", "post_created", "post", "7"); err != nil {
		t.Fatal(err)
	}
	if again, _ := h.record("post", "7"); !again.ChangedAt.Equal(first.ChangedAt) {
		t.Fatal("the same delivery processed again wrote the record again")
	}
	if n := len(h.webhookEvents()); n != 1 {
		t.Fatalf("%d webhook events after one delivery processed twice, want 1", n)
	}

	// Edited, then trashed: the record is the post as WordPress now shows it.
	v2 := integration.Record{ExternalID: "7", Model: "post", Title: "Second", Status: "trash", ModifiedAt: hookT0.Add(time.Minute)}
	h.platform.set(v2)
	if err := h.deliver("msg_2", "post_trashed", "post", "7"); err != nil {
		t.Fatal(err)
	}
	trashed, rec := h.record("post", "7")
	if rec.Title != "Second" || rec.Status != "trash" {
		t.Fatalf("record after post_trashed: %+v", rec)
	}

	// A late delivery of the first edit reads the post as it is now:
	// nothing changes.
	if err := h.deliver("msg_0", "post_updated", "post", "7"); err != nil {
		t.Fatal(err)
	}
	// A read that raced a newer one answers the older state: not written.
	h.platform.stale = &v1
	if err := h.deliver("msg_3", "post_updated", "post", "7"); err != nil {
		t.Fatal(err)
	}
	if late, rec := h.record("post", "7"); !late.ChangedAt.Equal(trashed.ChangedAt) || rec.Title != "Second" {
		t.Fatalf("a late delivery or an older read took the record back: %+v", rec)
	}

	// Untrashed, then deleted for good.
	h.platform.set(integration.Record{ExternalID: "7", Model: "post", Title: "Second", Status: "draft", ModifiedAt: hookT0.Add(2 * time.Minute)})
	if err := h.deliver("msg_4", "post_untrashed", "post", "7"); err != nil {
		t.Fatal(err)
	}
	if _, rec := h.record("post", "7"); rec.Status != "draft" {
		t.Fatalf("record after post_untrashed: %+v", rec)
	}
	h.platform.mu.Lock()
	delete(h.platform.posts, "post/7")
	h.platform.mu.Unlock()
	if err := h.deliver("msg_5", "post_deleted", "post", "7"); err != nil {
		t.Fatal(err)
	}
	if gone, _ := h.record("post", "7"); !gone.Deleted {
		t.Fatal("a deleted post's record is not marked deleted")
	}
	// A late edit of a deleted post changes nothing.
	if err := h.deliver("msg_6", "post_updated", "post", "7"); err != nil {
		t.Fatal(err)
	}
	if gone, _ := h.record("post", "7"); !gone.Deleted {
		t.Fatal("a late delivery brought a deleted post back")
	}

	evs := h.webhookEvents()
	if len(evs) != 7 {
		t.Fatalf("%d webhook events, want one per delivery id (7)", len(evs))
	}
	ids := map[string]bool{}
	for _, e := range evs {
		ids[e.Details["delivery_id"].(string)] = true
		if e.Details["platform"] != "wordpress" || e.Model != "post" || e.ExternalID != "7" {
			t.Fatalf("event %+v", e)
		}
	}
	if len(ids) != 7 {
		t.Fatalf("events of deliveries %v", ids)
	}
}

// TestWebhookOfAnInactiveIntegrationProcessesNothing: no call to the
// platform, no record, no event.
func TestWebhookOfAnInactiveIntegrationProcessesNothing(t *testing.T) {
	h := newHookHarness(t)
	off := false
	if _, err := h.service.Update(context.Background(), integration.Actor{Subject: "u", AccountID: "acct-1", Role: integration.RoleEditor}, h.it.ID,
		integration.PatchInput{IsActive: &off}); err != nil {
		t.Fatal(err)
	}
	h.platform.set(integration.Record{ExternalID: "1", Model: "post", Title: "x", ModifiedAt: hookT0})
	if err := h.deliver("msg_1", "post_updated", "post", "1"); err != nil {
		t.Fatal(err)
	}
	if h.platform.gets != 0 || len(h.webhookEvents()) != 0 {
		t.Fatalf("inactive: %d reads, %d events", h.platform.gets, len(h.webhookEvents()))
	}
	if _, err := h.store.GetRecord(context.Background(), h.it.ID, "post", "1"); integration.ErrorCode(err) != integration.ENOTFOUND {
		t.Fatalf("inactive integration wrote a record: %v", err)
	}
}

// TestWebhookWithoutAMappingIsOnlyRecorded: a post type the connector
// does not sync, or a platform whose deliveries map to no records yet,
// is a webhook event and nothing else; pages and attachments map to
// their models.
func TestWebhookWithoutAMappingIsOnlyRecorded(t *testing.T) {
	h := newHookHarness(t)
	if err := h.deliver("msg_1", "post_updated", "product", "3"); err != nil {
		t.Fatal(err)
	}
	if h.platform.gets != 0 || len(h.webhookEvents()) != 1 {
		t.Fatalf("unsynced post type: %d reads, %d events", h.platform.gets, len(h.webhookEvents()))
	}
	h.platform.set(integration.Record{ExternalID: "4", Model: "media", Title: "img", ModifiedAt: hookT0})
	h.platform.set(integration.Record{ExternalID: "5", Model: "page", Title: "About", ModifiedAt: hookT0})
	if err := h.deliver("msg_2", "post_updated", "attachment", "4"); err != nil {
		t.Fatal(err)
	}
	if err := h.deliver("msg_3", "post_created", "page", "5"); err != nil {
		t.Fatal(err)
	}
	if _, rec := h.record("media", "4"); rec.Title != "img" {
		t.Fatalf("attachment: %+v", rec)
	}
	if _, rec := h.record("page", "5"); rec.Title != "About" {
		t.Fatalf("page: %+v", rec)
	}

	// A Slack integration's delivery: recorded, nothing read.
	ctx := context.Background()
	slack := &integration.Integration{ID: integration.NewID(), AccountID: "acct-1", SiteID: "site-2", Platform: "slack", IsActive: true,
		Config: map[string]any{}, CreatedAt: hookT0, UpdatedAt: hookT0, Version: 1, Rev: 1}
	if err := h.store.CreateIntegration(ctx, slack); err != nil {
		t.Fatal(err)
	}
	gets := h.platform.gets
	job := syncer.Job{Kind: "webhook", AccountID: "acct-1", IntegrationID: slack.ID,
		Webhook: &syncer.WebhookJob{Platform: "slack", DeliveryID: "Ev123", Event: "message", ReceivedAt: hookT0}}
	for range 2 {
		if err := h.engine.Handle(ctx, job, 1); err != nil {
			t.Fatal(err)
		}
	}
	evs, _, err := h.store.ListEvents(ctx, integration.EventQuery{IntegrationID: slack.ID, Type: "webhook", Limit: 10})
	if err != nil || len(evs) != 1 || evs[0].Details["delivery_id"] != "Ev123" || h.platform.gets != gets {
		t.Fatalf("slack delivery: %+v %v (%d reads)", evs, err, h.platform.gets-gets)
	}
	// A job naming another platform than its integration's: nothing.
	job.Webhook.Platform, job.Webhook.DeliveryID = "shopify", "x1"
	if err := h.engine.Handle(ctx, job, 1); err != nil {
		t.Fatal(err)
	}
	if evs, _, _ := h.store.ListEvents(ctx, integration.EventQuery{IntegrationID: slack.ID, Type: "webhook", Limit: 10}); len(evs) != 1 {
		t.Fatalf("a job of another platform was recorded: %d events", len(evs))
	}
}

// TestWebhookReadFailures: a platform that is down is asked again later
// (the job retried); one that refuses the credentials marks the
// connection lost and records the delivery failed, not retried.
func TestWebhookReadFailures(t *testing.T) {
	h := newHookHarness(t)
	h.platform.err = &connector.Error{Kind: connector.ErrUnavailable, Message: "WordPress is down"}
	var retry *syncer.Retry
	if err := h.deliver("msg_1", "post_updated", "post", "1"); err == nil || !asRetry(err, &retry) {
		t.Fatalf("platform down: %v, want a retry", err)
	}
	if n := len(h.webhookEvents()); n != 0 {
		t.Fatalf("%d events for a delivery to retry", n)
	}
	h.platform.err = &connector.Error{Kind: connector.ErrAuth, Message: "WordPress rejected the Application Password."}
	if err := h.deliver("msg_1", "post_updated", "post", "1"); err != nil {
		t.Fatal(err)
	}
	evs := h.webhookEvents()
	if len(evs) != 1 || evs[0].Status != "error" {
		t.Fatalf("events: %+v", evs)
	}
	it, err := h.service.Get(context.Background(), integration.Actor{AccountID: "acct-1", Role: integration.RoleViewer}, h.it.ID)
	if err != nil || it.ConnectionStatus != integration.ConnectionReauthorizationNeeded {
		t.Fatalf("connection status %q %v", it.ConnectionStatus, err)
	}
}

func asRetry(err error, r **syncer.Retry) bool {
	x, ok := err.(*syncer.Retry)
	*r = x
	return ok
}

// TestWebhookDeliveriesOfManyPosts: 200 deliveries of 50 posts, some
// twice and out of order, concurrently, leave 50 current records and one
// event per delivery id.
func TestWebhookDeliveriesOfManyPosts(t *testing.T) {
	h := newHookHarness(t)
	for i := 1; i <= 50; i++ {
		h.platform.set(integration.Record{ExternalID: strconv.Itoa(i), Model: "post", Title: "v" + strconv.Itoa(i), ModifiedAt: hookT0.Add(time.Duration(i) * time.Second)})
	}
	// Every message twice, newest first, by 8 workers at once.
	todo := make(chan int, 400)
	for range 2 {
		for d := 199; d >= 0; d-- {
			todo <- d
		}
	}
	close(todo)
	var wg sync.WaitGroup
	errs := make(chan error, 400)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for d := range todo {
				errs <- h.deliver("msg_"+strconv.Itoa(d), "post_updated", "post", strconv.Itoa(d%50+1))
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i <= 50; i++ {
		if _, rec := h.record("post", strconv.Itoa(i)); rec.Title != "v"+strconv.Itoa(i) {
			t.Fatalf("post %d: %+v", i, rec)
		}
	}
	var n int
	cursor := ""
	for {
		evs, next, err := h.store.ListEvents(context.Background(), integration.EventQuery{IntegrationID: h.it.ID, Type: "webhook", Limit: 100, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		n += len(evs)
		if next == "" {
			break
		}
		cursor = next
	}
	if n != 200 {
		t.Fatalf("%d webhook events, want 200", n)
	}
}
