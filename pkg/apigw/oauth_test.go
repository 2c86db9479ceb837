package apigw_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/apigw"
	"github.com/joinery/joinery/pkg/integration"
)

// The authorize route hands the flow the caller and return URL, editor and
// up; the public callback counts its source first, 302s where the flow
// says, and shows a page (not the error JSON, nothing of the request) for
// a bad state.
func TestOAuthRoutes(t *testing.T) {
	api := newAPI(t)
	now := time.Now().UTC().Truncate(time.Minute).Add(30 * time.Second)
	api.Service.Now = func() time.Time { return now }
	var gotActor integration.Actor
	var gotID, gotReturn, gotPlatform, gotPublic string
	var gotQuery url.Values
	callbacks := 0
	o := &apigw.OAuthAPI{API: api,
		Authorize: func(_ context.Context, public string, actor integration.Actor, id, returnURL string) (string, time.Time, error) {
			gotActor, gotID, gotReturn, gotPublic = actor, id, returnURL, public
			return "https://slack.com/oauth/v2/authorize?state=s1", now.Add(10 * time.Minute), nil
		},
		Callback: func(_ context.Context, public, platform string, q url.Values) (string, error) {
			callbacks++
			gotPlatform, gotQuery, gotPublic = platform, q, public
			if q.Get("state") == "REDACTED-state" {
				return "https://app.example.com/settings/integrations?integration_id=01J&status=connected", nil
			}
			return "", integration.Invalid(map[string]string{"state": "is not valid"})
		},
	}

	ev := loadEvent(t, "integrations-oauth-authorize.json")
	status, body, _ := call(t, o.AuthorizeOAuth(), ev)
	if status != 200 || body["authorize_url"] != "https://slack.com/oauth/v2/authorize?state=s1" || body["expires_at"] != now.Add(10*time.Minute).Format(time.RFC3339) {
		t.Fatalf("authorize: %d %v", status, body)
	}
	// Without a configured public URL, the domain the request came in on.
	if gotActor.AccountID != "acct-example" || gotID != "01JDEMO0000000000000000000" || gotReturn != "https://app.example.com/settings/integrations" ||
		gotPublic != "https://abc123.execute-api.eu-west-1.amazonaws.com" {
		t.Fatalf("the flow got %+v %q %q %q", gotActor, gotID, gotReturn, gotPublic)
	}
	ev.Body = `{}`
	if status, body, _ := call(t, o.AuthorizeOAuth(), ev); status != 400 || !strings.Contains(body["error"].(map[string]any)["fields"].(map[string]any)["return_url"].(string), "required") {
		t.Fatalf("no return_url: %d %v", status, body)
	}
	ev = loadEvent(t, "integrations-oauth-authorize.json")
	ev.RequestContext.Authorizer.JWT.Claims["role"] = "viewer"
	if status, _, _ := call(t, o.AuthorizeOAuth(), ev); status != 403 {
		t.Fatalf("a viewer authorizes: %d", status)
	}

	cb := loadEvent(t, "oauth-callback.json")
	resp, err := o.OAuthCallback()(context.Background(), cb)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 302 || resp.Headers["Location"] != "https://app.example.com/settings/integrations?integration_id=01J&status=connected" || resp.Body != "" {
		t.Fatalf("callback: %d %v %q", resp.StatusCode, resp.Headers, resp.Body)
	}
	if gotPlatform != "slack" || gotQuery.Get("code") != "REDACTED-code" || gotPublic != "https://abc123.execute-api.eu-west-1.amazonaws.com" {
		t.Fatalf("the flow got %q %v %q", gotPlatform, gotQuery, gotPublic)
	}
	o.PublicURL = "https://api.example.com"
	if _, err := o.OAuthCallback()(context.Background(), cb); err != nil || gotPublic != "https://api.example.com" {
		t.Fatalf("the configured public URL: %q %v", gotPublic, err)
	}
	cb.RawQueryString = "code=c&state=%3Cscript%3Eforged"
	cb.RequestContext.HTTP.SourceIP = "198.51.100.1"
	resp, _ = o.OAuthCallback()(context.Background(), cb)
	if resp.StatusCode != 400 || !strings.HasPrefix(resp.Headers["Content-Type"], "text/html") || strings.Contains(resp.Body, "script") || strings.Contains(resp.Body, "forged") {
		t.Fatalf("forged state: %d %v %q", resp.StatusCode, resp.Headers, resp.Body)
	}

	// 60 a minute from one address (the sample's), counted before the
	// flow runs: past it, 429 and the flow is not called.
	cb = loadEvent(t, "oauth-callback.json")
	for i := 3; i <= integration.SourceRequestsPerMinute; i++ {
		if resp, _ := o.OAuthCallback()(context.Background(), cb); resp.StatusCode != 302 {
			t.Fatalf("request %d: %d", i, resp.StatusCode)
		}
	}
	before := callbacks
	resp, _ = o.OAuthCallback()(context.Background(), cb)
	if resp.StatusCode != 429 || resp.Headers["Retry-After"] != "30" || callbacks != before {
		t.Fatalf("past the limit: %d %v, flow called %d times more", resp.StatusCode, resp.Headers, callbacks-before)
	}
}
