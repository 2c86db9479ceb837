package apigw_test

import (
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/joinery/joinery/pkg/apigw"
	"github.com/joinery/joinery/pkg/connector"
)

// A site key connects its site but cannot move the integration to
// another host; an editor can. URLs with a query string or a fragment
// are refused on create, onboarding and PATCH.
func TestOnboardingCannotMoveASite(t *testing.T) {
	api := newAPI(t)
	tester := &passwordTester{good: map[string]bool{"good one": true}}
	tst := &connector.Tester{Integrations: api.Service, Connectors: map[string]connector.ConnectionTester{"wordpress": tester}, Now: api.Service.Now}
	conn := &apigw.ConnectionAPI{API: api, Tester: tst, Onboarding: &connector.Onboarding{Integrations: api.Service, Tester: tst}}
	_, body, _ := call(t, api.CreateSiteKey(), loadEvent(t, "sitekeys-create.json"))
	key := body["key"].(string)
	onboard := func(field, url string) (int, map[string]any, string) {
		status, body, resp := call(t, conn.Onboard(), withBody(withKey(loadEvent(t, "integrations-onboard.json"), key),
			map[string]string{field: url, "username": "editor", "app_password": "good one"}))
		return status, body, resp.Body
	}
	siteURL := func() string {
		_, got, _ := call(t, api.GetIntegration(), loadEvent(t, "integrations-get.json"))
		return got["external_site_url"].(string)
	}

	if status, _, resp := onboard("site_url", "http://blog.example.com"); status != 200 {
		t.Fatalf("first onboarding: %d %s", status, resp)
	}
	calls := tester.calls
	for _, u := range []string{"https://evil.example.net", "http://blog.example.com:8080", "http://evil.example.net"} {
		status, body, resp := onboard("site_url", u)
		e, _ := body["error"].(map[string]any)
		if status != 403 || e["code"] != "forbidden" || !strings.Contains(resp, "Only an editor can move this integration to another host") {
			t.Fatalf("a site key moved the integration to %s: %d %s", u, status, resp)
		}
	}
	if tester.calls != calls {
		t.Fatal("a refused move called the new host with the credentials")
	}
	if got := siteURL(); got != "http://blog.example.com" {
		t.Fatalf("site URL after refused moves: %s", got)
	}
	// Same host: http to https, another path, another case.
	for _, u := range []string{"https://BLOG.example.com/", "https://blog.example.com/wp"} {
		if status, _, resp := onboard("external_site_url", u); status != 200 {
			t.Fatalf("onboarding on the same host (%s): %d %s", u, status, resp)
		}
	}
	if got := siteURL(); got != "https://blog.example.com/wp" {
		t.Fatalf("site URL: %s", got)
	}

	// Query strings and fragments: 400 naming external_site_url.
	for _, u := range []string{"https://blog.example.com/?p=1", "https://blog.example.com/#top"} {
		for _, field := range []string{"site_url", "external_site_url"} {
			status, body, resp := onboard(field, u)
			e, _ := body["error"].(map[string]any)
			fields, _ := e["fields"].(map[string]any)
			if status != 400 || fields["external_site_url"] == nil {
				t.Fatalf("onboarding with %s=%s: %d %s", field, u, status, resp)
			}
		}
		patch := unconditional(loadEvent(t, "integrations-update.json"))
		patch.Body = `{"external_site_url": "` + u + `"}`
		status, body, resp := call(t, api.UpdateIntegration(), patch)
		if e, _ := body["error"].(map[string]any); status != 400 || e["fields"].(map[string]any)["external_site_url"] == nil {
			t.Fatalf("PATCH with %s: %d %s", u, status, resp.Body)
		}
		create := loadEvent(t, "integrations-create.json")
		create.Body = strings.Replace(create.Body, `"https://blog.example.com"`, `"`+u+`"`, 1)
		status, body, resp = call(t, api.CreateIntegration(), create)
		if e, _ := body["error"].(map[string]any); status != 400 || e["fields"].(map[string]any)["external_site_url"] == nil {
			t.Fatalf("create with %s: %d %s", u, status, resp.Body)
		}
	}

	// An editor's PATCH moves it.
	patch := unconditional(loadEvent(t, "integrations-update.json"))
	patch.Body = `{"external_site_url": "https://new-home.example.org"}`
	if status, _, resp := call(t, api.UpdateIntegration(), patch); status != 200 {
		t.Fatalf("an editor's move: %d %s", status, resp.Body)
	}
	if got := siteURL(); got != "https://new-home.example.org" {
		t.Fatalf("site URL after the editor's move: %s", got)
	}
}

// unconditional drops the sample PATCH's If-Match.
func unconditional(ev events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPRequest {
	h := map[string]string{}
	for k, v := range ev.Headers {
		if !strings.EqualFold(k, "if-match") {
			h[k] = v
		}
	}
	ev.Headers = h
	return ev
}
