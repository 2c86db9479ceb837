package functions_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/joinery/joinery/functions/internal/awsapp"
	"github.com/joinery/joinery/functions/internal/scheduler"
	"github.com/joinery/joinery/pkg/apigw"
	"github.com/joinery/joinery/pkg/integration"
	"github.com/joinery/joinery/pkg/sqsworker"
	"github.com/joinery/joinery/pkg/syncer"
)

type apiHandler = func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error)

// iamFunctions builds every function of template.yaml as its main.go does.
var iamFunctions = map[string]iamFunction{
	"ListIntegrationsFunction": {dir: "integrations-list", env: []string{"CursorKeySecret"}, start: "app.API().ListIntegrations()",
		build: func(e awsapp.Env) any { return apiHandler(awsapp.New(e).API().ListIntegrations()) }},
	"CreateIntegrationFunction": {dir: "integrations-create", env: []string{"SecretPrefix", "AppsSecret"}, start: "app.API().CreateIntegration()",
		build: func(e awsapp.Env) any { return apiHandler(awsapp.New(e).API().CreateIntegration()) }},
	"GetIntegrationFunction": {dir: "integrations-get", env: []string{"WebhookURLWordPress"}, start: "app.API().GetIntegration()",
		build: func(e awsapp.Env) any { return apiHandler(awsapp.New(e).API().GetIntegration()) }},
	"UpdateIntegrationFunction": {dir: "integrations-update", env: []string{"SecretPrefix"}, start: "app.API().UpdateIntegration()",
		build: func(e awsapp.Env) any { return apiHandler(awsapp.New(e).API().UpdateIntegration()) }},
	"DeleteIntegrationFunction": {dir: "integrations-delete", env: []string{"SecretPrefix", "QueueURL"}, start: "app.API().DeleteIntegration()",
		build: func(e awsapp.Env) any { return apiHandler(awsapp.New(e).API().DeleteIntegration()) }},
	"TestConnectionFunction": {dir: "integrations-test-connection", env: []string{"SecretPrefix", "AppsSecret"}, start: "app.Connections().TestConnection()",
		build: func(e awsapp.Env) any { return apiHandler(awsapp.New(e).Connections().TestConnection()) }},
	"ContentTypesFunction": {dir: "integrations-content-types", start: "app.Connections().ContentTypes()",
		build: func(e awsapp.Env) any { return apiHandler(awsapp.New(e).Connections().ContentTypes()) }},
	"OnboardFunction": {dir: "integrations-onboard", env: []string{"SecretPrefix", "WebhookURLWordPress"}, start: "app.Connections().Onboard()",
		build: func(e awsapp.Env) any { return apiHandler(awsapp.New(e).Connections().Onboard()) }},
	"UpdateStructureFunction": {dir: "integrations-update-structure", start: "app.Connections().UpdateStructure()",
		build: func(e awsapp.Env) any { return apiHandler(awsapp.New(e).Connections().UpdateStructure()) }},
	"CreateSiteKeyFunction": {dir: "sitekeys-create", start: "app.API().CreateSiteKey()",
		build: func(e awsapp.Env) any { return apiHandler(awsapp.New(e).API().CreateSiteKey()) }},
	"ListSiteKeysFunction": {dir: "sitekeys-list", env: []string{"CursorKeySecret"}, start: "app.API().ListSiteKeys()",
		build: func(e awsapp.Env) any { return apiHandler(awsapp.New(e).API().ListSiteKeys()) }},
	"RevokeSiteKeyFunction": {dir: "sitekeys-revoke", start: "app.API().RevokeSiteKey()",
		build: func(e awsapp.Env) any { return apiHandler(awsapp.New(e).API().RevokeSiteKey()) }},
	"StartSyncFunction": {dir: "integrations-sync", env: []string{"QueueURL"}, start: "app.Sync().StartSync()",
		build: func(e awsapp.Env) any { return apiHandler(awsapp.New(e).Sync().StartSync()) }},
	"SyncStatusFunction": {dir: "integrations-sync-status", start: "app.Sync().SyncStatus()",
		build: func(e awsapp.Env) any { return apiHandler(awsapp.New(e).Sync().SyncStatus()) }},
	"SyncHealthFunction": {dir: "integrations-sync-health", start: "app.Sync().SyncHealth()",
		build: func(e awsapp.Env) any { return apiHandler(awsapp.New(e).Sync().SyncHealth()) }},
	"RecordsFunction": {dir: "integrations-records", env: []string{"FeedSafety", "CursorKeySecret"}, start: "app.Sync().Records()",
		build: func(e awsapp.Env) any { return apiHandler(awsapp.New(e).Sync().Records()) }},
	"SiteRecordsFunction": {dir: "sites-records", env: []string{"FeedSafety", "CursorKeySecret"}, start: "app.Sync().SiteRecords()",
		build: func(e awsapp.Env) any { return apiHandler(awsapp.New(e).Sync().SiteRecords()) }},
	"RecordGetFunction": {dir: "integrations-record-get", start: "app.Sync().Record()",
		build: func(e awsapp.Env) any { return apiHandler(awsapp.New(e).Sync().Record()) }},
	"EventsFunction": {dir: "integrations-events", env: []string{"CursorKeySecret"}, start: "app.Sync().Events()",
		build: func(e awsapp.Env) any { return apiHandler(awsapp.New(e).Sync().Events()) }},
	"RunsFunction": {dir: "integrations-runs-list", env: []string{"CursorKeySecret"}, start: "app.Sync().Runs()",
		build: func(e awsapp.Env) any { return apiHandler(awsapp.New(e).Sync().Runs()) }},
	"CancelRunFunction": {dir: "integrations-run-cancel", start: "app.Sync().CancelRun()",
		build: func(e awsapp.Env) any { return apiHandler(awsapp.New(e).Sync().CancelRun()) }},
	"PushRecordFunction": {dir: "integrations-push", env: []string{"QueueURL"}, start: "app.Sync().Push()",
		build: func(e awsapp.Env) any { return apiHandler(awsapp.New(e).Sync().Push()) }},
	"GetPushFunction": {dir: "integrations-push-get", start: "app.Sync().GetPush()",
		build: func(e awsapp.Env) any { return apiHandler(awsapp.New(e).Sync().GetPush()) }},
	"ListPushesFunction": {dir: "integrations-pushes-list", env: []string{"CursorKeySecret"}, start: "app.Sync().Pushes()",
		build: func(e awsapp.Env) any { return apiHandler(awsapp.New(e).Sync().Pushes()) }},
	"ResolvePushFunction": {dir: "integrations-push-resolve", env: []string{"QueueURL"}, start: "app.Sync().ResolvePush()",
		build: func(e awsapp.Env) any { return apiHandler(awsapp.New(e).Sync().ResolvePush()) }},
	"SchedulerFunction": {dir: "sync-scheduler", env: []string{"QueueURL", "SecretPrefix", "AppsSecret"}, start: "lambda.Start(h.Handle)",
		wires: []string{"h.Tokens = tk"},
		build: func(e awsapp.Env) any {
			app := awsapp.New(e)
			h := scheduler.Handler{Scheduler: app.Engine()}
			if tk := app.Tokens(); tk != nil {
				h.Tokens = tk
			}
			return h.Handle
		}},
	"SyncDeadLetterFunction": {dir: "sync-dlq", start: "lambda.Start(d.Handle)",
		build: func(e awsapp.Env) any { return (&sqsworker.DeadLetters{Engine: awsapp.New(e).Engine()}).Handle }},
	"ReplayDeadLettersFunction": {dir: "integrations-dead-letters-replay", env: []string{"QueueURL", "WebhookQueueURL"}, start: "app.Sync().ReplayDeadLetters()",
		build: func(e awsapp.Env) any { return apiHandler(awsapp.New(e).Sync().ReplayDeadLetters()) }},
	"ListPlatformsFunction": {dir: "platforms-list", env: []string{"AppsSecret"}, start: "app.Platforms().ListPlatforms()",
		build: func(e awsapp.Env) any { return apiHandler(awsapp.New(e).Platforms().ListPlatforms()) }},
	"OAuthAuthorizeFunction": {dir: "integrations-oauth-authorize", env: []string{"AppsSecret", "PublicURL", "ReturnOrigins"}, start: "app.OAuth().AuthorizeOAuth()",
		build: func(e awsapp.Env) any { return apiHandler(awsapp.New(e).OAuth().AuthorizeOAuth()) }},
	"OAuthCallbackFunction": {dir: "oauth-callback", env: []string{"SecretPrefix", "AppsSecret", "PublicURL", "WebhookURLShopify"}, start: "app.OAuth().OAuthCallback()",
		build: func(e awsapp.Env) any { return apiHandler(awsapp.New(e).OAuth().OAuthCallback()) }},
	// The claims only, no AWS call: no permission beyond its logs.
	"ListModelsFunction": {dir: "models-list", start: "lambda.Start(app.Models())", noAWS: true,
		build: func(e awsapp.Env) any { return apiHandler(awsapp.Models(e).Models()) }},
	// No environment, no AWS call: no permission beyond its logs.
	"OpenAPIFunction": {dir: "openapi-get", start: "lambda.Start(apigw.OpenAPI())", noAWS: true,
		build: func(awsapp.Env) any { return apiHandler(apigw.OpenAPI()) }},
	"CreateWebhookEndpointFunction": {dir: "webhook-endpoints-create", start: "app.Endpoints().CreateEndpoint()",
		build: func(e awsapp.Env) any { return apiHandler(awsapp.New(e).Endpoints().CreateEndpoint()) }},
	"ListWebhookEndpointsFunction": {dir: "webhook-endpoints-list", start: "app.Endpoints().ListEndpoints()",
		build: func(e awsapp.Env) any { return apiHandler(awsapp.New(e).Endpoints().ListEndpoints()) }},
	"GetWebhookEndpointFunction": {dir: "webhook-endpoints-get", start: "app.Endpoints().GetEndpoint()",
		build: func(e awsapp.Env) any { return apiHandler(awsapp.New(e).Endpoints().GetEndpoint()) }},
	"UpdateWebhookEndpointFunction": {dir: "webhook-endpoints-update", start: "app.Endpoints().UpdateEndpoint()",
		build: func(e awsapp.Env) any { return apiHandler(awsapp.New(e).Endpoints().UpdateEndpoint()) }},
	"DeleteWebhookEndpointFunction": {dir: "webhook-endpoints-delete", start: "app.Endpoints().DeleteEndpoint()",
		build: func(e awsapp.Env) any { return apiHandler(awsapp.New(e).Endpoints().DeleteEndpoint()) }},
	"TestWebhookEndpointFunction": {dir: "webhook-endpoints-test", env: []string{"Notify"}, start: "app.Endpoints().TestEndpoint()",
		build: func(e awsapp.Env) any { return apiHandler(awsapp.New(e).Endpoints().TestEndpoint()) }},
	"RotateWebhookSecretFunction": {dir: "webhook-endpoints-rotate-secret", start: "app.Endpoints().RotateEndpointSecret()",
		build: func(e awsapp.Env) any { return apiHandler(awsapp.New(e).Endpoints().RotateEndpointSecret()) }},
	"ListWebhookDeliveriesFunction": {dir: "webhook-endpoints-deliveries", env: []string{"CursorKeySecret"}, start: "app.Endpoints().EndpointDeliveries()",
		build: func(e awsapp.Env) any { return apiHandler(awsapp.New(e).Endpoints().EndpointDeliveries()) }},
	"RetryWebhookDeliveryFunction": {dir: "webhook-endpoints-delivery-retry", env: []string{"Notify"}, start: "app.Endpoints().RetryDelivery()",
		build: func(e awsapp.Env) any { return apiHandler(awsapp.New(e).Endpoints().RetryDelivery()) }},
	"NotifyDispatchFunction": {dir: "notify-dispatch", env: []string{"Notify"}, start: "d.Tick(ctx, time.Second)",
		build: func(e awsapp.Env) any {
			d := awsapp.New(e).Dispatcher()
			return func(ctx context.Context) error { return d.Tick(ctx, time.Second) }
		}},
	"NotifyDeliverFunction": {dir: "notify-deliver", env: []string{"Notify"}, start: "lambda.Start(n.Handle)",
		build: func(e awsapp.Env) any { return (&sqsworker.Notifier{Deliverer: awsapp.New(e).Deliverer()}).Handle }},
	"WordPressWebhookFunction":      webhookFunction("wordpress"),
	"ShopifyWebhookFunction":        webhookFunction("shopify"),
	"SlackWebhookFunction":          webhookFunction("slack"),
	"TikTokWebhookFunction":         webhookFunction("tiktok"),
	"GoogleCalendarWebhookFunction": webhookFunction("google_calendar"),
	"JiraWebhookFunction":           webhookFunction("jira"),
	"TrelloWebhookFunction":         webhookFunction("trello"),
	// Its JOINERY_QUEUE_URL is the webhook queue (the IAM test gives it so).
	"WebhookWorkerFunction": {dir: "webhook-worker", env: []string{"QueueURL", "MaxReceives", "FeedSafety", "SecretPrefix", "AppsSecret"}, start: "w.Handle",
		build: func(e awsapp.Env) any {
			app := awsapp.New(e)
			w := &sqsworker.Worker{Engine: app.Engine(), Visibility: app.Queue()}
			return w.Handle
		}},
	"SyncWorkerFunction": {dir: "sync-worker", env: []string{"QueueURL", "MaxReceives", "FeedSafety", "SecretPrefix", "AppsSecret", "WebhookURLShopify"}, start: "w.Handle",
		build: func(e awsapp.Env) any {
			app := awsapp.New(e)
			w := &sqsworker.Worker{Engine: app.Engine(), Visibility: app.Queue()}
			return w.Handle
		}},
}

// runScenario drives every function through its code paths, the way the
// API, the queue and the schedule would.
func runScenario(t interface {
	Helper()
	Fatalf(string, ...any)
	Errorf(string, ...any)
}, h *iamHarness, siteURL string) {
	t.Helper()
	ctx := context.Background()
	creds := map[string]string{"username": "editor", "app_password": "abcd efgh ijkl mnop qrst uvwx"}
	want := func(resp events.APIGatewayV2HTTPResponse, status int, what string) {
		t.Helper()
		if resp.StatusCode != status {
			t.Fatalf("%s: %d %s, want %d", what, resp.StatusCode, resp.Body, status)
		}
	}

	// The catalog, with whether the deployment holds each platform's app
	// credentials.
	resp := h.api("ListPlatformsFunction", "GET", "/v1/platforms", nil, nil, nil, nil)
	want(resp, http.StatusOK, "platforms")
	resp = h.api("OpenAPIFunction", "GET", "/v1/openapi.json", nil, nil, nil, nil)
	want(resp, http.StatusOK, "openapi document")
	// The unified models and their schemas.
	resp = h.api("ListModelsFunction", "GET", "/v1/models", nil, nil, nil, nil)
	want(resp, http.StatusOK, "models")
	resp = h.api("ListModelsFunction", "GET", "/v1/models/{model}", map[string]string{"model": "product"}, nil, nil, nil)
	want(resp, http.StatusOK, "model")

	// Site keys.
	resp = h.api("CreateSiteKeyFunction", "POST", "/v1/sites/{site_id}/keys", map[string]string{"site_id": "site-1"}, nil, map[string]string{"name": "plugin"}, nil)
	want(resp, http.StatusCreated, "create site key")
	var key struct{ ID, Key string }
	decodeBody(h.t, resp, &key)
	h.api("ListSiteKeysFunction", "GET", "/v1/sites/{site_id}/keys", map[string]string{"site_id": "site-1"}, nil, nil, nil)

	// An integration with credentials, read, listed, changed, tested.
	resp = h.api("CreateIntegrationFunction", "POST", "/v1/integrations", nil, nil,
		map[string]any{"site_id": "site-1", "platform": "wordpress", "external_site_url": siteURL, "credentials": creds}, nil)
	want(resp, http.StatusCreated, "create")
	var it struct{ ID string }
	decodeBody(h.t, resp, &it)
	id := map[string]string{"id": it.ID}
	h.api("GetIntegrationFunction", "GET", "/v1/integrations/{id}", id, nil, nil, nil)
	h.api("ListIntegrationsFunction", "GET", "/v1/integrations", nil, map[string]string{"site_id": "site-1"}, nil, nil)
	h.api("ListIntegrationsFunction", "GET", "/v1/integrations", nil, nil, nil, nil)
	resp = h.api("UpdateIntegrationFunction", "PATCH", "/v1/integrations/{id}", id, nil,
		map[string]any{"credentials": creds, "sync_enabled": true, "sync_interval_minutes": 60}, nil)
	want(resp, http.StatusOK, "update")
	resp = h.api("TestConnectionFunction", "POST", "/v1/integrations/{id}/test_connection", id, nil, nil, nil)
	want(resp, http.StatusOK, "test connection")
	h.api("ContentTypesFunction", "GET", "/v1/integrations/{id}/content_types", id, nil, nil, nil)
	resp = h.api("UpdateStructureFunction", "POST", "/v1/integrations/{id}/update_structure", id, nil,
		map[string]any{"post_types": []map[string]any{{"name": "post", "label": "Posts", "rest_base": "posts"}}, "taxonomies": []any{}, "plugin_version": "1.0.0"},
		map[string]string{"authorization": "Bearer " + key.Key})
	want(resp, http.StatusOK, "update structure")

	// A full sync of more than one page (so the plan queues page jobs),
	// read every way; later syncs keep to two posts, to stay quick.
	h.posts.Store(101)
	resp = h.api("StartSyncFunction", "POST", "/v1/integrations/{id}/sync", id, nil, map[string]any{"direction": "from_external", "full": true}, nil)
	want(resp, http.StatusAccepted, "start sync")
	var run struct {
		ID string `json:"run_id"`
	}
	decodeBody(h.t, resp, &run)
	h.drain()
	h.api("SyncStatusFunction", "GET", "/v1/integrations/{id}/sync_status", id, nil, nil, nil)
	h.api("SyncHealthFunction", "GET", "/v1/integrations/{id}/sync_health", id, nil, nil, nil)
	h.api("EventsFunction", "GET", "/v1/integrations/{id}/events", id, nil, nil, nil)
	h.api("EventsFunction", "GET", "/v1/integrations/{id}/events", id, map[string]string{"status": "error"}, nil, nil)
	h.api("EventsFunction", "GET", "/v1/integrations/{id}/events", id, map[string]string{"type": "sync"}, nil, nil)
	h.api("RunsFunction", "GET", "/v1/integrations/{id}/runs", id, nil, nil, nil)
	resp = h.api("RecordsFunction", "GET", "/v1/integrations/{id}/records", id, map[string]string{"model": "post"}, nil, nil)
	var page struct{ Items []json.RawMessage }
	decodeBody(h.t, resp, &page)
	if len(page.Items) == 0 {
		st := h.api("SyncStatusFunction", "GET", "/v1/integrations/{id}/sync_status", id, nil, nil, nil)
		ev := h.api("EventsFunction", "GET", "/v1/integrations/{id}/events", id, nil, nil, nil)
		t.Fatalf("the sync wrote no records: %s\nstatus %s\nevents %s", resp.Body, st.Body, ev.Body)
	}
	h.api("RecordsFunction", "GET", "/v1/integrations/{id}/records", id, nil, nil, nil)
	// Every listing paged: its cursor signed, then verified, with the
	// stack's cursor key.
	h.pages("ListIntegrationsFunction", "GET", "/v1/integrations", nil, nil)
	h.pages("ListSiteKeysFunction", "GET", "/v1/sites/{site_id}/keys", map[string]string{"site_id": "site-1"}, nil)
	h.pages("EventsFunction", "GET", "/v1/integrations/{id}/events", id, nil)
	h.pages("RunsFunction", "GET", "/v1/integrations/{id}/runs", id, nil)
	h.pages("RecordsFunction", "GET", "/v1/integrations/{id}/records", id, map[string]string{"model": "post"})
	resp = h.api("SiteRecordsFunction", "GET", "/v1/sites/{site_id}/records", map[string]string{"site_id": "site-1"}, map[string]string{"model": "post"}, nil, nil)
	decodeBody(h.t, resp, &page)
	if len(page.Items) == 0 {
		t.Fatalf("the site feed lists none of the records: %d %s", resp.StatusCode, resp.Body)
	}
	h.pages("SiteRecordsFunction", "GET", "/v1/sites/{site_id}/records", map[string]string{"site_id": "site-1"}, map[string]string{"model": "post"})
	h.notifications(t, it.ID)
	h.posts.Store(2)
	resp = h.api("RecordGetFunction", "GET", "/v1/integrations/{id}/records/{model}/{external_id}",
		map[string]string{"id": it.ID, "model": "post", "external_id": "1"}, nil, nil, nil)
	want(resp, http.StatusOK, "record")

	// An incremental sync and a cancelled one.
	resp = h.api("StartSyncFunction", "POST", "/v1/integrations/{id}/sync", id, nil, map[string]any{"direction": "both"}, nil)
	want(resp, http.StatusAccepted, "start sync")
	decodeBody(h.t, resp, &run)
	resp = h.api("CancelRunFunction", "POST", "/v1/integrations/{id}/runs/{run_id}/cancel", map[string]string{"id": it.ID, "run_id": run.ID}, nil, nil, nil)
	want(resp, http.StatusOK, "cancel")
	h.drain()

	// A push, applied by the worker.
	resp = h.api("PushRecordFunction", "POST", "/v1/integrations/{id}/records", id, nil,
		map[string]any{"model": "post", "local_id": "article-1", "data": map[string]any{"title": "Hello", "body_html": "<p>x</p>", "status": "publish"}}, nil)
	want(resp, http.StatusAccepted, "push")
	var push struct {
		PushID string `json:"push_id"`
	}
	decodeBody(h.t, resp, &push)
	h.drain()
	resp = h.api("GetPushFunction", "GET", "/v1/integrations/{id}/pushes/{push_id}", map[string]string{"id": it.ID, "push_id": push.PushID}, nil, nil, nil)
	want(resp, http.StatusOK, "push")

	// Under the manual policy, a push over an edit on the site meets a
	// conflict, holds the next push, and is resolved both ways.
	cur, err := h.setup.GetIntegration(ctx, "acct-iam", it.ID)
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	manual := *cur
	manual.Config = map[string]any{"conflict_policy": "manual"}
	for k, v := range cur.Config {
		if k != "conflict_policy" {
			manual.Config[k] = v
		}
	}
	manual.Version = cur.Version + 1
	if err := h.setup.UpdateIntegration(ctx, &manual, cur.Rev); err != nil {
		t.Fatalf("set the manual policy: %v", err)
	}
	var conflicts []string
	for range 2 {
		resp = h.api("PushRecordFunction", "POST", "/v1/integrations/{id}/records", id, nil,
			map[string]any{"model": "post", "local_id": "article-1", "data": map[string]any{"title": "Hello again", "status": "publish"}}, nil)
		want(resp, http.StatusAccepted, "push")
		decodeBody(h.t, resp, &push)
		conflicts = append(conflicts, push.PushID)
		h.drain()
	}
	resp = h.api("ListPushesFunction", "GET", "/v1/integrations/{id}/pushes", id, map[string]string{"status": "conflict"}, nil, nil)
	want(resp, http.StatusOK, "pushes in conflict")
	h.api("ListPushesFunction", "GET", "/v1/integrations/{id}/pushes", id, map[string]string{"local_id": "article-1", "status": "queued"}, nil, nil)
	h.api("ListPushesFunction", "GET", "/v1/integrations/{id}/pushes", id, nil, nil, nil)
	h.pages("ListPushesFunction", "GET", "/v1/integrations/{id}/pushes", id, nil)
	resp = h.api("GetPushFunction", "GET", "/v1/integrations/{id}/pushes/{push_id}", map[string]string{"id": it.ID, "push_id": conflicts[0]}, nil, nil, nil)
	want(resp, http.StatusOK, "push in conflict")
	resp = h.api("ResolvePushFunction", "POST", "/v1/integrations/{id}/pushes/{push_id}/resolve", map[string]string{"id": it.ID, "push_id": conflicts[0]}, nil,
		map[string]any{"use": "local"}, nil)
	want(resp, http.StatusOK, "resolve with the local version")
	// The held push is applied now, and meets the next edit.
	h.drain()
	resp = h.api("ResolvePushFunction", "POST", "/v1/integrations/{id}/pushes/{push_id}/resolve", map[string]string{"id": it.ID, "push_id": conflicts[1]}, nil,
		map[string]any{"use": "remote"}, nil)
	want(resp, http.StatusOK, "resolve with the platform's version")

	// The scheduler starts the due sync.
	cur, err = h.setup.GetIntegration(ctx, "acct-iam", it.ID)
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	next := *cur
	past := time.Now().Add(-time.Hour).UTC()
	next.NextSyncAt, next.Version = &past, cur.Version+1
	if err := h.setup.UpdateIntegration(ctx, &next, cur.Rev); err != nil {
		t.Fatalf("make due: %v", err)
	}
	if err := h.handlers["SchedulerFunction"].(func(context.Context, json.RawMessage) error)(ctx, json.RawMessage(`{}`)); err != nil {
		t.Fatalf("tick: %v", err)
	}
	h.drain()
	h.pages("RunsFunction", "GET", "/v1/integrations/{id}/runs", id, nil)

	// A push job the queue gave up on: the dead-letter queue's function
	// keeps it, and a replay sends it again.
	body, err := json.Marshal(syncer.Job{Kind: "push", AccountID: "acct-iam", IntegrationID: it.ID, JobID: "push/article-1", Model: "post", LocalID: "article-1"})
	if err != nil {
		t.Fatalf("job: %v", err)
	}
	dlq := h.handlers["SyncDeadLetterFunction"].(func(context.Context, events.SQSEvent) (events.SQSEventResponse, error))
	if out, err := dlq(ctx, events.SQSEvent{Records: []events.SQSMessage{{MessageId: "dlq-1", Body: string(body),
		Attributes: map[string]string{"ApproximateReceiveCount": "5"}}}}); err != nil || len(out.BatchItemFailures) > 0 {
		t.Fatalf("dead-letter function: %+v %v", out, err)
	}
	resp = h.api("ReplayDeadLettersFunction", "POST", "/v1/integrations/{id}/dead_letters/replay", id, nil, nil, nil)
	want(resp, http.StatusOK, "replay")
	h.drain()

	// A delete interrupted after marking the item: a create of the same
	// site and platform finishes it, sync data and all.
	h.interrupt(it.ID)
	resp = h.api("CreateIntegrationFunction", "POST", "/v1/integrations", nil, nil,
		map[string]any{"site_id": "site-1", "platform": "wordpress", "external_site_url": siteURL, "credentials": creds}, nil)
	want(resp, http.StatusCreated, "create over an interrupted delete")
	decodeBody(h.t, resp, &it)
	id = map[string]string{"id": it.ID}
	resp = h.api("StartSyncFunction", "POST", "/v1/integrations/{id}/sync", id, nil, map[string]any{"direction": "from_external", "full": true}, nil)
	want(resp, http.StatusAccepted, "start sync")
	h.drain()

	// The same, finished by the site's plugin onboarding again.
	h.interrupt(it.ID)
	resp = h.api("OnboardFunction", "POST", "/v1/integrations/test_connection", nil, nil,
		map[string]any{"site_url": siteURL, "username": "editor", "app_password": "abcd efgh ijkl mnop qrst uvwx"},
		map[string]string{"authorization": "Bearer " + key.Key})
	want(resp, http.StatusOK, "onboard over an interrupted delete")
	var ob struct {
		IntegrationID string `json:"integration_id"`
	}
	decodeBody(h.t, resp, &ob)
	// Onboarding again updates the integration it made.
	resp = h.api("OnboardFunction", "POST", "/v1/integrations/test_connection", nil, nil,
		map[string]any{"site_url": siteURL, "username": "editor", "app_password": "abcd efgh ijkl mnop qrst uvwx"},
		map[string]string{"authorization": "Bearer " + key.Key})
	want(resp, http.StatusOK, "onboard again")
	id = map[string]string{"id": ob.IntegrationID}
	resp = h.api("StartSyncFunction", "POST", "/v1/integrations/{id}/sync", id, nil, map[string]any{"direction": "from_external", "full": true}, nil)
	want(resp, http.StatusAccepted, "start sync")
	h.drain()

	// A delete retried after an interruption, then a plain one; the
	// workers purge the sync data.
	h.interrupt(ob.IntegrationID)
	resp = h.api("DeleteIntegrationFunction", "DELETE", "/v1/integrations/{id}", id, nil, nil, nil)
	want(resp, http.StatusNoContent, "repeated delete")
	resp = h.api("CreateIntegrationFunction", "POST", "/v1/integrations", nil, nil,
		map[string]any{"site_id": "site-2", "platform": "wordpress", "external_site_url": siteURL, "credentials": creds}, nil)
	want(resp, http.StatusCreated, "create")
	decodeBody(h.t, resp, &it)
	id = map[string]string{"id": it.ID}
	resp = h.api("StartSyncFunction", "POST", "/v1/integrations/{id}/sync", id, nil, map[string]any{"direction": "from_external", "full": true}, nil)
	want(resp, http.StatusAccepted, "start sync")
	h.drain()
	resp = h.api("DeleteIntegrationFunction", "DELETE", "/v1/integrations/{id}", id, nil, nil, nil)
	want(resp, http.StatusNoContent, "delete")
	h.drain()

	// A delete whose purge cannot be queued removes the sync data itself.
	resp = h.api("CreateIntegrationFunction", "POST", "/v1/integrations", nil, nil,
		map[string]any{"site_id": "site-3", "platform": "wordpress", "external_site_url": siteURL, "credentials": creds}, nil)
	want(resp, http.StatusCreated, "create")
	decodeBody(h.t, resp, &it)
	id = map[string]string{"id": it.ID}
	resp = h.api("StartSyncFunction", "POST", "/v1/integrations/{id}/sync", id, nil, map[string]any{"direction": "from_external", "full": true}, nil)
	want(resp, http.StatusAccepted, "start sync")
	h.drain()
	h.rec.mu.Lock()
	h.rec.fail["DeleteIntegrationFunction sqs:SendMessage"] = true
	h.rec.mu.Unlock()
	resp = h.api("DeleteIntegrationFunction", "DELETE", "/v1/integrations/{id}", id, nil, nil, nil)
	want(resp, http.StatusNoContent, "delete without the queue")
	h.rec.mu.Lock()
	delete(h.rec.fail, "DeleteIntegrationFunction sqs:SendMessage")
	h.rec.mu.Unlock()

	// Two integrations listed a page at a time.
	for _, site := range []string{"site-4", "site-5"} {
		resp = h.api("CreateIntegrationFunction", "POST", "/v1/integrations", nil, nil,
			map[string]any{"site_id": site, "platform": "wordpress", "external_site_url": siteURL, "credentials": creds}, nil)
		want(resp, http.StatusCreated, "create")
	}
	h.pages("ListIntegrationsFunction", "GET", "/v1/integrations", nil, nil)

	slackID := h.connectSlack(t)
	h.refreshJira(t)
	// A Slack grant is revoked at Slack when deleted: the worker's
	// teardown job revokes it, then deletes its tokens.
	resp = h.api("DeleteIntegrationFunction", "DELETE", "/v1/integrations/{id}", map[string]string{"id": slackID}, nil, nil, nil)
	want(resp, http.StatusNoContent, "delete slack")
	h.drain()
	if _, _, err := h.secrets.CurrentSecret(ctx, integration.SecretRef{AccountID: "acct-iam", IntegrationID: slackID}); integration.ErrorCode(err) != integration.ENOTFOUND {
		t.Fatalf("slack's tokens after the teardown: %v", err)
	}

	// Webhooks of every platform, received, queued, processed, and a
	// dead-lettered one replayed to the webhook queue.
	h.webhooks(t, siteURL)

	resp = h.api("RevokeSiteKeyFunction", "DELETE", "/v1/sites/{site_id}/keys/{key_id}", map[string]string{"site_id": "site-1", "key_id": key.ID}, nil, nil, nil)
	if resp.StatusCode >= 300 {
		t.Errorf("revoke: %d %s", resp.StatusCode, resp.Body)
	}
}

// interrupt marks an integration as being deleted, as a delete that
// stopped after its first write leaves it.
func (h *iamHarness) interrupt(id string) {
	h.t.Helper()
	ctx := context.Background()
	cur, err := h.setup.GetIntegration(ctx, "acct-iam", id)
	if err != nil {
		h.t.Fatalf("get %s: %v", id, err)
	}
	next := *cur
	now := time.Now().UTC()
	next.DeletingSince, next.Version = &now, cur.Version+1
	if err := h.setup.UpdateIntegration(ctx, &next, cur.Rev); err != nil {
		h.t.Fatalf("mark %s deleting: %v", id, err)
	}
}

// pages lists with one item a page and, if there is a next page, reads it
// with the cursor.
func (h *iamHarness) pages(fn, method, path string, pathParams, query map[string]string) {
	h.t.Helper()
	q := map[string]string{"limit": "1"}
	for k, v := range query {
		q[k] = v
	}
	var page struct {
		NextCursor string `json:"next_cursor"`
	}
	decodeBody(h.t, h.api(fn, method, path, pathParams, q, nil, nil), &page)
	if page.NextCursor == "" {
		return
	}
	q["cursor"] = page.NextCursor
	if resp := h.api(fn, method, path, pathParams, q, nil, nil); resp.StatusCode != http.StatusOK {
		h.t.Fatalf("%s with its cursor: %d %s", path, resp.StatusCode, resp.Body)
	}
}

// connectSlack connects a Slack integration through the OAuth functions,
// against the fake Slack: create (which checks the app credentials),
// authorize, the platform's callback; then a callback whose state is spent.
// It returns the integration's id.
func (h *iamHarness) connectSlack(t interface {
	Helper()
	Fatalf(string, ...any)
}) string {
	t.Helper()
	resp := h.api("CreateIntegrationFunction", "POST", "/v1/integrations", nil, nil, map[string]any{"site_id": "site-slack", "platform": "slack"}, nil)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create slack: %d %s", resp.StatusCode, resp.Body)
	}
	var it struct{ ID string }
	decodeBody(h.t, resp, &it)
	// Connected, then authorized again (the tokens replaced).
	for range 2 {
		resp = h.api("OAuthAuthorizeFunction", "POST", "/v1/integrations/{id}/oauth/authorize", map[string]string{"id": it.ID}, nil,
			map[string]any{"return_url": "https://app.example.com/done"}, nil)
		var link struct {
			AuthorizeURL string `json:"authorize_url"`
		}
		decodeBody(h.t, resp, &link)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("authorize: %d %s", resp.StatusCode, resp.Body)
		}
		cb, err := h.slack.Consent(link.AuthorizeURL)
		if err != nil {
			t.Fatalf("consent: %v", err)
		}
		u, err := url.Parse(cb)
		if err != nil {
			t.Fatalf("callback URL: %v", err)
		}
		resp = h.callback(u.RawQuery)
		if resp.StatusCode != http.StatusFound || !strings.Contains(resp.Headers["Location"], "status=connected") {
			t.Fatalf("callback: %d %v %s", resp.StatusCode, resp.Headers, resp.Body)
		}
		// The state is spent: the same callback again is refused.
		if resp = h.callback(u.RawQuery); resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("callback again: %d %s", resp.StatusCode, resp.Body)
		}
	}
	return it.ID
}

// callback invokes the callback function as the gateway would, with no
// authorizer.
func (h *iamHarness) callback(rawQuery string) events.APIGatewayV2HTTPResponse {
	return h.callbackOf("slack", rawQuery)
}

func (h *iamHarness) callbackOf(platform, rawQuery string) events.APIGatewayV2HTTPResponse {
	h.t.Helper()
	path := "/v1/oauth/" + platform + "/callback"
	req := events.APIGatewayV2HTTPRequest{RouteKey: "GET /v1/oauth/{platform}/callback", RawPath: path, RawQueryString: rawQuery,
		PathParameters: map[string]string{"platform": platform}, Headers: map[string]string{},
		RequestContext: events.APIGatewayV2HTTPRequestContext{DomainName: "api.example.com",
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "GET", Path: path, SourceIP: "203.0.113.9"}},
	}
	resp, err := h.handlers["OAuthCallbackFunction"].(apiHandler)(context.Background(), req)
	if err != nil || resp.StatusCode >= 500 {
		h.t.Fatalf("callback: %v %d %s", err, resp.StatusCode, resp.Body)
	}
	return resp
}

// refreshJira connects Jira (whose access tokens expire within the hour)
// and takes each path that refreshes a token: a connection test, the
// scheduler's renewal of a grant due to be kept alive, and the sync
// worker's teardown of the grant on delete.
func (h *iamHarness) refreshJira(t interface {
	Helper()
	Fatalf(string, ...any)
}) {
	t.Helper()
	ctx := context.Background()
	resp := h.api("CreateIntegrationFunction", "POST", "/v1/integrations", nil, nil, map[string]any{"site_id": "site-jira", "platform": "jira"}, nil)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create jira: %d %s", resp.StatusCode, resp.Body)
	}
	var it struct{ ID string }
	decodeBody(h.t, resp, &it)
	id := map[string]string{"id": it.ID}
	resp = h.api("OAuthAuthorizeFunction", "POST", "/v1/integrations/{id}/oauth/authorize", id, nil,
		map[string]any{"return_url": "https://app.example.com/done"}, nil)
	var link struct {
		AuthorizeURL string `json:"authorize_url"`
	}
	decodeBody(h.t, resp, &link)
	cb, err := h.jira.Consent(link.AuthorizeURL)
	if err != nil {
		t.Fatalf("jira consent: %v", err)
	}
	u, err := url.Parse(cb)
	if err != nil {
		t.Fatalf("callback URL: %v", err)
	}
	if resp = h.callbackOf("jira", u.RawQuery); !strings.Contains(resp.Headers["Location"], "status=connected") {
		t.Fatalf("jira callback: %d %v", resp.StatusCode, resp.Headers)
	}
	// expiring makes the stored access token one about to expire, as an
	// hour later.
	expiring := func() {
		t.Helper()
		cur, err := h.setup.GetIntegration(ctx, "acct-iam", it.ID)
		if err != nil {
			t.Fatalf("get jira: %v", err)
		}
		ref := integration.SecretRef{AccountID: cur.AccountID, IntegrationID: cur.ID, SiteID: cur.SiteID, Platform: cur.Platform}
		_, v, err := h.secrets.CurrentSecret(ctx, ref)
		if err != nil {
			t.Fatalf("jira's tokens: %v", err)
		}
		v["expires_at"] = time.Now().Add(time.Minute).UTC().Format(time.RFC3339)
		if _, err := h.secrets.PutSecret(ctx, ref, v); err != nil {
			t.Fatalf("expire jira's token: %v", err)
		}
	}

	expiring()
	resp = h.api("TestConnectionFunction", "POST", "/v1/integrations/{id}/test_connection", id, nil, nil, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Body, `"ok":true`) || h.jira.Refreshes() != 1 {
		t.Fatalf("jira test: %d %s, %d refreshes", resp.StatusCode, resp.Body, h.jira.Refreshes())
	}

	// The grant due to be kept alive: the scheduler refreshes it.
	expiring()
	cur, err := h.setup.GetIntegration(ctx, "acct-iam", it.ID)
	if err != nil || cur.OAuth == nil {
		t.Fatalf("get jira: %+v %v", cur, err)
	}
	next := *cur
	info := *cur.OAuth
	past := time.Now().Add(-time.Minute).UTC()
	info.RenewAt, next.OAuth, next.Rev = &past, &info, cur.Rev+1
	if err := h.setup.UpdateIntegration(ctx, &next, cur.Rev); err != nil {
		t.Fatalf("make the renewal due: %v", err)
	}
	if err := h.handlers["SchedulerFunction"].(func(context.Context, json.RawMessage) error)(ctx, json.RawMessage(`{}`)); err != nil {
		t.Fatalf("tick: %v", err)
	}
	if h.jira.Refreshes() != 2 {
		t.Fatalf("the scheduler's renewal: %d refreshes, want 2", h.jira.Refreshes())
	}
	h.drain()

	// Deleted: the worker tears the grant down, its tokens deleted.
	resp = h.api("DeleteIntegrationFunction", "DELETE", "/v1/integrations/{id}", id, nil, nil, nil)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete jira: %d %s", resp.StatusCode, resp.Body)
	}
	h.drain()
	ref := integration.SecretRef{AccountID: cur.AccountID, IntegrationID: cur.ID, SiteID: cur.SiteID, Platform: cur.Platform}
	if _, _, err := h.secrets.CurrentSecret(ctx, ref); integration.ErrorCode(err) != integration.ENOTFOUND {
		t.Fatalf("jira's tokens after the teardown: %v", err)
	}
}

// notifications drives the outbound webhook functions: endpoints made,
// read, changed, rotated and tested; the sync's events fanned out and
// delivered (to the fake site, which refuses them: retries are queued);
// the log read and a delivery retried; the endpoint deleted.
func (h *iamHarness) notifications(t interface {
	Helper()
	Fatalf(string, ...any)
}, integrationID string) {
	t.Helper()
	ctx := context.Background()
	want := func(resp events.APIGatewayV2HTTPResponse, status int, what string) {
		t.Helper()
		if resp.StatusCode != status {
			t.Fatalf("%s: %d %s, want %d", what, resp.StatusCode, resp.Body, status)
		}
	}
	// A public address literal: the strict check needs no DNS for it.
	resp := h.api("CreateWebhookEndpointFunction", "POST", "/v1/webhook_endpoints", nil, nil,
		map[string]any{"url": "https://93.184.216.34/hooks", "event_types": []string{"sync.*", "ping"}}, nil)
	want(resp, http.StatusCreated, "create endpoint")
	var ep struct{ ID, Secret string }
	decodeBody(h.t, resp, &ep)
	id := map[string]string{"id": ep.ID}
	want(h.api("ListWebhookEndpointsFunction", "GET", "/v1/webhook_endpoints", nil, nil, nil, nil), http.StatusOK, "list endpoints")
	want(h.api("GetWebhookEndpointFunction", "GET", "/v1/webhook_endpoints/{id}", id, nil, nil, nil), http.StatusOK, "get endpoint")
	want(h.api("UpdateWebhookEndpointFunction", "PATCH", "/v1/webhook_endpoints/{id}", id, nil, map[string]any{"description": "the host"}, nil), http.StatusOK, "update endpoint")
	want(h.api("RotateWebhookSecretFunction", "POST", "/v1/webhook_endpoints/{id}/rotate_secret", id, nil, nil, nil), http.StatusOK, "rotate")
	want(h.api("TestWebhookEndpointFunction", "POST", "/v1/webhook_endpoints/{id}/test", id, nil, nil, nil), http.StatusAccepted, "test endpoint")
	if err := h.handlers["NotifyDispatchFunction"].(func(context.Context) error)(ctx); err != nil {
		t.Fatalf("dispatch: %v", err)
	}
	h.drainNotify()
	resp = h.api("ListWebhookDeliveriesFunction", "GET", "/v1/webhook_endpoints/{id}/deliveries", id, nil, nil, nil)
	want(resp, http.StatusOK, "deliveries")
	var page struct {
		Items []struct {
			DeliveryID string `json:"delivery_id"`
		}
	}
	decodeBody(h.t, resp, &page)
	if len(page.Items) < 2 {
		t.Fatalf("deliveries of the sync's events and the ping: %s", resp.Body)
	}
	h.pages("ListWebhookDeliveriesFunction", "GET", "/v1/webhook_endpoints/{id}/deliveries", id, nil)
	want(h.api("RetryWebhookDeliveryFunction", "POST", "/v1/webhook_endpoints/{id}/deliveries/{delivery_id}/retry",
		map[string]string{"id": ep.ID, "delivery_id": page.Items[0].DeliveryID}, nil, nil, nil), http.StatusAccepted, "retry")
	h.drainNotify()
	want(h.api("DeleteWebhookEndpointFunction", "DELETE", "/v1/webhook_endpoints/{id}", id, nil, nil, nil), http.StatusNoContent, "delete endpoint")
	_ = integrationID
}
