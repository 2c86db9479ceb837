package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/connector"
)

var testApp = map[string]string{"client_id": "cid-123", "client_secret": "csecret-456"}

// entryAt returns the catalog's entry for platform with its token URLs
// moved to srv (keeping the path, so templates stay).
func entryAt(t *testing.T, platform, srvURL string) *connector.Entry {
	t.Helper()
	e, ok := connector.NewCatalog().Entry(platform)
	if !ok || e.OAuth == nil {
		t.Fatalf("no OAuth platform %s", platform)
	}
	cp := *e
	o := *e.OAuth
	move := func(raw string) string {
		u, err := url.Parse(strings.ReplaceAll(raw, "{shop}", "SHOP"))
		if err != nil {
			t.Fatal(err)
		}
		return srvURL + "/" + strings.ReplaceAll(u.Host, "SHOP", "{shop}") + u.Path
	}
	o.TokenURL, o.RefreshURL = move(o.TokenURL), move(o.RefreshURL)
	cp.OAuth = &o
	return &cp
}

type seen struct {
	path, contentType, user, pass string
	params                        map[string]string
}

// tokenServer records the request and answers with status and body.
func tokenServer(t *testing.T, status int, body string, got *seen) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.path, got.contentType = r.URL.Path, r.Header.Get("Content-Type")
		got.user, got.pass, _ = r.BasicAuth()
		got.params = map[string]string{}
		data, _ := io.ReadAll(r.Body)
		if strings.HasPrefix(got.contentType, "application/json") {
			if err := json.Unmarshal(data, &got.params); err != nil {
				t.Errorf("JSON body with non-string values: %s", data)
			}
		} else {
			q, _ := url.ParseQuery(string(data))
			for k := range q {
				got.params[k] = q.Get(k)
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func codeGrant(code string) url.Values {
	return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {"https://api.example/v1/oauth/x/callback"}}
}

func TestExchangeGoogleFormWithClientInBody(t *testing.T) {
	var got seen
	srv := tokenServer(t, 200, `{"access_token":"at","refresh_token":"rt","expires_in":3599,"token_type":"Bearer","scope":"https://www.googleapis.com/auth/calendar.events https://www.googleapis.com/auth/calendar.readonly"}`, &got)
	g := codeGrant("the-code")
	g.Set("code_verifier", "verifier")
	grant, err := Exchange(context.Background(), srv.Client(), entryAt(t, "google_calendar", srv.URL), testApp, nil, g)
	if err != nil {
		t.Fatal(err)
	}
	if got.contentType != "application/x-www-form-urlencoded" || got.user != "" {
		t.Fatalf("content type %q, basic user %q", got.contentType, got.user)
	}
	for k, v := range map[string]string{"client_id": "cid-123", "client_secret": "csecret-456", "code": "the-code", "code_verifier": "verifier", "grant_type": "authorization_code"} {
		if got.params[k] != v {
			t.Errorf("%s = %q, want %q", k, got.params[k], v)
		}
	}
	if grant.AccessToken != "at" || grant.RefreshToken != "rt" || grant.ExpiresIn != 3599*time.Second || len(grant.Scopes) != 2 || grant.TokenType != "Bearer" {
		t.Fatalf("grant = %+v", grant)
	}
}

func TestExchangeSlackBasicAuthAndOkFalse(t *testing.T) {
	var got seen
	srv := tokenServer(t, 200, `{"ok":true,"access_token":"xoxb-1","scope":"chat:write,channels:read","team":{"id":"T1","name":"Acme"}}`, &got)
	e := entryAt(t, "slack", srv.URL)
	grant, err := Exchange(context.Background(), srv.Client(), e, testApp, nil, codeGrant("c"))
	if err != nil {
		t.Fatal(err)
	}
	if got.user != "cid-123" || got.pass != "csecret-456" || got.params["client_secret"] != "" {
		t.Fatalf("client auth: basic %q/%q, body secret %q", got.user, got.pass, got.params["client_secret"])
	}
	if id, _ := Lookup(grant.Raw, "team.id"); id != "T1" || len(grant.Scopes) != 2 {
		t.Fatalf("grant = %+v", grant)
	}

	srv = tokenServer(t, 200, `{"ok":false,"error":"invalid_refresh_token"}`, &got)
	_, err = Exchange(context.Background(), srv.Client(), entryAt(t, "slack", srv.URL), testApp, nil,
		url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"xoxe-1-old"}})
	var te *TokenError
	if !errors.As(err, &te) || te.Code != "invalid_refresh_token" || !te.Reauthorize || te.Temporary {
		t.Fatalf("err = %#v", err)
	}
	srv = tokenServer(t, 200, `{"ok":false,"error":"invalid_code"}`, &got)
	_, err = Exchange(context.Background(), srv.Client(), entryAt(t, "slack", srv.URL), testApp, nil, codeGrant("c"))
	if !errors.As(err, &te) || te.Code != "invalid_code" || te.Reauthorize {
		t.Fatalf("err = %#v", err)
	}
}

func TestExchangeTikTokJSONAuthCodeAndNesting(t *testing.T) {
	var got seen
	srv := tokenServer(t, 200, `{"code":0,"message":"OK","data":{"access_token":"act","refresh_token":"rft","expires_in":86400,"refresh_token_expires_in":"31536000","open_id":"oid-1","scope":"user.info.basic,message.list.read"}}`, &got)
	grant, err := Exchange(context.Background(), srv.Client(), entryAt(t, "tiktok", srv.URL), testApp, nil, codeGrant("tk-code"))
	if err != nil {
		t.Fatal(err)
	}
	if got.contentType != "application/json" || got.params["auth_code"] != "tk-code" || got.params["code"] != "" || got.params["client_id"] != "cid-123" {
		t.Fatalf("request %+v", got)
	}
	if grant.AccessToken != "act" || grant.RefreshExpiresIn != 31536000*time.Second || grant.Raw["open_id"] != "oid-1" {
		t.Fatalf("grant = %+v", grant)
	}

	srv = tokenServer(t, 200, `{"code":40105,"message":"auth_code is invalid","data":{}}`, &got)
	_, err = Exchange(context.Background(), srv.Client(), entryAt(t, "tiktok", srv.URL), testApp, nil, codeGrant("tk-code"))
	var te *TokenError
	if !errors.As(err, &te) || te.Code != "40105" || te.Status != 200 || te.Temporary {
		t.Fatalf("err = %#v", err)
	}
}

// Codes a platform reports in an HTTP 200 that mean "later" (the catalog's
// temporary_errors) are temporary, as a 429 or a 5xx is.
func TestExchangeTemporaryCodesInSuccessfulAnswers(t *testing.T) {
	var got seen
	for platform, body := range map[string]string{
		"tiktok": `{"code":40100,"message":"Too many requests","request_id":"r1"}`,
		"slack":  `{"ok":false,"error":"ratelimited"}`,
	} {
		srv := tokenServer(t, 200, body, &got)
		_, err := Exchange(context.Background(), srv.Client(), entryAt(t, platform, srv.URL), testApp, nil,
			url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"old"}})
		var te *TokenError
		if !errors.As(err, &te) || !te.Temporary || te.Reauthorize {
			t.Fatalf("%s: err = %#v, want temporary", platform, err)
		}
	}
}

func TestExchangeShopifyTemplateAndTokenParams(t *testing.T) {
	var got seen
	srv := tokenServer(t, 200, `{"access_token":"shpat","refresh_token":"shprt","expires_in":3600,"refresh_token_expires_in":7776000,"scope":"read_products,write_products"}`, &got)
	grant, err := Exchange(context.Background(), srv.Client(), entryAt(t, "shopify", srv.URL), testApp, map[string]string{"shop": "acme"}, codeGrant("sc"))
	if err != nil {
		t.Fatal(err)
	}
	if got.path != "/acme.myshopify.com/admin/oauth/access_token" || got.params["expiring"] != "1" || got.params["client_secret"] != "csecret-456" {
		t.Fatalf("request %+v", got)
	}
	if grant.ExpiresIn != time.Hour || grant.RefreshExpiresIn != 90*24*time.Hour {
		t.Fatalf("grant = %+v", grant)
	}
	// A template value that would change the URL's structure is refused.
	_, err = Exchange(context.Background(), srv.Client(), entryAt(t, "shopify", srv.URL), testApp, map[string]string{"shop": "evil.com/x?"}, codeGrant("sc"))
	if err == nil {
		t.Fatal("a shop with a slash was used in the URL")
	}
}

func TestExchangeOAuth2ErrorsAndReauthorize(t *testing.T) {
	var got seen
	srv := tokenServer(t, 403, `{"error":"invalid_grant","error_description":"Unknown or invalid refresh token."}`, &got)
	_, err := Exchange(context.Background(), srv.Client(), entryAt(t, "jira", srv.URL), testApp, nil,
		url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"r1"}})
	var te *TokenError
	if !errors.As(err, &te) || te.Code != "invalid_grant" || !te.Reauthorize || te.Temporary || te.Status != 403 {
		t.Fatalf("err = %#v", err)
	}
	if got.contentType != "application/json" || got.params["refresh_token"] != "r1" {
		t.Fatalf("request %+v", got)
	}
}

func TestExchangeTemporaryFailures(t *testing.T) {
	var got seen
	for _, status := range []int{500, 503, 429} {
		srv := tokenServer(t, status, `<html>busy</html>`, &got)
		_, err := Exchange(context.Background(), srv.Client(), entryAt(t, "google_calendar", srv.URL), testApp, nil, codeGrant("c"))
		var te *TokenError
		if !errors.As(err, &te) || !te.Temporary || te.Reauthorize || te.Status != status {
			t.Fatalf("%d: err = %#v", status, err)
		}
	}
	// A timeout.
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(block)
	hc := srv.Client()
	hc.Timeout = 50 * time.Millisecond
	_, err := Exchange(context.Background(), hc, entryAt(t, "google_calendar", srv.URL), testApp, nil, codeGrant("c"))
	var te *TokenError
	if !errors.As(err, &te) || !te.Temporary || te.Status != 0 {
		t.Fatalf("timeout: err = %#v", err)
	}
	// Nobody listening.
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	_, err = Exchange(context.Background(), http.DefaultClient, entryAt(t, "google_calendar", deadURL), testApp, nil, codeGrant("c"))
	if !errors.As(err, &te) || !te.Temporary {
		t.Fatalf("refused: err = %#v", err)
	}
}

func TestExchangeErrorsNeverCarrySecrets(t *testing.T) {
	var got seen
	// A platform quoting what it was sent.
	srv := tokenServer(t, 400, `{"error":"invalid_request","error_description":"code the-secret-code with client csecret-456 and refresh rt-secret-1 refused"}`, &got)
	for _, g := range []url.Values{codeGrant("the-secret-code"), {"grant_type": {"refresh_token"}, "refresh_token": {"rt-secret-1"}}} {
		_, err := Exchange(context.Background(), srv.Client(), entryAt(t, "google_calendar", srv.URL), testApp, nil, g)
		if err == nil {
			t.Fatal("no error")
		}
		for _, s := range []string{g.Get("code"), g.Get("refresh_token"), "csecret-456"} {
			if s != "" && strings.Contains(err.Error(), s) {
				t.Fatalf("error %q carries %q", err, s)
			}
		}
	}
	// An answer without an access token.
	srv = tokenServer(t, 200, `{"token_type":"Bearer"}`, &got)
	_, err := Exchange(context.Background(), srv.Client(), entryAt(t, "google_calendar", srv.URL), testApp, nil, codeGrant("c"))
	var te *TokenError
	if !errors.As(err, &te) || te.Code != "invalid_response" || te.Temporary {
		t.Fatalf("err = %#v", err)
	}
}

func TestTokenSetRoundTrip(t *testing.T) {
	now := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	g := &Grant{AccessToken: "a", RefreshToken: "r", TokenType: "Bearer", ExpiresIn: time.Hour, RefreshExpiresIn: 48 * time.Hour, Scopes: []string{"x", "y"}}
	ts := g.TokenSet(now)
	ts.ExternalAccountID, ts.ExternalAccountName = "T1", "Acme"
	v := ts.Values()
	if v["expires_at"] != "2026-05-06T08:08:09Z" || v["scopes"] != "x y" || v["refresh_expires_at"] != "2026-05-08T07:08:09Z" || v["obtained_at"] != "2026-05-06T07:08:09Z" {
		t.Fatalf("values = %v", v)
	}
	back, err := ParseTokenSet(v)
	if err != nil {
		t.Fatal(err)
	}
	if back.AccessToken != "a" || !back.ExpiresAt.Equal(ts.ExpiresAt) || len(back.Scopes) != 2 || back.ExternalAccountName != "Acme" {
		t.Fatalf("back = %+v", back)
	}
	if _, ok := (TokenSet{AccessToken: "a"}).Values()["expires_at"]; ok {
		t.Fatal("an empty expiry was stored")
	}
	if _, err := ParseTokenSet(map[string]string{"expires_at": "soon"}); err == nil || !strings.Contains(err.Error(), "expires_at") {
		t.Fatalf("err = %v", err)
	}
}
