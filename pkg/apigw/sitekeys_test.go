package apigw_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/joinery/joinery/pkg/apigw"
	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/integration"
)

// passwordTester accepts exactly the passwords in good.
type passwordTester struct {
	good  map[string]bool
	calls int
}

func (p *passwordTester) TestConnection(_ context.Context, c connector.Connection) (connector.TestResult, error) {
	p.calls++
	if !p.good[c.Credentials["app_password"]] {
		return connector.TestResult{OK: false, Message: "WordPress rejected the Application Password: it is wrong or has been revoked."}, nil
	}
	return connector.TestResult{OK: true, Message: "Connected as editor.", Details: map[string]any{"roles": []string{"editor"}}}, nil
}

func (p *passwordTester) Structure(context.Context, connector.Connection) (connector.Structure, error) {
	return connector.Structure{ContentTypes: []connector.ContentType{{Name: "post", Label: "Posts"}}, Taxonomies: []connector.Taxonomy{}}, nil
}

func call(t *testing.T, h apigw.Handler, ev events.APIGatewayV2HTTPRequest) (int, map[string]any, events.APIGatewayV2HTTPResponse) {
	t.Helper()
	resp, err := h(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	var body map[string]any
	if resp.Body != "" {
		if err := json.Unmarshal([]byte(resp.Body), &body); err != nil {
			t.Fatalf("body %q: %v", resp.Body, err)
		}
	}
	return resp.StatusCode, body, resp
}

func withBody(ev events.APIGatewayV2HTTPRequest, v any) events.APIGatewayV2HTTPRequest {
	b, _ := json.Marshal(v)
	ev.Body = string(b)
	return ev
}

func withKey(ev events.APIGatewayV2HTTPRequest, key string) events.APIGatewayV2HTTPRequest {
	h := make(map[string]string, len(ev.Headers))
	for k, v := range ev.Headers {
		h[k] = v
	}
	h["authorization"] = "Bearer " + key
	ev.Headers = h
	return ev
}

func TestSiteKeysAndOnboarding(t *testing.T) {
	api := newAPI(t)
	now := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	api.Service.Now = func() time.Time { return now }
	tester := &passwordTester{good: map[string]bool{"good one": true, "good two": true}}
	tst := &connector.Tester{Integrations: api.Service, Connectors: map[string]connector.ConnectionTester{"wordpress": tester}, Now: api.Service.Now}
	conn := &apigw.ConnectionAPI{API: api, Tester: tst, Onboarding: &connector.Onboarding{Integrations: api.Service, Tester: tst}}

	// A key: shown once, never its hash.
	newID := api.Service.NewID
	api.Service.NewID = func() string { return "01JDEMOKEY0000000000000000" }
	status, body, resp := call(t, api.CreateSiteKey(), loadEvent(t, "sitekeys-create.json"))
	api.Service.NewID = newID
	key, _ := body["key"].(string)
	if status != 201 || !strings.HasPrefix(key, "jsk_01JDEMOKEY0000000000000000_") || body["name"] != "WordPress plugin on blog.example.com" {
		t.Fatalf("create key: %d %s", status, resp.Body)
	}
	if strings.Contains(resp.Body, "hash") || body["hint"] != key[len(key)-4:] {
		t.Fatalf("create key shows a hash or a wrong hint: %s", resp.Body)
	}
	status, _, resp = call(t, api.ListSiteKeys(), loadEvent(t, "sitekeys-list.json"))
	if status != 200 || strings.Contains(resp.Body, key[4:]) || strings.Contains(resp.Body, "hash") || !strings.Contains(resp.Body, `"id":"01JDEMOKEY0000000000000000"`) {
		t.Fatalf("list keys: %d %s", status, resp.Body)
	}
	viewer := loadEvent(t, "sitekeys-create.json")
	viewer.RequestContext.Authorizer.JWT.Claims["role"] = "viewer"
	if status, _, _ := call(t, api.CreateSiteKey(), viewer); status != 403 {
		t.Fatalf("viewer created a key: %d", status)
	}
	otherSite := loadEvent(t, "sitekeys-create.json")
	otherSite.RequestContext.Authorizer.JWT.Claims["sites"] = "site-2"
	if status, _, _ := call(t, api.CreateSiteKey(), otherSite); status != 403 {
		t.Fatalf("a token limited to site-2 created a key for site-1: %d", status)
	}

	onboard := func(password string) (int, map[string]any, events.APIGatewayV2HTTPResponse) {
		ev := withKey(loadEvent(t, "integrations-onboard.json"), key)
		return call(t, conn.Onboard(), withBody(ev, map[string]string{"site_url": "https://blog.example.com", "username": "editor", "app_password": password}))
	}
	listAll := func() []any {
		_, body, _ := call(t, api.ListIntegrations(), loadEvent(t, "integrations-list.json"))
		return body["items"].([]any)
	}
	secret := func() string {
		it, err := api.Service.Get(context.Background(), integration.Actor{AccountID: "acct-example", Role: integration.RoleViewer}, "01JDEMO0000000000000000000")
		if err != nil {
			t.Fatal(err)
		}
		creds, err := api.Service.Credentials(context.Background(), it)
		if err != nil {
			t.Fatal(err)
		}
		return creds["app_password"]
	}

	// Bad credentials on a site without an integration: 422, nothing left.
	status, body, resp = onboard("wrong")
	if status != 422 || !strings.Contains(resp.Body, "Application Password") || body["error"].(map[string]any)["code"] != "unprocessable" {
		t.Fatalf("bad credentials: %d %s", status, resp.Body)
	}
	if n := len(listAll()); n != 0 {
		t.Fatalf("a failed onboarding left %d integrations", n)
	}
	// Good credentials: created.
	status, body, resp = onboard("good one")
	if status != 200 || body["ok"] != true || body["created"] != true || body["integration_id"] != "01JDEMO0000000000000000000" {
		t.Fatalf("good credentials: %d %s", status, resp.Body)
	}
	if strings.Contains(resp.Body, "good one") {
		t.Fatal("the answer shows the password")
	}
	_, got, _ := call(t, api.GetIntegration(), loadEvent(t, "integrations-get.json"))
	if got["connection_status"] != "connected" || got["has_credentials"] != true || got["external_site_url"] != "https://blog.example.com" {
		t.Fatalf("onboarded integration: %v", got)
	}
	// A wrong password later never replaces a working one.
	if status, _, resp := onboard("wrong"); status != 422 {
		t.Fatalf("bad credentials on an existing integration: %d %s", status, resp.Body)
	}
	if s := secret(); s != "good one" {
		t.Fatalf("a failed onboarding replaced the credentials (now %q)", s)
	}
	_, got, _ = call(t, api.GetIntegration(), loadEvent(t, "integrations-get.json"))
	if got["connection_status"] != "connected" {
		t.Fatalf("a failed onboarding changed the connection status: %v", got["connection_status"])
	}
	// New good credentials replace the old.
	if status, body, resp := onboard("good two"); status != 200 || body["created"] != false {
		t.Fatalf("re-onboarding: %d %s", status, resp.Body)
	}
	if s := secret(); s != "good two" {
		t.Fatalf("credentials after re-onboarding: %q", s)
	}
	// Validation names the request's fields.
	ev := withKey(loadEvent(t, "integrations-onboard.json"), key)
	status, body, resp = call(t, conn.Onboard(), withBody(ev, map[string]string{"site_url": "ftp://x", "username": "", "app_password": "x"}))
	fields, _ := body["error"].(map[string]any)["fields"].(map[string]any)
	if status != 400 || fields["site_url"] == nil || fields["username"] == nil {
		t.Fatalf("invalid onboarding: %d %s", status, resp.Body)
	}

	// The plugin pushes its structure; content_types shows it.
	push := withKey(loadEvent(t, "integrations-update-structure.json"), key)
	status, body, resp = call(t, conn.UpdateStructure(), push)
	if status != 200 || body["plugin_version"] != "1.2.0" || body["source"] != "plugin" || body["updated_at"] != now.Format(time.RFC3339) {
		t.Fatalf("update_structure: %d %s", status, resp.Body)
	}
	status, body, resp = call(t, conn.ContentTypes(), loadEvent(t, "integrations-content-types.json"))
	if status != 200 || len(body["post_types"].([]any)) != 3 || len(body["taxonomies"].([]any)) != 3 {
		t.Fatalf("content_types: %d %s", status, resp.Body)
	}
	bad := withBody(push, map[string]any{"post_types": []any{map[string]any{"label": "x"}}, "taxonomies": []any{}})
	if status, body, resp := call(t, conn.UpdateStructure(), bad); status != 400 || body["error"].(map[string]any)["fields"].(map[string]any)["post_types[0].name"] == nil {
		t.Fatalf("structure without a name: %d %s", status, resp.Body)
	}
	if status, _, resp := call(t, conn.UpdateStructure(), withBody(push, map[string]any{"post_types": "post"})); status != 400 || !strings.Contains(resp.Body, "post_types") {
		t.Fatalf("structure of a wrong type: %d %s", status, resp.Body)
	}

	// Keys: missing or wrong is 401, another site's key sees no integration.
	noKey := loadEvent(t, "integrations-update-structure.json")
	delete(noKey.Headers, "authorization")
	for name, ev := range map[string]events.APIGatewayV2HTTPRequest{
		"no key": noKey, "sample key": loadEvent(t, "integrations-update-structure.json"),
		"wrong secret": withKey(push, key[:len(key)-4]+"AAAA"), "a JWT": withKey(push, "eyJhbGciOiJSUzI1NiJ9.e30.sig"),
	} {
		if status, _, resp := call(t, conn.UpdateStructure(), ev); status != 401 {
			t.Fatalf("%s: %d %s", name, status, resp.Body)
		}
	}
	site2 := loadEvent(t, "sitekeys-create.json")
	site2.PathParameters = map[string]string{"site_id": "site-2"}
	_, body, _ = call(t, api.CreateSiteKey(), site2)
	if status, _, resp := call(t, conn.UpdateStructure(), withKey(push, body["key"].(string))); status != 404 {
		t.Fatalf("site-2's key on site-1's integration: %d %s", status, resp.Body)
	}

	// Revoked: 401 at once, and listed as revoked.
	status, body, resp = call(t, api.RevokeSiteKey(), loadEvent(t, "sitekeys-revoke.json"))
	if status != 200 || body["revoked"] != true {
		t.Fatalf("revoke: %d %s", status, resp.Body)
	}
	if status, _, _ := onboard("good one"); status != 401 {
		t.Fatalf("onboarding with a revoked key: %d", status)
	}
	if status, _, _ := call(t, conn.UpdateStructure(), push); status != 401 {
		t.Fatalf("update_structure with a revoked key: %d", status)
	}
	other := loadEvent(t, "sitekeys-revoke.json")
	other.RequestContext.Authorizer.JWT.Claims["account_id"] = "acct-other"
	if status, _, _ := call(t, api.RevokeSiteKey(), other); status != 404 {
		t.Fatalf("another account revoked the key: %d", status)
	}
}

func TestOnboardingIsRateLimitedPerKey(t *testing.T) {
	api := newAPI(t)
	// Half-way through the current minute: stored counters expire by the
	// wall clock.
	now := time.Now().UTC().Truncate(time.Minute).Add(30 * time.Second)
	api.Service.Now = func() time.Time { return now }
	api.Service.NewID = integration.NewID
	tester := &passwordTester{good: map[string]bool{}}
	tst := &connector.Tester{Integrations: api.Service, Connectors: map[string]connector.ConnectionTester{"wordpress": tester}}
	conn := &apigw.ConnectionAPI{API: api, Tester: tst, Onboarding: &connector.Onboarding{Integrations: api.Service, Tester: tst}}
	_, a, _ := call(t, api.CreateSiteKey(), loadEvent(t, "sitekeys-create.json"))
	_, b, _ := call(t, api.CreateSiteKey(), loadEvent(t, "sitekeys-create.json"))
	for i := 1; i <= integration.OnboardAttemptsPerMinute+1; i++ {
		status, _, resp := call(t, conn.Onboard(), withKey(loadEvent(t, "integrations-onboard.json"), a["key"].(string)))
		want := 422
		if i > integration.OnboardAttemptsPerMinute {
			want = 429
		}
		if status != want {
			t.Fatalf("attempt %d: %d, want %d: %s", i, status, want, resp.Body)
		}
		if want == 429 && resp.Headers["Retry-After"] != "30" {
			t.Fatalf("Retry-After = %q, want 30 (the rest of the minute)", resp.Headers["Retry-After"])
		}
	}
	if tester.calls != integration.OnboardAttemptsPerMinute {
		t.Fatalf("%d connection tests, want %d: a limited attempt must not call the site", tester.calls, integration.OnboardAttemptsPerMinute)
	}
	if status, _, resp := call(t, conn.Onboard(), withKey(loadEvent(t, "integrations-onboard.json"), b["key"].(string))); status != 422 {
		t.Fatalf("another key is limited too: %d %s", status, resp.Body)
	}
	now = now.Add(time.Minute)
	if status, _, resp := call(t, conn.Onboard(), withKey(loadEvent(t, "integrations-onboard.json"), a["key"].(string))); status != 422 {
		t.Fatalf("the next minute: %d %s", status, resp.Body)
	}
}
