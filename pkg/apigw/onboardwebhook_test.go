package apigw_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/apigw"
	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/integration"
)

// TestOnboardingAnswersTheWebhookURLAndSecret: the plugin is told where
// to post its webhooks and the secret to sign them with; a reconnect
// gives the same secret unless it asks to rotate it, a credentials
// update keeps it, and the integration's deletion stops its routing.
func TestOnboardingAnswersTheWebhookURLAndSecret(t *testing.T) {
	ctx := context.Background()
	api := newAPI(t)
	api.WebhookURLs = map[string]string{"wordpress": "https://hooks.example.com"}
	tester := &passwordTester{good: map[string]bool{"good one": true}}
	tst := &connector.Tester{Integrations: api.Service, Connectors: map[string]connector.ConnectionTester{"wordpress": tester}}
	conn := &apigw.ConnectionAPI{API: api, Tester: tst, Onboarding: &connector.Onboarding{Integrations: api.Service, Tester: tst,
		WebhookURL: "https://hooks.example.com/"}}
	_, body, _ := call(t, api.CreateSiteKey(), loadEvent(t, "sitekeys-create.json"))
	key, _ := body["key"].(string)
	onboard := func(extra map[string]any) (string, string, string) {
		t.Helper()
		in := map[string]any{"site_url": "https://blog.example.com", "username": "editor", "app_password": "good one"}
		for k, v := range extra {
			in[k] = v
		}
		status, body, resp := call(t, conn.Onboard(), withBody(withKey(loadEvent(t, "integrations-onboard.json"), key), in))
		if status != 200 {
			t.Fatalf("onboard: %d %s", status, resp.Body)
		}
		id, _ := body["integration_id"].(string)
		url, _ := body["webhook_url"].(string)
		secret, _ := body["webhook_secret"].(string)
		return id, url, secret
	}
	id, url, secret := onboard(nil)
	if url != "https://hooks.example.com/webhooks/wordpress/"+id {
		t.Fatalf("webhook_url = %q", url)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if !strings.HasPrefix(secret, "whsec_") || err != nil || len(raw) != 32 {
		t.Fatalf("webhook_secret = %q, want whsec_ and 32 bytes in base64", secret)
	}
	actor := integration.Actor{AccountID: "acct-example", Role: integration.RoleAdmin}
	stored := func() string {
		t.Helper()
		it, err := api.Service.Get(ctx, actor, id)
		if err != nil {
			t.Fatal(err)
		}
		s, err := api.Service.WebhookSecret(ctx, it)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if stored() != secret {
		t.Fatal("the secret answered is not the one stored")
	}
	routes, err := api.Service.Store.WebhookRoutes(ctx, "wordpress", id, 10)
	if err != nil || len(routes) != 1 || routes[0].IntegrationID != id || routes[0].AccountID != "acct-example" {
		t.Fatalf("routes = %+v %v, want the integration's", routes, err)
	}

	if _, _, again := onboard(nil); again != secret || stored() != secret {
		t.Fatalf("a reconnect changed the secret: %q", again)
	}
	_, _, rotated := onboard(map[string]any{"rotate_webhook_secret": true})
	if rotated == secret || !strings.HasPrefix(rotated, "whsec_") || stored() != rotated {
		t.Fatalf("rotate: %q (stored %q), want a new secret stored", rotated, stored())
	}

	// New credentials through the API keep the secret; the API cannot set it.
	if _, err := api.Service.Update(ctx, actor, id, integration.PatchInput{Credentials: map[string]string{"username": "editor", "app_password": "good one"}, CredentialsSet: true}); err != nil {
		t.Fatal(err)
	}
	if stored() != rotated {
		t.Fatal("a credentials update dropped the webhook secret")
	}
	_, err = api.Service.Update(ctx, actor, id, integration.PatchInput{Credentials: map[string]string{"username": "editor", "app_password": "x", integration.WebhookSecretKey: "whsec_mine"}, CredentialsSet: true})
	if integration.ErrorCode(err) != integration.EINVALID {
		t.Fatalf("setting the webhook secret through credentials: %v, want invalid", err)
	}

	// The integration shows its webhooks: the URL, and the last day's counts.
	get := func() map[string]any {
		t.Helper()
		ev := loadEvent(t, "integrations-get.json")
		ev.PathParameters = map[string]string{"id": id}
		status, body, resp := call(t, api.GetIntegration(), ev)
		if status != 200 {
			t.Fatalf("get: %d %s", status, resp.Body)
		}
		w, _ := body["webhooks"].(map[string]any)
		return w
	}
	ev := loadEvent(t, "integrations-get.json")
	ev.PathParameters = map[string]string{"id": id}
	if _, body, _ := call(t, api.GetIntegration(), ev); fmt.Sprint(body["credential_fields"]) != "[app_password username]" {
		t.Fatalf("credential_fields = %v, want the user's alone", body["credential_fields"])
	}
	if w := get(); w == nil || w["url"] != url || w["last_received_at"] != nil || w["received_24h"] != 0.0 || w["rejected_24h"] != 0.0 {
		t.Fatalf("webhooks before any delivery: %v", w)
	}
	at := time.Now().UTC().Add(-time.Minute).Truncate(time.Second)
	for _, c := range []struct {
		rejected bool
		at       time.Time
	}{{false, at.Add(-25 * time.Hour)}, {false, at.Add(-time.Hour)}, {false, at}, {true, at}} {
		if err := api.Service.Store.CountWebhook(ctx, "acct-example", id, c.rejected, c.at); err != nil {
			t.Fatal(err)
		}
	}
	if w := get(); w["last_received_at"] != at.Format(time.RFC3339) || w["received_24h"] != 2.0 || w["rejected_24h"] != 1.0 {
		t.Fatalf("webhooks after deliveries: %v, want last %s, 2 received and 1 rejected in 24h", w, at.Format(time.RFC3339))
	}

	if err := api.Service.Delete(ctx, actor, id, nil); err != nil {
		t.Fatal(err)
	}
	if routes, _ := api.Service.Store.WebhookRoutes(ctx, "wordpress", id, 10); len(routes) != 0 {
		t.Fatalf("a deleted integration is still routed: %+v", routes)
	}
}
