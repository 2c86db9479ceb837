package functions_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/joinery/joinery/functions/internal/awsapp"
	"github.com/joinery/joinery/pkg/integration"
	"github.com/joinery/joinery/pkg/syncer"
	"github.com/joinery/joinery/pkg/webhook"
	"github.com/joinery/joinery/pkg/webhookin"
)

type urlHandler = func(context.Context, events.LambdaFunctionURLRequest) (events.LambdaFunctionURLResponse, error)

// webhookFunction is one platform's webhook Lambda, as its main.go builds it.
func webhookFunction(platform string) iamFunction {
	return iamFunction{dir: "webhook-" + strings.ReplaceAll(platform, "_", "-"), env: []string{"WebhookQueueURL", "AppsSecret"},
		start: `app.Webhooks("` + platform + `").HandleURL`,
		build: func(e awsapp.Env) any { return urlHandler(awsapp.New(e).Webhooks(platform).HandleURL) }}
}

var webhookFunctionIDs = map[string]string{"wordpress": "WordPressWebhookFunction", "shopify": "ShopifyWebhookFunction", "slack": "SlackWebhookFunction",
	"tiktok": "TikTokWebhookFunction", "google_calendar": "GoogleCalendarWebhookFunction", "jira": "JiraWebhookFunction", "trello": "TrelloWebhookFunction"}

// deliver invokes a platform's function URL with a delivery.
func (h *iamHarness) deliver(platform, path string, headers map[string]string, body string) events.LambdaFunctionURLResponse {
	h.t.Helper()
	lower := map[string]string{}
	for k, v := range headers {
		lower[strings.ToLower(k)] = v
	}
	ev := events.LambdaFunctionURLRequest{RawPath: path, Headers: lower, Body: body,
		RequestContext: events.LambdaFunctionURLRequestContext{HTTP: events.LambdaFunctionURLRequestContextHTTPDescription{Method: "POST", Path: path}}}
	resp, err := h.handlers[webhookFunctionIDs[platform]].(urlHandler)(context.Background(), ev)
	if err != nil || resp.StatusCode >= 500 {
		h.t.Fatalf("%s delivery: %v %d %s", platform, err, resp.StatusCode, resp.Body)
	}
	return resp
}

// webhooks drives every webhook function: a delivery each, verified and
// queued (or refused, for the platforms whose registration is absent),
// processed by the webhook worker; a dead-lettered webhook job is kept
// and replayed to the webhook queue.
func (h *iamHarness) webhooks(t interface {
	Helper()
	Fatalf(string, ...any)
	Errorf(string, ...any)
}, siteURL string) {
	t.Helper()
	ctx := context.Background()
	creds := map[string]string{"username": "editor", "app_password": "abcd efgh ijkl mnop qrst uvwx"}
	resp := h.api("CreateIntegrationFunction", "POST", "/v1/integrations", nil, nil,
		map[string]any{"site_id": "site-hooks", "platform": "wordpress", "external_site_url": siteURL, "credentials": creds}, nil)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", resp.StatusCode, resp.Body)
	}
	var it struct{ ID string }
	decodeBody(h.t, resp, &it)
	// The integration's webhook secret, as onboarding keeps it.
	cur, err := h.setup.GetIntegration(ctx, "acct-iam", it.ID)
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	ref := integration.SecretRef{AccountID: cur.AccountID, IntegrationID: cur.ID, SiteID: cur.SiteID, Platform: cur.Platform}
	_, values, err := h.secrets.CurrentSecret(ctx, ref)
	if err != nil {
		t.Fatalf("secret: %v", err)
	}
	secret, _ := webhook.NewStandardSecret()
	values[webhookin.SecretField] = secret
	v, err := h.secrets.PutSecret(ctx, ref, values)
	if err != nil {
		t.Fatalf("put secret: %v", err)
	}
	next := *cur
	next.Credentials = integration.CredentialsRef{SecretName: v.Name, VersionID: v.VersionID, Fields: append(cur.Credentials.Fields, webhookin.SecretField)}
	if err := h.setup.UpdateIntegration(ctx, &next, cur.Rev); err != nil {
		t.Fatalf("update: %v", err)
	}
	for _, rt := range []integration.WebhookRoute{
		{Platform: "wordpress", Key: it.ID, AccountID: "acct-iam", IntegrationID: it.ID},
		{Platform: "slack", Key: "T-IAM", AccountID: "acct-iam", IntegrationID: it.ID},
		{Platform: "google_calendar", Key: "chan-iam", AccountID: "acct-iam", IntegrationID: it.ID, TokenHash: webhook.Hash("tok")},
		{Platform: "jira", Key: webhook.Hash("jira-hook-iam"), AccountID: "acct-iam", IntegrationID: it.ID},
		{Platform: "trello", Key: webhook.Hash("trello-hook-iam"), AccountID: "acct-iam", IntegrationID: it.ID, CallbackURL: "https://hooks.example.com/webhooks/trello/trello-hook-iam"},
	} {
		if err := h.setup.PutWebhookRoute(ctx, rt); err != nil {
			t.Fatalf("route: %v", err)
		}
	}
	now := time.Now()
	body := `{"action":"post_updated","post_id":1,"post_type":"post","site_url":"` + siteURL + `"}`
	if got := h.deliver("wordpress", "/webhooks/wordpress/"+it.ID, map[string]string{"webhook-id": "msg-iam-1", "webhook-timestamp": fmt.Sprint(now.Unix()),
		"webhook-signature": webhook.SignStandard(secret, "msg-iam-1", now, []byte(body))}, body); got.StatusCode != 200 {
		t.Fatalf("wordpress: %d %s", got.StatusCode, got.Body)
	}
	body = `{"type":"event_callback","team_id":"T-IAM","event_id":"Ev-IAM","event":{"type":"message"}}`
	if got := h.deliver("slack", "/webhooks/slack", map[string]string{"X-Slack-Request-Timestamp": fmt.Sprint(now.Unix()),
		"X-Slack-Signature": webhook.SignSlack("iam-signing", now, []byte(body))}, body); got.StatusCode != 200 {
		t.Fatalf("slack: %d %s", got.StatusCode, got.Body)
	}
	body = `{"id":1}`
	if got := h.deliver("shopify", "/webhooks/shopify", map[string]string{"X-Shopify-Hmac-Sha256": webhook.SignShopify("iam-shop-secret", []byte(body)),
		"X-Shopify-Topic": "products/update", "X-Shopify-Shop-Domain": "none.myshopify.com", "X-Shopify-Event-Id": "ev-iam"}, body); got.StatusCode != 200 {
		t.Fatalf("shopify: %d %s", got.StatusCode, got.Body)
	}
	body = `{"event":"im_receive_msg","user_openid":"nobody","content":"{\"message_id\":\"m1\"}"}`
	if got := h.deliver("tiktok", "/webhooks/tiktok", map[string]string{"Tiktok-Signature": webhook.SignTikTok("iam-tiktok-secret", now, []byte(body))}, body); got.StatusCode != 200 {
		t.Fatalf("tiktok: %d %s", got.StatusCode, got.Body)
	}
	if got := h.deliver("google_calendar", "/webhooks/google_calendar", map[string]string{"X-Goog-Channel-Id": "chan-iam", "X-Goog-Channel-Token": "tok",
		"X-Goog-Message-Number": "7", "X-Goog-Resource-State": "exists"}, ""); got.StatusCode != 200 {
		t.Fatalf("google: %d %s", got.StatusCode, got.Body)
	}
	body = `{"webhookEvent":"jira:issue_updated","issue":{"id":"10001"}}`
	if got := h.deliver("jira", "/webhooks/jira/jira-hook-iam", map[string]string{"X-Atlassian-Webhook-Identifier": "jira-iam-1"}, body); got.StatusCode != 200 {
		t.Fatalf("jira: %d %s", got.StatusCode, got.Body)
	}
	// Trello's secret is the integration's: this one has none, refused.
	body = `{"action":{"id":"a-iam","type":"updateCard"}}`
	if got := h.deliver("trello", "/webhooks/trello/trello-hook-iam", map[string]string{"X-Trello-Webhook": "AAAA"}, body); got.StatusCode != http.StatusUnauthorized {
		t.Fatalf("trello: %d %s", got.StatusCode, got.Body)
	}
	h.drainWebhooks()

	// A webhook job the webhook queue gave up on: kept by the dead-letter
	// function, replayed to the webhook queue, processed.
	job, err := json.Marshal(syncer.Job{Kind: "webhook", AccountID: "acct-iam", IntegrationID: it.ID, JobID: "webhook/wordpress/msg-iam-dl",
		Webhook: &syncer.WebhookJob{Platform: "wordpress", DeliveryID: "msg-iam-dl", Event: "post_updated", Model: "post", ObjectIDs: []string{"1"}, ReceivedAt: now}})
	if err != nil {
		t.Fatalf("job: %v", err)
	}
	dlq := h.handlers["SyncDeadLetterFunction"].(func(context.Context, events.SQSEvent) (events.SQSEventResponse, error))
	if out, err := dlq(ctx, events.SQSEvent{Records: []events.SQSMessage{{MessageId: "dlq-webhook-1", Body: string(job),
		Attributes: map[string]string{"ApproximateReceiveCount": "5"}}}}); err != nil || len(out.BatchItemFailures) > 0 {
		t.Fatalf("dead-letter function: %+v %v", out, err)
	}
	resp = h.api("ReplayDeadLettersFunction", "POST", "/v1/integrations/{id}/dead_letters/replay", map[string]string{"id": it.ID}, nil, nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("replay: %d %s", resp.StatusCode, resp.Body)
	}
	if n := h.drainWebhooks(); n != 1 {
		t.Fatalf("the replay put %d jobs on the webhook queue, want 1", n)
	}
}

// drainWebhooks runs the webhook worker over the webhook queue until it
// is empty, and returns how many jobs it ran.
func (h *iamHarness) drainWebhooks() int {
	h.t.Helper()
	ctx := context.Background()
	worker := h.handlers["WebhookWorkerFunction"].(func(context.Context, events.SQSEvent) (events.SQSEventResponse, error))
	ran := 0
	for range 50 {
		out, err := h.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &h.webhookQueueURL, MaxNumberOfMessages: 10,
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll}})
		if err != nil {
			h.t.Fatalf("receive: %v", err)
		}
		if len(out.Messages) == 0 {
			return ran
		}
		ev := events.SQSEvent{}
		for _, m := range out.Messages {
			ev.Records = append(ev.Records, events.SQSMessage{MessageId: *m.MessageId, ReceiptHandle: *m.ReceiptHandle, Body: *m.Body,
				Attributes: m.Attributes, EventSource: "aws:sqs", EventSourceARN: queueARN(h.webhookQueueName), AWSRegion: iamRegion})
		}
		resp, err := worker(ctx, ev)
		if err != nil || len(resp.BatchItemFailures) > 0 {
			h.t.Fatalf("webhook worker: %+v %v", resp, err)
		}
		for _, m := range ev.Records {
			if _, err := h.sqs.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &h.webhookQueueURL, ReceiptHandle: &m.ReceiptHandle}); err != nil {
				h.t.Fatalf("delete: %v", err)
			}
			ran++
		}
	}
	h.t.Fatal("the webhook queue did not empty")
	return ran
}
