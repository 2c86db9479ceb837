package connector

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/joinery/joinery/pkg/integration"
)

// The embedded catalog passes its schema: every platform has every field
// its auth mode needs, URLs parse, templates use declared params, enums
// hold known values (ParseCatalog checks all of it).
func TestCatalogFileIsValid(t *testing.T) {
	c, err := ParseCatalog(catalogJSON)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"anthropic", "google_calendar", "jira", "openai", "shopify", "slack", "tiktok", "trello", "wordpress"}
	if !slices.Equal(c.Names(), want) {
		t.Fatalf("platforms %v, want %v", c.Names(), want)
	}
	for _, name := range c.Names() {
		e, _ := c.Entry(name)
		if e.DocsURL == "" || e.Category == "" || len(e.TestCalls) == 0 || e.RateLimit.RequestsPerSecond <= 0 {
			t.Errorf("%s: incomplete entry %+v", name, e)
		}
		if e.AuthMode == integration.AuthOAuth2 && (e.OAuth == nil || e.App == nil || !e.App.Required) {
			t.Errorf("%s: an OAuth platform without its oauth section or required app credentials", name)
		}
	}
}

// What the platforms are, as PLATFORMS.md documents them.
func TestCatalogFacts(t *testing.T) {
	c := NewCatalog()
	entry := func(name string) *Entry {
		t.Helper()
		e, ok := c.Entry(name)
		if !ok {
			t.Fatalf("no %s", name)
		}
		return e
	}
	for _, name := range c.Names() {
		e := entry(name)
		if e.OAuth != nil && e.OAuth.PKCE != (name == "google_calendar") {
			t.Errorf("%s: pkce %v; only google_calendar uses PKCE", name, e.OAuth.PKCE)
		}
		// Every platform can be connected on this build: WordPress and the
		// API-key platforms with credentials, the OAuth ones through the
		// connect flow.
		if !e.Available || !e.Platform().Available {
			t.Errorf("%s: not available", name)
		}
	}

	tt := entry("tiktok")
	o := tt.OAuth
	if tt.DisplayName != "TikTok Business Messaging" ||
		o.TokenURL != "https://business-api.tiktok.com/open_api/v1.3/tt_user/oauth2/token/" ||
		o.RefreshURL != "https://business-api.tiktok.com/open_api/v1.3/tt_user/oauth2/refresh_token/" ||
		o.TokenResponse.Root != "data" || o.Account.Source != "token_response" || o.Account.ID != "open_id" ||
		o.ClientIDParam != "client_key" || o.CodeParam != "auth_code" || o.TokenEncoding != "json" ||
		o.TokenResponse.ErrorFormat != "code_nonzero" || tt.API.Headers["Access-Token"] != "{access_token}" ||
		!strings.HasPrefix(tt.API.BaseURL, "https://business-api.tiktok.com/") {
		t.Errorf("tiktok is not the Business Messaging API: %+v %+v", tt, o)
	}

	g := entry("google_calendar").OAuth
	if g.TokenEncoding != "form" || g.AuthorizeParams["access_type"] != "offline" || g.AuthorizeParams["prompt"] != "consent" || g.RefreshRotation != "never" {
		t.Errorf("google_calendar: %+v", g)
	}
	j := entry("jira").OAuth
	if j.TokenEncoding != "json" || j.AuthorizeParams["audience"] != "api.atlassian.com" || !slices.Contains(j.Scopes, "offline_access") ||
		j.RefreshRotation != "always" || j.RefreshReuseSeconds != 600 || j.KeepaliveDays != 30 {
		t.Errorf("jira: %+v", j)
	}
	s := entry("slack")
	if s.OAuth.TokenResponse.ErrorFormat != "ok_false" || s.OAuth.ClientAuth != "basic" || s.OAuth.Account.ID != "team.id" ||
		!slices.ContainsFunc(s.App.Fields, func(f Field) bool { return f.Name == "signing_secret" }) {
		t.Errorf("slack: %+v", s.OAuth)
	}
	sh := entry("shopify")
	if sh.API.Headers["X-Shopify-Access-Token"] != "{access_token}" || sh.OAuth.TokenParams["expiring"] != "1" ||
		sh.OAuth.KeepaliveDays != 30 || sh.OAuth.RefreshRotation != "always" || sh.Params["shop"] != "site_subdomain" ||
		!strings.Contains(sh.OAuth.AuthorizeURL, "{shop}") {
		t.Errorf("shopify: %+v", sh)
	}
	re := sh.Platform().SiteURLPattern
	if re == nil || !re.MatchString("https://my-shop.myshopify.com") || re.MatchString("https://evil.com/.myshopify.com") {
		t.Errorf("shopify site URL pattern %v", re)
	}
	for _, name := range []string{"openai", "anthropic"} {
		if a := entry(name).App; a == nil || a.Required || len(a.Fields) != 1 || a.Fields[0].Name != "api_key" {
			t.Errorf("%s: app credentials %+v, want an optional api_key", name, a)
		}
	}
	// The syncer's rates come from here.
	if wp := entry("wordpress").RateLimit; wp.RequestsPerSecond != 10 || wp.RetryAfterHeader != "Retry-After" {
		t.Errorf("wordpress rate limit %+v", wp)
	}
}

// A broken catalog is refused with the platform and the field named.
func TestCatalogSchemaRefuses(t *testing.T) {
	for _, c := range []struct {
		name     string
		platform string
		change   func(e map[string]any)
		want     string
	}{
		{"missing display name", "slack", func(e map[string]any) { delete(e, "display_name") }, "slack: display_name: required"},
		{"unknown category", "slack", func(e map[string]any) { e["category"] = "chat" }, `slack: category: "chat" is not one of`},
		{"unknown auth mode", "trello", func(e map[string]any) { e["auth_mode"] = "oauth1" }, "trello: auth_mode"},
		{"token url not a URL", "jira", func(e map[string]any) { oauth(e)["token_url"] = "auth.atlassian.com/oauth/token" }, "jira: oauth.token_url: must be an absolute https URL"},
		{"plain http", "slack", func(e map[string]any) { oauth(e)["authorize_url"] = "http://slack.com/oauth/v2/authorize" }, "slack: oauth.authorize_url"},
		{"undeclared template", "shopify", func(e map[string]any) { delete(e["params"].(map[string]any), "shop") }, "shopify: oauth.authorize_url: uses {shop}, which params does not declare"},
		{"unused param", "slack", func(e map[string]any) { e["params"].(map[string]any)["team"] = "account_id" }, "slack: params.team: declared but no template uses it"},
		{"param of an undeclared config key", "jira", func(e map[string]any) { e["config"] = []any{} }, "jira: params.cloud_id: config.cloud_id is not a declared config key"},
		{"param of an unknown source", "tiktok", func(e map[string]any) { e["params"].(map[string]any)["open_id"] = "token.open_id" }, `tiktok: params.open_id: unknown source "token.open_id"`},
		{"token encoding", "google_calendar", func(e map[string]any) { oauth(e)["token_encoding"] = "xml" }, "google_calendar: oauth.token_encoding"},
		{"client auth", "slack", func(e map[string]any) { oauth(e)["client_auth"] = "header" }, "slack: oauth.client_auth"},
		{"error format", "tiktok", func(e map[string]any) { oauth(e)["token_response"].(map[string]any)["error_format"] = "json" }, "tiktok: oauth.token_response.error_format"},
		{"rotation", "jira", func(e map[string]any) { oauth(e)["refresh_rotation"] = "sometimes" }, "jira: oauth.refresh_rotation"},
		{"no scopes", "slack", func(e map[string]any) { oauth(e)["scopes"] = []any{} }, "slack: oauth.scopes: required"},
		{"oauth without app credentials", "slack", func(e map[string]any) { delete(e, "app") }, "slack: app: an oauth2 platform requires its app credentials"},
		{"oauth without client secret", "google_calendar", func(e map[string]any) {
			e["app"].(map[string]any)["fields"] = []any{map[string]any{"name": "client_id", "required": true}}
		}, "google_calendar: app.fields: an oauth2 platform requires client_secret"},
		{"oauth platform with credentials", "slack", func(e map[string]any) { e["credentials"] = []any{map[string]any{"name": "token"}} }, "slack: credentials: an oauth2 platform takes none"},
		{"api key platform with oauth", "openai", func(e map[string]any) { e["oauth"] = map[string]any{} }, "openai: oauth: only for auth_mode oauth2"},
		{"test call scope not asked for", "jira", func(e map[string]any) {
			oauth(e)["scopes"] = []any{"read:jira-work", "offline_access"}
		}, "jira: test_calls[1].scopes: oauth.scopes asks for none of read:jira-user"},
		{"no test call", "wordpress", func(e map[string]any) { e["test_calls"] = []any{} }, "wordpress: test_calls: required"},
		{"no rate", "wordpress", func(e map[string]any) { e["rate_limit"].(map[string]any)["requests_per_second"] = 0 }, "wordpress: rate_limit.requests_per_second"},
		{"config type", "wordpress", func(e map[string]any) { e["config"].([]any)[0].(map[string]any)["type"] = "number" }, "wordpress: config[0].type"},
		{"config enum on an integer", "wordpress", func(e map[string]any) { e["config"].([]any)[0].(map[string]any)["enum"] = []any{"a"} }, "wordpress: config[0].enum: only for type string"},
		{"unknown field", "wordpress", func(e map[string]any) { e["colour"] = "blue" }, `unknown field "colour"`},
		{"duplicate", "", nil, "wordpress: listed twice"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var file struct {
				Platforms []map[string]any `json:"platforms"`
			}
			if err := json.Unmarshal(catalogJSON, &file); err != nil {
				t.Fatal(err)
			}
			if c.change == nil {
				file.Platforms = append(file.Platforms, file.Platforms[0])
			}
			for _, e := range file.Platforms {
				if e["name"] == c.platform {
					c.change(e)
				}
			}
			b, _ := json.Marshal(file)
			_, err := ParseCatalog(b)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
		})
	}
}

func oauth(e map[string]any) map[string]any { return e["oauth"].(map[string]any) }
