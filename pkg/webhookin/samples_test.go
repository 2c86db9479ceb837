package webhookin

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/joinery/joinery/pkg/integration"
	"github.com/joinery/joinery/pkg/webhook"
)

// The sample events in events/ are deliveries each platform's scheme
// verifies, with the example keys they were signed with: every one is
// answered 200, queued but for Slack's url_verification, which is
// answered with its challenge.
func TestSampleEvents(t *testing.T) {
	f := newFixture()
	f.rc.Schemes = nil // the platforms' own schemes
	f.now = time.Unix(1795510800, 0)
	f.rc.Apps = memApps{"shopify": {"client_secret": "example-shopify-client-secret"}, "slack": {"signing_secret": "example-slack-signing-secret"},
		"tiktok": {"client_secret": "example-tiktok-client-secret"}, "jira": {"client_secret": "example-jira-client-secret", "webhook_secret": "example-jira-admin-webhook-secret"}}
	f.store.routes = []integration.WebhookRoute{
		{Platform: "wordpress", Key: "01JDEMO0000000000000000000", AccountID: "acct-example", IntegrationID: "01JDEMO0000000000000000000"},
		{Platform: "shopify", Key: "example.myshopify.com", AccountID: "acct-example", IntegrationID: "shop"},
		{Platform: "tiktok", Key: "-000example-open-id", AccountID: "acct-example", IntegrationID: "tiktok"},
		{Platform: "google_calendar", Key: "01JDEMOCHANNEL000000000000", AccountID: "acct-example", IntegrationID: "cal", TokenHash: webhook.Hash("example-channel-token")},
		{Platform: "jira", Key: webhook.Hash("3f2a9c4e8b7d6a5f1e0c9b8a7d6e5f4a"), AccountID: "acct-example", IntegrationID: "jira"},
		{Platform: "trello", Key: webhook.Hash("9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a"), AccountID: "acct-example", IntegrationID: "trello",
			CallbackURL: "https://abcdefexample.lambda-url.eu-west-1.on.aws/webhooks/trello/9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a"},
	}
	f.store.its["acct-example/01JDEMO0000000000000000000"] = &integration.Integration{ID: "01JDEMO0000000000000000000", AccountID: "acct-example",
		Credentials: integration.CredentialsRef{SecretName: "wp", VersionID: "1"}}
	f.store.its["acct-example/trello"] = &integration.Integration{ID: "trello", AccountID: "acct-example", Credentials: integration.CredentialsRef{SecretName: "trello", VersionID: "1"}}
	f.secrets.versions["wp@1"] = map[string]string{SecretField: "whsec_" + base64.StdEncoding.EncodeToString([]byte("example-wordpress-webhook-key-32"))}
	f.secrets.versions["trello@1"] = map[string]string{SecretField: "example-trello-api-secret"}
	all, err := filepath.Glob("../../events/webhook-*.json")
	// webhook-endpoints-* are the outbound endpoints API's samples.
	var files []string
	for _, file := range all {
		if !strings.HasPrefix(filepath.Base(file), "webhook-endpoints-") {
			files = append(files, file)
		}
	}
	if err != nil || len(files) != 8 {
		t.Fatalf("samples %v %v", files, err)
	}
	queued := 0
	for _, file := range files {
		if strings.HasSuffix(file, "webhook-worker.json") {
			continue
		}
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var ev events.LambdaFunctionURLRequest
		if err := json.Unmarshal(b, &ev); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		got, err := f.rc.HandleURL(context.Background(), ev)
		if err != nil || got.StatusCode != 200 {
			t.Fatalf("%s: %d %s %v", file, got.StatusCode, got.Body, err)
		}
		if strings.Contains(file, "slack") {
			if !strings.Contains(got.Body, `"challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"`) {
				t.Fatalf("slack's url_verification: %s", got.Body)
			}
			continue
		}
		queued++
		if !strings.Contains(got.Body, outcomeQueued) || len(f.queue.sent) != queued {
			t.Fatalf("%s: %s, %d queued", file, got.Body, len(f.queue.sent))
		}
	}
}
