package apigw_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/joinery/joinery/pkg/apigw"
	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/embedded"
	"github.com/joinery/joinery/pkg/integration"
	"github.com/joinery/joinery/pkg/sqsworker"
	"github.com/joinery/joinery/pkg/syncer"
)

// onePage is a platform with three posts on one page.
type onePage struct{ passwordTester }

func (onePage) Models() []string { return []string{"post", "page"} }
func (onePage) List(_ context.Context, _ connector.Connection, req connector.ListRequest) (connector.ListPage, error) {
	p := connector.ListPage{Total: 0, TotalPages: 1}
	if req.Model == "post" {
		for i := 1; i <= 3; i++ {
			p.Records = append(p.Records, integration.Record{ExternalID: strconv.Itoa(i), Model: "post", Title: "Post " + strconv.Itoa(i), Status: "publish"})
		}
		p.Total = 3
	}
	return p, nil
}
func (onePage) Create(context.Context, connector.Connection, integration.Record) (integration.Record, error) {
	return integration.Record{}, nil
}
func (onePage) Update(context.Context, connector.Connection, integration.Record) (integration.Record, error) {
	return integration.Record{}, nil
}
func (onePage) Delete(context.Context, connector.Connection, string, string, bool) error { return nil }

func TestSampleEventsSync(t *testing.T) {
	api := newAPI(t)
	store := api.Service.Store.(*embedded.Store)
	api.Service.NewID = integration.NewID
	create := loadEvent(t, "integrations-create.json")
	api.Service.NewID = func() string { return "01JDEMO0000000000000000000" }
	if resp, _ := api.CreateIntegration()(context.Background(), create); resp.StatusCode != 201 {
		t.Fatalf("create: %d %s", resp.StatusCode, resp.Body)
	}
	api.Service.NewID = integration.NewID
	q := embedded.NewQueue(embedded.QueueOptions{VisibilityTimeout: time.Second, MaxReceives: 3})
	engine := &syncer.Engine{Integrations: api.Service, Store: store, Queue: q, MaxReceives: 3,
		Connectors: map[string]connector.Connector{"wordpress": &onePage{}}}
	s := &apigw.SyncAPI{API: api, Engine: engine}

	status, body, resp := call(t, s.StartSync(), loadEvent(t, "integrations-sync.json"))
	if status != 202 || body["run_id"] == nil {
		t.Fatalf("sync: %d %s", status, resp.Body)
	}
	runID := body["run_id"]
	if status, body, _ := call(t, s.StartSync(), loadEvent(t, "integrations-sync.json")); status != 200 || body["run_id"] != runID {
		t.Fatalf("second sync: %d %v", status, body)
	}
	bad := withBody(loadEvent(t, "integrations-sync.json"), map[string]any{"direction": "sideways", "models": []string{"post", "widget"}})
	if status, body, resp := call(t, s.StartSync(), bad); status != 400 || body["error"].(map[string]any)["fields"].(map[string]any)["models[1]"] == nil ||
		body["error"].(map[string]any)["fields"].(map[string]any)["direction"] == nil {
		t.Fatalf("bad sync: %d %s", status, resp.Body)
	}
	viewer := loadEvent(t, "integrations-sync.json")
	viewer.RequestContext.Authorizer.JWT.Claims["role"] = "viewer"
	if status, _, _ := call(t, s.StartSync(), viewer); status != 403 {
		t.Fatalf("viewer started a sync: %d", status)
	}

	// Run the queue with the sync worker until the run is done.
	w := &sqsworker.Worker{Engine: engine, Visibility: q}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { _ = q.Consume(ctx, w.Handle) }()
	defer cancel()
	var st map[string]any
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		_, st, _ = call(t, s.SyncStatus(), loadEvent(t, "integrations-sync-status.json"))
		if run, _ := st["run"].(map[string]any); run != nil && run["status"] != "running" {
			break
		}
	}
	run := st["run"].(map[string]any)
	if st["sync_status"] != "completed" || run["status"] != "completed" || run["progress"].(map[string]any)["items_written"] != float64(3) {
		t.Fatalf("sync_status: %v", st)
	}
	// The feed shows records once they are older than its safety window:
	// read it as the clock will be a minute on.
	later := &syncer.Engine{Integrations: api.Service, Store: store, Connectors: engine.Connectors,
		Now: func() time.Time { return time.Now().Add(time.Minute) }}
	status, body, resp = call(t, (&apigw.SyncAPI{API: api, Engine: later}).Records(), loadEvent(t, "integrations-records.json"))
	items, _ := body["items"].([]any)
	if status != 200 || len(items) != 3 || items[0].(map[string]any)["title"] != "Post 1" || items[0].(map[string]any)["changed_at"] == nil {
		t.Fatalf("records: %d %s", status, resp.Body)
	}
	noModel := loadEvent(t, "integrations-records.json")
	noModel.QueryStringParameters = map[string]string{"modified_after": "yesterday"}
	if status, body, resp := call(t, s.Records(), noModel); status != 400 || body["error"].(map[string]any)["fields"].(map[string]any)["modified_after"] == nil {
		t.Fatalf("records without a model: %d %s", status, resp.Body)
	}
	if status, _, resp := call(t, s.Events(), loadEvent(t, "integrations-events.json")); status != 200 || !strings.Contains(resp.Body, `"items":[]`) {
		t.Fatalf("error events: %d %s", status, resp.Body)
	}
	status, body, resp = call(t, s.SyncHealth(), loadEvent(t, "integrations-sync-health.json"))
	if status != 200 || body["records"].(map[string]any)["post"] != float64(3) || body["last_success_at"] == nil {
		t.Fatalf("sync_health: %d %s", status, resp.Body)
	}
	if strings.Contains(resp.Body, "abcd efgh") {
		t.Fatal("sync_health shows the app password")
	}
}

// The worker's sample event: a job of a run that does not exist is moot,
// and is acknowledged.
func TestSampleEventWorker(t *testing.T) {
	api := newAPI(t)
	engine := &syncer.Engine{Integrations: api.Service, Store: api.Service.Store.(*embedded.Store), Connectors: map[string]connector.Connector{"wordpress": &onePage{}}}
	b, err := os.ReadFile(filepath.Join("..", "..", "events", "sync-worker.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ev events.SQSEvent
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatal(err)
	}
	resp, err := (&sqsworker.Worker{Engine: engine}).Handle(context.Background(), ev)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("worker: %v %v", resp, err)
	}
	ev.Records[0].Body = "not json"
	if resp, _ := (&sqsworker.Worker{Engine: engine}).Handle(context.Background(), ev); len(resp.BatchItemFailures) != 1 {
		t.Fatalf("a message that is not a job must fail (and reach the DLQ): %v", resp)
	}
}

func (onePage) PushModels() []string { return []string{"post"} }
func (onePage) EnsureTerm(_ context.Context, _ connector.Connection, model, name string) (integration.Term, error) {
	return integration.Term{ExternalID: model + ":" + name, Name: name}, nil
}
func (onePage) Get(_ context.Context, _ connector.Connection, model, id string) (integration.Record, error) {
	return integration.Record{ExternalID: id, Model: model}, nil
}
func (onePage) FindBySlug(context.Context, connector.Connection, string, string) (integration.Record, bool, error) {
	return integration.Record{}, false, nil
}

type createsPosts struct{ onePage }

func (createsPosts) Create(_ context.Context, _ connector.Connection, r integration.Record) (integration.Record, error) {
	r.ExternalID = "501"
	return r, nil
}
func (createsPosts) Update(_ context.Context, _ connector.Connection, r integration.Record) (integration.Record, error) {
	r.ModifiedAt = time.Now().UTC()
	return r, nil
}

func TestSampleEventsPush(t *testing.T) {
	api := newAPI(t)
	if resp, _ := api.CreateIntegration()(context.Background(), loadEvent(t, "integrations-create.json")); resp.StatusCode != 201 {
		t.Fatalf("create: %d %s", resp.StatusCode, resp.Body)
	}
	q := embedded.NewQueue(embedded.QueueOptions{VisibilityTimeout: time.Second, MaxReceives: 3})
	engine := &syncer.Engine{Integrations: api.Service, Store: api.Service.Store.(*embedded.Store), Queue: q, MaxReceives: 3,
		Connectors: map[string]connector.Connector{"wordpress": &createsPosts{}}}
	s := &apigw.SyncAPI{API: api, Engine: engine}
	api.Service.NewID = integration.NewID
	engine.NewID = func() string { return "01JDEMOPUSH000000000000000" }
	status, body, resp := call(t, s.Push(), loadEvent(t, "integrations-push.json"))
	engine.NewID = nil
	if status != 202 || body["push_id"] != "01JDEMOPUSH000000000000000" || body["status"] != "queued" {
		t.Fatalf("push: %d %s", status, resp.Body)
	}
	for name, bad := range map[string]map[string]any{
		"data.status":             {"model": "post", "local_id": "a", "data": map[string]any{"status": "gone"}},
		"model":                   {"model": "media", "local_id": "a", "data": map[string]any{}},
		"local_id":                {"model": "post", "local_id": "a b", "data": map[string]any{}},
		"data":                    {"model": "post", "local_id": "a"},
		"data.featured_image_url": {"model": "post", "local_id": "a", "data": map[string]any{"featured_image_url": "file:///etc/passwd"}},
	} {
		status, body, resp := call(t, s.Push(), withBody(loadEvent(t, "integrations-push.json"), bad))
		if status != 400 || body["error"].(map[string]any)["fields"].(map[string]any)[name] == nil {
			t.Fatalf("%s: %d %s", name, status, resp.Body)
		}
	}
	w := &sqsworker.Worker{Engine: engine, Visibility: q}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { _ = q.Consume(ctx, w.Handle) }()
	defer cancel()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if status, body, _ = call(t, s.GetPush(), loadEvent(t, "integrations-push-get.json")); body["status"] != "queued" {
			break
		}
	}
	if status != 200 || body["status"] != "done" || body["external_id"] != "501" || body["local_id"] != "article-42" {
		t.Fatalf("push-get: %d %v", status, body)
	}
	other := loadEvent(t, "integrations-push-get.json")
	other.PathParameters["push_id"] = "01JNOSUCHPUSH"
	if status, _, _ := call(t, s.GetPush(), other); status != 404 {
		t.Fatalf("missing push: %d", status)
	}
}
