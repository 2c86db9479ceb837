package apigw_test

import (
	"context"
	"fmt"
	"reflect"
	"sync/atomic"
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

func errorOf(body map[string]any) map[string]any {
	e, _ := body["error"].(map[string]any)
	return e
}

// The sample events list an integration's runs and cancel the sample run:
// it ends as error "Cancelled." like a failed run, its queued job then
// does nothing, and a second cancel is a conflict.
func TestSampleEventsRuns(t *testing.T) {
	api := newAPI(t)
	if resp, _ := api.CreateIntegration()(context.Background(), loadEvent(t, "integrations-create.json")); resp.StatusCode != 201 {
		t.Fatalf("create: %d %s", resp.StatusCode, resp.Body)
	}
	api.Service.NewID = integration.NewID
	store := api.Service.Store.(*embedded.Store)
	q := embedded.NewQueue(embedded.QueueOptions{VisibilityTimeout: time.Second, MaxReceives: 3})
	engine := &syncer.Engine{Integrations: api.Service, Store: store, Queue: q, MaxReceives: 3,
		Connectors: map[string]connector.Connector{"wordpress": &onePage{}}}
	s := &apigw.SyncAPI{API: api, Engine: engine}

	// Ids that sort in the order they are made, the sample run's first.
	var n atomic.Int64
	engine.NewID = func() string {
		if n.Add(1) == 1 {
			return "01JDEMORUN0000000000000000"
		}
		return fmt.Sprintf("01JRUN%020d", n.Load())
	}
	if status, body, resp := call(t, s.StartSync(), loadEvent(t, "integrations-sync.json")); status != 202 || body["run_id"] != "01JDEMORUN0000000000000000" {
		t.Fatalf("sync: %d %s", status, resp.Body)
	}

	status, body, resp := call(t, s.Runs(), loadEvent(t, "integrations-runs-list.json"))
	items, _ := body["items"].([]any)
	if status != 200 || len(items) != 1 || body["next_cursor"] != nil {
		t.Fatalf("runs: %d %s", status, resp.Body)
	}
	_, st, _ := call(t, s.SyncStatus(), loadEvent(t, "integrations-sync-status.json"))
	if run := items[0].(map[string]any); run["status"] != "running" || !reflect.DeepEqual(run, st["run"]) {
		t.Fatalf("a listed run is shown as sync_status shows it:\n%v\n%v", run, st["run"])
	}

	viewer := loadEvent(t, "integrations-run-cancel.json")
	viewer.RequestContext.Authorizer.JWT.Claims["role"] = "viewer"
	if status, _, _ := call(t, s.CancelRun(), viewer); status != 403 {
		t.Fatalf("a viewer cancelled a run: %d", status)
	}
	for what, ev := range map[string]events.APIGatewayV2HTTPRequest{
		"unknown run":         withPath(loadEvent(t, "integrations-run-cancel.json"), "run_id", "01JNOSUCHRUN00000000000000"),
		"overlong run id":     withPath(loadEvent(t, "integrations-run-cancel.json"), "run_id", string(make([]byte, 300))),
		"another integration": withPath(loadEvent(t, "integrations-run-cancel.json"), "id", "01JNOSUCHINTEGRATION000000"),
		"another account":     withClaim(loadEvent(t, "integrations-run-cancel.json"), "account_id", "acct-other"),
	} {
		if status, body, resp := call(t, s.CancelRun(), ev); status != 404 || errorOf(body)["code"] != "not_found" {
			t.Fatalf("%s: %d %s", what, status, resp.Body)
		}
	}

	status, body, resp = call(t, s.CancelRun(), loadEvent(t, "integrations-run-cancel.json"))
	if status != 200 || body["id"] != "01JDEMORUN0000000000000000" || body["status"] != "error" || body["error"] != "Cancelled." || body["finished_at"] == nil {
		t.Fatalf("cancel: %d %s", status, resp.Body)
	}
	cancelled := body
	_, st, _ = call(t, s.SyncStatus(), loadEvent(t, "integrations-sync-status.json"))
	if st["sync_status"] != "error" || st["sync_error"] != "Cancelled." || !reflect.DeepEqual(st["run"], cancelled) {
		t.Fatalf("sync_status after cancel: %v", st)
	}
	ev := loadEvent(t, "integrations-events.json")
	ev.QueryStringParameters = map[string]string{"type": "run_finished"}
	_, body, resp = call(t, s.Events(), ev)
	if evs, _ := body["items"].([]any); len(evs) != 1 || evs[0].(map[string]any)["status"] != "error" ||
		evs[0].(map[string]any)["message"] != "Cancelled." || evs[0].(map[string]any)["run_id"] != "01JDEMORUN0000000000000000" {
		t.Fatalf("run_finished events: %s", resp.Body)
	}
	status, body, resp = call(t, s.CancelRun(), loadEvent(t, "integrations-run-cancel.json"))
	if status != 409 || errorOf(body)["code"] != "conflict" || errorOf(body)["message"] != "The run has already finished." {
		t.Fatalf("cancel again: %d %s", status, resp.Body)
	}

	// The cancelled run's plan job, still queued, does nothing.
	handled := make(chan struct{}, 16)
	w := &sqsworker.Worker{Engine: engine, Visibility: q}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		_ = q.Consume(ctx, func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
			defer func() { handled <- struct{}{} }()
			return w.Handle(ctx, ev)
		})
	}()
	select {
	case <-handled:
	case <-time.After(10 * time.Second):
		t.Fatal("the plan job was not delivered")
	}
	cancel()
	if n, err := store.CountRecords(context.Background(), "01JDEMO0000000000000000000", "post"); err != nil || n != 0 {
		t.Fatalf("the cancelled run's job wrote %d records (%v)", n, err)
	}
	if _, st, _ = call(t, s.SyncStatus(), loadEvent(t, "integrations-sync-status.json")); !reflect.DeepEqual(st["run"], cancelled) {
		t.Fatalf("the run changed after its cancel: %v", st["run"])
	}

	// Two more runs, each cancelled so the next can start: newest first,
	// two a page.
	var want []any
	for range 2 {
		status, body, resp := call(t, s.StartSync(), loadEvent(t, "integrations-sync.json"))
		if status != 202 {
			t.Fatalf("sync: %d %s", status, resp.Body)
		}
		want = append([]any{body["run_id"]}, want...)
		if status, _, resp := call(t, s.CancelRun(), withPath(loadEvent(t, "integrations-run-cancel.json"), "run_id", body["run_id"].(string))); status != 200 {
			t.Fatalf("cancel: %d %s", status, resp.Body)
		}
	}
	want = append(want, "01JDEMORUN0000000000000000")
	var got []any
	list := loadEvent(t, "integrations-runs-list.json")
	list.QueryStringParameters = map[string]string{"limit": "2"}
	for pages := 1; ; pages++ {
		status, body, resp := call(t, s.Runs(), list)
		if status != 200 || pages > 2 {
			t.Fatalf("runs page %d: %d %s", pages, status, resp.Body)
		}
		for _, it := range body["items"].([]any) {
			got = append(got, it.(map[string]any)["id"])
		}
		next, _ := body["next_cursor"].(string)
		if next == "" {
			break
		}
		list.QueryStringParameters = map[string]string{"limit": "2", "cursor": next}
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("runs: %v, want %v", got, want)
	}

	for field, query := range map[string]map[string]string{
		"cursor": {"cursor": "not a cursor!"},
		"limit":  {"limit": "0"},
	} {
		ev := loadEvent(t, "integrations-runs-list.json")
		ev.QueryStringParameters = query
		if status, body, resp := call(t, s.Runs(), ev); status != 400 || errorOf(body)["fields"].(map[string]any)[field] == nil {
			t.Fatalf("%s: %d %s", field, status, resp.Body)
		}
	}
	ev = loadEvent(t, "integrations-runs-list.json")
	ev.QueryStringParameters = map[string]string{"limit": "101"}
	if status, body, resp := call(t, s.Runs(), ev); status != 400 || errorOf(body)["fields"].(map[string]any)["limit"] == nil {
		t.Fatalf("limit 101: %d %s", status, resp.Body)
	}
	if status, _, _ := call(t, s.Runs(), withClaim(loadEvent(t, "integrations-runs-list.json"), "account_id", "acct-other")); status != 404 {
		t.Fatalf("another account's runs: %d", status)
	}
}

func withPath(ev events.APIGatewayV2HTTPRequest, name, value string) events.APIGatewayV2HTTPRequest {
	p := map[string]string{}
	for k, v := range ev.PathParameters {
		p[k] = v
	}
	p[name] = value
	ev.PathParameters = p
	return ev
}

func withClaim(ev events.APIGatewayV2HTTPRequest, name, value string) events.APIGatewayV2HTTPRequest {
	ev.RequestContext.Authorizer.JWT.Claims[name] = value
	return ev
}
