package fakeplatforms

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

const redirectURI = "https://joinery.example/v1/oauth/cb"

// clock is a virtual clock tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)} }
func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func start(t *testing.T, platform string) (*Server, *clock) {
	c := newClock()
	return Start(t, platform, Options{ClientID: "cid", ClientSecret: "csecret", Now: c.Now}), c
}

type answer struct {
	status int
	header http.Header
	body   map[string]any
	list   []any
	raw    string
}

func (a answer) str(path string) string {
	var v any = a.body
	for _, p := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = m[p]
	}
	switch v := v.(type) {
	case string:
		return v
	case nil:
		return ""
	default:
		b, _ := json.Marshal(v)
		return string(b)
	}
}

func (a answer) has(key string) bool { _, ok := a.body[key]; return ok }

// call makes a request: body is url.Values (a form), a map (JSON) or nil.
func call(t *testing.T, method, u string, body any, header map[string]string) answer {
	t.Helper()
	var rd io.Reader
	ct := ""
	switch b := body.(type) {
	case url.Values:
		rd, ct = strings.NewReader(b.Encode()), "application/x-www-form-urlencoded"
	case map[string]any:
		j, _ := json.Marshal(b)
		rd, ct = bytes.NewReader(j), "application/json"
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	for k, v := range header {
		if k == "basic" {
			id, secret, _ := strings.Cut(v, ":")
			req.SetBasicAuth(id, secret)
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &a.body)
	if a.body == nil {
		_ = json.Unmarshal(raw, &a.list)
	}
	return a
}

func consent(t *testing.T, s *Server, authorize string, q url.Values) url.Values {
	t.Helper()
	cb, err := s.Consent(authorize + "?" + q.Encode())
	if err != nil {
		t.Fatalf("consent: %v", err)
	}
	u, err := url.Parse(cb)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(cb, redirectURI) {
		t.Fatalf("callback %s is not on the redirect URI", cb)
	}
	return u.Query()
}

// --- Google ---

func googleAuthorizeQuery(verifier string) url.Values {
	return url.Values{"client_id": {"cid"}, "redirect_uri": {redirectURI}, "response_type": {"code"},
		"scope":       {"https://www.googleapis.com/auth/calendar.events https://www.googleapis.com/auth/calendar.readonly"},
		"access_type": {"offline"}, "prompt": {"consent"}, "state": {"st"},
		"code_challenge": {s256(verifier)}, "code_challenge_method": {"S256"}}
}

func googleExchange(t *testing.T, s *Server, code, verifier string) answer {
	return call(t, "POST", s.URL()+"/token", url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {redirectURI}, "client_id": {"cid"}, "client_secret": {"csecret"}, "code_verifier": {verifier}}, nil)
}

func TestGoogleFlowAndQuirks(t *testing.T) {
	s, clk := start(t, "google_calendar")
	verifier := strings.Repeat("v", 50)
	cb := consent(t, s, "https://accounts.google.com/o/oauth2/v2/auth", googleAuthorizeQuery(verifier))
	if cb.Get("state") != "st" || cb.Get("code") == "" {
		t.Fatalf("callback %v", cb)
	}
	code := cb.Get("code")

	// A JSON body is refused, whatever it holds.
	a := call(t, "POST", s.URL()+"/token", map[string]any{"grant_type": "authorization_code", "code": code,
		"redirect_uri": redirectURI, "client_id": "cid", "client_secret": "csecret", "code_verifier": verifier}, nil)
	if a.status != 400 || a.str("error") != "invalid_request" {
		t.Fatalf("JSON token request: %d %s", a.status, a.raw)
	}
	// Wrong client secret: 401 invalid_client; the code is not spent.
	a = call(t, "POST", s.URL()+"/token", url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {redirectURI}, "client_id": {"cid"}, "client_secret": {"nope"}, "code_verifier": {verifier}}, nil)
	if a.status != 401 || a.str("error") != "invalid_client" {
		t.Fatalf("bad secret: %d %s", a.status, a.raw)
	}
	a = googleExchange(t, s, code, verifier)
	if a.status != 200 || a.str("refresh_token") == "" || a.str("token_type") != "Bearer" || a.str("expires_in") != "3599" {
		t.Fatalf("exchange: %d %s", a.status, a.raw)
	}
	access, refresh := a.str("access_token"), a.str("refresh_token")
	// The code is single-use.
	if a := googleExchange(t, s, code, verifier); a.status != 400 || a.str("error") != "invalid_grant" {
		t.Fatalf("reused code: %d %s", a.status, a.raw)
	}

	api := s.URL() + "/calendar/v3/users/me/calendarList/primary"
	a = call(t, "GET", api, nil, map[string]string{"Authorization": "Bearer " + access})
	if a.status != 200 || a.str("id") != "user@example.com" || a.str("primary") != "true" {
		t.Fatalf("calendarList/primary: %d %s", a.status, a.raw)
	}
	// Refresh: a new access token, never a refresh token.
	a = call(t, "POST", s.URL()+"/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh},
		"client_id": {"cid"}, "client_secret": {"csecret"}}, nil)
	if a.status != 200 || a.has("refresh_token") || a.str("access_token") == "" || s.Refreshes() != 1 {
		t.Fatalf("refresh: %d %s", a.status, a.raw)
	}
	// Access tokens expire on the virtual clock.
	clk.Add(time.Hour)
	a = call(t, "GET", api, nil, map[string]string{"Authorization": "Bearer " + access})
	if a.status != 401 || a.str("error.status") != "UNAUTHENTICATED" || !strings.Contains(a.str("error.errors"), "authError") {
		t.Fatalf("expired token: %d %s", a.status, a.raw)
	}
	// Revoking ends the grant: the refresh token is dead too.
	if a := call(t, "POST", s.URL()+"/revoke", url.Values{"token": {refresh}}, nil); a.status != 200 || s.Revocations() != 1 {
		t.Fatalf("revoke: %d %s", a.status, a.raw)
	}
	a = call(t, "POST", s.URL()+"/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh},
		"client_id": {"cid"}, "client_secret": {"csecret"}}, nil)
	if a.status != 400 || a.str("error") != "invalid_grant" || a.str("error_description") != "Token has been expired or revoked." {
		t.Fatalf("refresh after revoke: %d %s", a.status, a.raw)
	}
	if a := call(t, "POST", s.URL()+"/revoke", url.Values{"token": {refresh}}, nil); a.status != 400 || a.str("error") != "invalid_token" {
		t.Fatalf("second revoke: %d %s", a.status, a.raw)
	}
}

func TestGooglePKCEAndRedirect(t *testing.T) {
	s, clk := start(t, "google_calendar")
	verifier := strings.Repeat("w", 60)
	get := func() string {
		return consent(t, s, "https://accounts.google.com/o/oauth2/v2/auth", googleAuthorizeQuery(verifier)).Get("code")
	}
	if a := googleExchange(t, s, get(), ""); a.str("error") != "invalid_grant" || a.str("error_description") != "Missing code verifier." {
		t.Fatalf("missing verifier: %s", a.raw)
	}
	if a := googleExchange(t, s, get(), "not-the-verifier"); a.str("error") != "invalid_grant" || a.str("error_description") != "Invalid code verifier." {
		t.Fatalf("wrong verifier: %s", a.raw)
	}
	code := get()
	a := call(t, "POST", s.URL()+"/token", url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {redirectURI + "/other"}, "client_id": {"cid"}, "client_secret": {"csecret"}, "code_verifier": {verifier}}, nil)
	if a.status != 400 || a.str("error") != "redirect_uri_mismatch" {
		t.Fatalf("other redirect_uri: %d %s", a.status, a.raw)
	}
	// Codes are short-lived.
	code = get()
	clk.Add(11 * time.Minute)
	if a := googleExchange(t, s, code, verifier); a.str("error") != "invalid_grant" {
		t.Fatalf("expired code: %s", a.raw)
	}
	// No PKCE, or plain PKCE: refused at authorize.
	q := googleAuthorizeQuery(verifier)
	q.Del("code_challenge_method")
	if _, err := s.Consent("https://accounts.google.com/o/oauth2/v2/auth?" + q.Encode()); err == nil {
		t.Fatal("authorize without S256 accepted")
	}
	// An unknown client or redirect URI is an error page, not a redirect.
	q = googleAuthorizeQuery(verifier)
	q.Set("client_id", "other")
	if _, err := s.Consent("https://accounts.google.com/o/oauth2/v2/auth?" + q.Encode()); err == nil || !strings.Contains(err.Error(), "invalid_client") {
		t.Fatalf("unknown client: %v", err)
	}
	// Without prompt=consent a second consent gives no refresh token.
	q = googleAuthorizeQuery(verifier)
	q.Del("prompt")
	cb := consent(t, s, "https://accounts.google.com/o/oauth2/v2/auth", q)
	if a := googleExchange(t, s, cb.Get("code"), verifier); a.status != 200 || a.has("refresh_token") {
		t.Fatalf("re-consent without prompt=consent: %s", a.raw)
	}
}

func TestGoogleScopesAndRateLimit(t *testing.T) {
	s, _ := start(t, "google_calendar")
	tok := s.Mint("https://www.googleapis.com/auth/calendar.events")
	api := s.URL() + "/calendar/v3/users/me/calendarList/primary"
	a := call(t, "GET", api, nil, map[string]string{"Authorization": "Bearer " + tok.AccessToken})
	if a.status != 403 || !strings.Contains(a.str("error.errors"), "insufficientPermissions") {
		t.Fatalf("calendar.events only: %d %s", a.status, a.raw)
	}
	tok = s.Mint("https://www.googleapis.com/auth/calendar.readonly")
	s.RateLimitAPI(1)
	a = call(t, "GET", api, nil, map[string]string{"Authorization": "Bearer " + tok.AccessToken})
	if a.status != 403 || !strings.Contains(a.str("error.errors"), "rateLimitExceeded") || !strings.Contains(a.str("error.errors"), "usageLimits") {
		t.Fatalf("rate limited: %d %s", a.status, a.raw)
	}
	if a := call(t, "GET", api, nil, nil); a.status != 401 {
		t.Fatalf("no token: %d", a.status)
	}
}

// --- Slack ---

func slackConsent(t *testing.T, s *Server) string {
	cb := consent(t, s, "https://slack.com/oauth/v2/authorize", url.Values{"client_id": {"cid"},
		"scope": {"chat:write,channels:read"}, "redirect_uri": {redirectURI}, "state": {"st"}})
	return cb.Get("code")
}

func TestSlackFlowAndQuirks(t *testing.T) {
	s, clk := start(t, "slack")
	access := s.URL() + "/api/oauth.v2.access"
	code := slackConsent(t, s)
	// Every failure is HTTP 200 with ok:false.
	a := call(t, "POST", access, url.Values{"code": {code}, "redirect_uri": {redirectURI}}, map[string]string{"basic": "cid:wrong"})
	if a.status != 200 || a.str("ok") != "false" || a.str("error") != "bad_client_secret" {
		t.Fatalf("bad secret: %d %s", a.status, a.raw)
	}
	a = call(t, "POST", access, url.Values{"code": {code}, "redirect_uri": {redirectURI}}, map[string]string{"basic": "cid:csecret"})
	if a.status != 200 || a.str("ok") != "true" || a.str("team.id") != "T0FAKE0001" || a.str("expires_in") != "43200" ||
		!strings.HasPrefix(a.str("refresh_token"), "xoxe-1-") || a.str("scope") != "chat:write,channels:read" {
		t.Fatalf("exchange: %s", a.raw)
	}
	tok, refresh := a.str("access_token"), a.str("refresh_token")
	a = call(t, "POST", access, url.Values{"code": {code}, "redirect_uri": {redirectURI}}, map[string]string{"basic": "cid:csecret"})
	if a.status != 200 || a.str("error") != "invalid_code" {
		t.Fatalf("reused code: %s", a.raw)
	}
	code = slackConsent(t, s)
	a = call(t, "POST", access, url.Values{"code": {code}, "redirect_uri": {"https://elsewhere.example/cb"}, "client_id": {"cid"}, "client_secret": {"csecret"}}, nil)
	if a.status != 200 || a.str("error") != "bad_redirect_uri" {
		t.Fatalf("other redirect_uri: %s", a.raw)
	}

	test := s.URL() + "/api/auth.test"
	if a := call(t, "POST", test, nil, map[string]string{"Authorization": "Bearer " + tok}); a.str("ok") != "true" || a.str("team_id") != "T0FAKE0001" {
		t.Fatalf("auth.test: %s", a.raw)
	}
	if a := call(t, "POST", test, nil, nil); a.status != 200 || a.str("error") != "not_authed" {
		t.Fatalf("auth.test without token: %s", a.raw)
	}
	if a := call(t, "POST", test, nil, map[string]string{"Authorization": "Bearer xoxb-nope"}); a.status != 200 || a.str("error") != "invalid_auth" {
		t.Fatalf("auth.test bad token: %s", a.raw)
	}

	// Rotation: the old refresh token dies at once.
	a = call(t, "POST", access, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}, map[string]string{"basic": "cid:csecret"})
	if a.str("ok") != "true" || a.str("refresh_token") == refresh || a.str("refresh_token") == "" {
		t.Fatalf("refresh: %s", a.raw)
	}
	newRefresh := a.str("refresh_token")
	a = call(t, "POST", access, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}, map[string]string{"basic": "cid:csecret"})
	if a.status != 200 || a.str("error") != "invalid_refresh_token" {
		t.Fatalf("old refresh token reused: %s", a.raw)
	}
	if !s.Valid(newRefresh) || s.Refreshes() != 1 {
		t.Fatal("the new refresh token should work")
	}
	clk.Add(13 * time.Hour)
	if a := call(t, "POST", test, nil, map[string]string{"Authorization": "Bearer " + tok}); a.str("error") != "token_expired" {
		t.Fatalf("expired: %s", a.raw)
	}

	s.RateLimitAPI(1)
	a = call(t, "POST", test, nil, map[string]string{"Authorization": "Bearer " + tok})
	if a.status != 429 || a.header.Get("Retry-After") == "" || a.str("error") != "ratelimited" {
		t.Fatalf("rate limited: %d %s", a.status, a.raw)
	}
}

func TestSlackRevoke(t *testing.T) {
	s, _ := start(t, "slack")
	tok := s.Mint("chat:write")
	a := call(t, "POST", s.URL()+"/api/auth.revoke", nil, map[string]string{"Authorization": "Bearer " + tok.AccessToken})
	if a.str("ok") != "true" || a.str("revoked") != "true" || s.Revocations() != 1 {
		t.Fatalf("auth.revoke: %s", a.raw)
	}
	if s.Valid(tok.RefreshToken) {
		t.Fatal("revoking the token should end the installation's refresh token")
	}
	if a := call(t, "POST", s.URL()+"/api/auth.test", nil, map[string]string{"Authorization": "Bearer " + tok.AccessToken}); a.str("error") != "token_revoked" {
		t.Fatalf("auth.test after revoke: %s", a.raw)
	}
}

// --- Jira ---

func jiraConsent(t *testing.T, s *Server, scope string) string {
	cb := consent(t, s, "https://auth.atlassian.com/authorize", url.Values{"audience": {"api.atlassian.com"},
		"client_id": {"cid"}, "scope": {scope}, "redirect_uri": {redirectURI}, "state": {"st"},
		"response_type": {"code"}, "prompt": {"consent"}})
	return cb.Get("code")
}

func jiraToken(t *testing.T, s *Server, body map[string]any) answer {
	body["client_id"], body["client_secret"] = "cid", "csecret"
	return call(t, "POST", s.URL()+"/oauth/token", body, nil)
}

func TestJiraFlowSitesAndRotation(t *testing.T) {
	s, clk := start(t, "jira")
	s.Accounts(Account{ID: "c1", URL: "https://one.atlassian.net", Name: "one"}, Account{ID: "c2", URL: "https://two.atlassian.net", Name: "two"})
	code := jiraConsent(t, s, "read:jira-work read:jira-user offline_access")
	a := call(t, "POST", s.URL()+"/oauth/token", map[string]any{"grant_type": "authorization_code", "code": code,
		"redirect_uri": redirectURI, "client_id": "cid", "client_secret": "bad"}, nil)
	if a.status != 401 {
		t.Fatalf("bad secret: %d %s", a.status, a.raw)
	}
	a = jiraToken(t, s, map[string]any{"grant_type": "authorization_code", "code": code, "redirect_uri": redirectURI})
	if a.status != 200 || a.str("refresh_token") == "" || a.str("expires_in") != "3600" {
		t.Fatalf("exchange: %d %s", a.status, a.raw)
	}
	tok, r0 := a.str("access_token"), a.str("refresh_token")
	a = call(t, "GET", s.URL()+"/oauth/token/accessible-resources", nil, map[string]string{"Authorization": "Bearer " + tok})
	if a.status != 200 || len(a.list) != 2 || a.list[1].(map[string]any)["id"] != "c2" {
		t.Fatalf("accessible-resources: %d %s", a.status, a.raw)
	}
	if a := call(t, "GET", s.URL()+"/ex/jira/c2/rest/api/3/myself", nil, map[string]string{"Authorization": "Bearer " + tok}); a.status != 200 || a.str("accountId") == "" {
		t.Fatalf("myself: %d %s", a.status, a.raw)
	}
	if a := call(t, "GET", s.URL()+"/ex/jira/c3/rest/api/3/myself", nil, map[string]string{"Authorization": "Bearer " + tok}); a.status != 404 {
		t.Fatalf("myself on a site outside the grant: %d %s", a.status, a.raw)
	}

	// Rotation with a 10-minute reuse window.
	a = jiraToken(t, s, map[string]any{"grant_type": "refresh_token", "refresh_token": r0})
	r1 := a.str("refresh_token")
	if a.status != 200 || r1 == "" || r1 == r0 {
		t.Fatalf("refresh: %d %s", a.status, a.raw)
	}
	clk.Add(5 * time.Minute)
	if a := jiraToken(t, s, map[string]any{"grant_type": "refresh_token", "refresh_token": r0}); a.status != 200 {
		t.Fatalf("old token within the reuse window: %d %s", a.status, a.raw)
	}
	clk.Add(6 * time.Minute)
	a = jiraToken(t, s, map[string]any{"grant_type": "refresh_token", "refresh_token": r0})
	if a.status != 403 || a.str("error") != "invalid_grant" || a.str("error_description") != "Unknown or invalid refresh token." {
		t.Fatalf("old token after the window: %d %s", a.status, a.raw)
	}
	// Reuse past the window killed the whole family.
	if a := jiraToken(t, s, map[string]any{"grant_type": "refresh_token", "refresh_token": r1}); a.status != 403 {
		t.Fatalf("family after reuse: %d %s", a.status, a.raw)
	}
	if s.Refreshes() != 2 {
		t.Fatalf("refreshes %d", s.Refreshes())
	}
}

func TestJiraScopesAndLimits(t *testing.T) {
	s, clk := start(t, "jira")
	// Without offline_access there is no refresh token.
	a := jiraToken(t, s, map[string]any{"grant_type": "authorization_code", "code": jiraConsent(t, s, "read:jira-work"), "redirect_uri": redirectURI})
	if a.status != 200 || a.has("refresh_token") {
		t.Fatalf("no offline_access: %s", a.raw)
	}
	tok := a.str("access_token")
	a = call(t, "GET", s.URL()+"/ex/jira/1324a887-45db-1bf4-1e99-ef0ff456d421/rest/api/3/myself", nil, map[string]string{"Authorization": "Bearer " + tok})
	if a.status != 401 || a.str("message") != "Unauthorized; scope does not match" {
		t.Fatalf("myself without read:jira-user: %d %s", a.status, a.raw)
	}
	s.RateLimitAPI(1)
	a = call(t, "GET", s.URL()+"/oauth/token/accessible-resources", nil, map[string]string{"Authorization": "Bearer " + tok})
	if a.status != 429 || a.header.Get("Retry-After") == "" || a.header.Get("X-RateLimit-Reset") == "" || a.header.Get("RateLimit-Reason") == "" {
		t.Fatalf("rate limited: %d %v", a.status, a.header)
	}
	// Refresh tokens lapse after 90 days unused.
	r := s.Mint("read:jira-work", "offline_access").RefreshToken
	clk.Add(91 * 24 * time.Hour)
	if a := jiraToken(t, s, map[string]any{"grant_type": "refresh_token", "refresh_token": r}); a.status != 403 {
		t.Fatalf("refresh token unused for 91 days: %d %s", a.status, a.raw)
	}
	if a := call(t, "GET", s.URL()+"/oauth/token/accessible-resources", nil, map[string]string{"Authorization": "Bearer " + tok}); a.status != 401 {
		t.Fatalf("expired access token: %d", a.status)
	}
}

// --- TikTok ---

func TestTikTokFlowAndQuirks(t *testing.T) {
	s, _ := start(t, "tiktok")
	cb := consent(t, s, "https://www.tiktok.com/v2/auth/authorize/", url.Values{"client_key": {"cid"}, "response_type": {"code"},
		"scope": {"user.info.basic,message.list.read"}, "redirect_uri": {redirectURI}, "state": {"st"}})
	code := cb.Get("code")
	tokenURL := s.URL() + "/open_api/v1.3/tt_user/oauth2/token/"
	// Failures are HTTP 200 with code ≠ 0.
	a := call(t, "POST", tokenURL, map[string]any{"client_id": "cid", "client_secret": "bad", "grant_type": "authorization_code", "auth_code": code, "redirect_uri": redirectURI}, nil)
	if a.status != 200 || a.str("code") != "40101" {
		t.Fatalf("bad secret: %d %s", a.status, a.raw)
	}
	a = call(t, "POST", tokenURL, url.Values{"client_id": {"cid"}, "client_secret": {"csecret"}, "grant_type": {"authorization_code"}, "auth_code": {code}, "redirect_uri": {redirectURI}}, nil)
	if a.status != 200 || a.str("code") == "0" {
		t.Fatalf("form body: %d %s", a.status, a.raw)
	}
	a = call(t, "POST", tokenURL, map[string]any{"client_id": "cid", "client_secret": "csecret", "grant_type": "authorization_code", "code": code, "redirect_uri": redirectURI}, nil)
	if a.str("code") == "0" {
		t.Fatalf("code under the OAuth name instead of auth_code: %s", a.raw)
	}
	a = call(t, "POST", tokenURL, map[string]any{"client_id": "cid", "client_secret": "csecret", "grant_type": "authorization_code", "auth_code": code, "redirect_uri": redirectURI}, nil)
	if a.str("code") != "0" || a.str("data.open_id") != "-000fakeOpenId0001" || a.str("data.access_token") == "" || a.str("data.expires_in") != "86400" {
		t.Fatalf("exchange: %s", a.raw)
	}
	tok, refresh := a.str("data.access_token"), a.str("data.refresh_token")
	if a := call(t, "POST", tokenURL, map[string]any{"client_id": "cid", "client_secret": "csecret", "grant_type": "authorization_code", "auth_code": code, "redirect_uri": redirectURI}, nil); a.str("code") != "40110" {
		t.Fatalf("reused code: %s", a.raw)
	}

	biz := s.URL() + "/open_api/v1.3/business/get/?business_id=-000fakeOpenId0001&fields=%5B%22username%22%2C%22display_name%22%5D"
	a = call(t, "GET", biz, nil, map[string]string{"Access-Token": tok})
	if a.status != 200 || a.str("code") != "0" || a.str("data.username") != "acme_shop" {
		t.Fatalf("business/get: %s", a.raw)
	}
	if a := call(t, "GET", biz, nil, map[string]string{"Authorization": "Bearer " + tok}); a.status != 200 || a.str("code") != "40104" {
		t.Fatalf("Bearer instead of Access-Token: %s", a.raw)
	}

	refreshURL := s.URL() + "/open_api/v1.3/tt_user/oauth2/refresh_token/"
	a = call(t, "POST", refreshURL, map[string]any{"client_id": "cid", "client_secret": "csecret", "grant_type": "refresh_token", "refresh_token": refresh}, nil)
	if a.str("code") != "0" || a.str("data.refresh_token") == refresh {
		t.Fatalf("refresh: %s", a.raw)
	}
	if a := call(t, "POST", refreshURL, map[string]any{"client_id": "cid", "client_secret": "csecret", "grant_type": "refresh_token", "refresh_token": refresh}, nil); a.status != 200 || a.str("code") == "0" {
		t.Fatalf("old refresh token: %s", a.raw)
	}
	s.RateLimitAPI(1)
	if a := call(t, "GET", biz, nil, map[string]string{"Access-Token": tok}); a.status != 200 || a.str("code") != "40100" {
		t.Fatalf("rate limited: %s", a.raw)
	}
	s.ExpireAccessTokens()
	if a := call(t, "GET", biz, nil, map[string]string{"Access-Token": tok}); a.str("code") != "40105" {
		t.Fatalf("expired: %s", a.raw)
	}
}

// --- Shopify ---

func TestShopifyFlowAndQuirks(t *testing.T) {
	s, clk := start(t, "shopify")
	cb := consent(t, s, "https://acme.myshopify.com/admin/oauth/authorize", url.Values{"client_id": {"cid"},
		"scope": {"read_products,write_products"}, "redirect_uri": {redirectURI}, "state": {"st"}})
	for _, k := range []string{"code", "hmac", "host", "shop", "state", "timestamp"} {
		if cb.Get(k) == "" {
			t.Fatalf("callback lacks %s: %v", k, cb)
		}
	}
	if cb.Get("shop") != "acme.myshopify.com" || cb.Get("timestamp") != fmt.Sprint(clk.Now().Unix()) {
		t.Fatalf("callback %v", cb)
	}
	if cb.Get("hmac") != ShopifySign(cb, "csecret") || cb.Get("hmac") == ShopifySign(cb, "other") {
		t.Fatal("callback hmac is not HMAC-SHA256 hex with the client secret")
	}
	tokenURL := s.URL() + "/admin/oauth/access_token"
	a := call(t, "POST", tokenURL, map[string]any{"client_id": "cid", "client_secret": "bad", "code": cb.Get("code"), "expiring": "1"}, nil)
	if a.status != 401 {
		t.Fatalf("bad secret: %d %s", a.status, a.raw)
	}
	a = call(t, "POST", tokenURL, map[string]any{"client_id": "cid", "client_secret": "csecret", "code": cb.Get("code"), "expiring": "1"}, nil)
	if a.status != 200 || a.str("expires_in") != "3600" || a.str("refresh_token_expires_in") != "7776000" || a.str("scope") != "read_products,write_products" {
		t.Fatalf("exchange: %d %s", a.status, a.raw)
	}
	tok, r0 := a.str("access_token"), a.str("refresh_token")
	if a := call(t, "POST", tokenURL, map[string]any{"client_id": "cid", "client_secret": "csecret", "code": cb.Get("code"), "expiring": "1"}, nil); a.status != 400 {
		t.Fatalf("reused code: %d %s", a.status, a.raw)
	}
	gql := s.URL() + "/admin/api/" + ShopifyAPIVersion() + "/graphql.json"
	a = call(t, "POST", gql, map[string]any{"query": "{ shop { name myshopifyDomain } }"}, map[string]string{"X-Shopify-Access-Token": tok})
	if a.status != 200 || a.str("data.shop.myshopifyDomain") != "acme.myshopify.com" {
		t.Fatalf("graphql: %d %s", a.status, a.raw)
	}
	clk.Add(61 * time.Minute)
	a = call(t, "POST", gql, map[string]any{"query": "{ shop { name } }"}, map[string]string{"X-Shopify-Access-Token": tok})
	if a.status != 401 || !strings.Contains(a.str("errors"), "Invalid API key or access token") {
		t.Fatalf("expired access token: %d %s", a.status, a.raw)
	}

	// Rotation: the old refresh token works until the new one is used.
	refresh := func(rt string) answer {
		return call(t, "POST", tokenURL, map[string]any{"client_id": "cid", "client_secret": "csecret", "grant_type": "refresh_token", "refresh_token": rt}, nil)
	}
	a = refresh(r0)
	r1 := a.str("refresh_token")
	if a.status != 200 || r1 == "" || r1 == r0 {
		t.Fatalf("refresh: %s", a.raw)
	}
	if a := refresh(r0); a.status != 200 {
		t.Fatalf("old refresh token before the new one is used: %d %s", a.status, a.raw)
	}
	a = refresh(r1)
	if a.status != 200 {
		t.Fatalf("replacement: %s", a.raw)
	}
	if a := refresh(r0); a.status != 400 || a.str("error") != "invalid_grant" {
		t.Fatalf("old refresh token after its replacement was used: %d %s", a.status, a.raw)
	}
	// The recovery window ends 30 days after the token's first use.
	r2 := a.str("refresh_token")
	if refresh(r2).status != 200 {
		t.Fatal("refresh r2")
	}
	clk.Add(31 * 24 * time.Hour)
	if a := refresh(r2); a.status != 400 {
		t.Fatalf("replaced token after 30 days: %d", a.status)
	}
}

func TestShopifyNonExpiringAndThrottle(t *testing.T) {
	s, _ := start(t, "shopify")
	cb := consent(t, s, "https://acme.myshopify.com/admin/oauth/authorize", url.Values{"client_id": {"cid"},
		"scope": {"read_products"}, "redirect_uri": {redirectURI}, "state": {"st"}})
	a := call(t, "POST", s.URL()+"/admin/oauth/access_token", map[string]any{"client_id": "cid", "client_secret": "csecret", "code": cb.Get("code")}, nil)
	if a.status != 200 || a.has("refresh_token") || a.has("expires_in") {
		t.Fatalf("without expiring: %s", a.raw)
	}
	s.RateLimitAPI(1)
	a = call(t, "POST", s.URL()+"/admin/api/"+ShopifyAPIVersion()+"/graphql.json", map[string]any{"query": "{ shop { name } }"}, map[string]string{"X-Shopify-Access-Token": a.str("access_token")})
	if a.status != 200 || !strings.Contains(a.str("errors"), "THROTTLED") {
		t.Fatalf("throttled: %d %s", a.status, a.raw)
	}
	// Another shop's host is not served.
	if _, err := s.Consent("https://other.myshopify.com/admin/oauth/authorize?client_id=cid&scope=read_products&redirect_uri=" + url.QueryEscape(redirectURI)); err == nil {
		t.Fatal("another shop's authorize URL was served")
	}
}

// --- every platform ---

func TestDenyFailAndRevokeGrants(t *testing.T) {
	authorize := map[string]struct {
		url string
		q   url.Values
	}{
		"google_calendar": {"https://accounts.google.com/o/oauth2/v2/auth", googleAuthorizeQuery(strings.Repeat("v", 50))},
		"slack":           {"https://slack.com/oauth/v2/authorize", url.Values{"client_id": {"cid"}, "scope": {"chat:write"}, "redirect_uri": {redirectURI}, "state": {"st"}}},
		"jira":            {"https://auth.atlassian.com/authorize", url.Values{"audience": {"api.atlassian.com"}, "client_id": {"cid"}, "scope": {"read:jira-work"}, "redirect_uri": {redirectURI}, "state": {"st"}, "response_type": {"code"}}},
		"tiktok":          {"https://www.tiktok.com/v2/auth/authorize/", url.Values{"client_key": {"cid"}, "response_type": {"code"}, "scope": {"user.info.basic"}, "redirect_uri": {redirectURI}, "state": {"st"}}},
		"shopify":         {"https://acme.myshopify.com/admin/oauth/authorize", url.Values{"client_id": {"cid"}, "scope": {"read_products"}, "redirect_uri": {redirectURI}, "state": {"st"}}},
	}
	for _, p := range Platforms {
		t.Run(p, func(t *testing.T) {
			s, _ := start(t, p)
			az := authorize[p]
			s.DenyNext()
			cb := consent(t, s, az.url, az.q)
			if cb.Get("error") != "access_denied" || cb.Get("code") != "" || cb.Get("state") != "st" {
				t.Fatalf("denied consent: %v", cb)
			}
			if cb := consent(t, s, az.url, az.q); cb.Get("code") == "" {
				t.Fatalf("consent after the denial: %v", cb)
			}
			bad := url.Values{}
			for k, v := range az.q {
				bad[k] = v
			}
			bad.Set("redirect_uri", "not a url")
			if _, err := s.Consent(az.url + "?" + bad.Encode()); err == nil {
				t.Fatal("unusable redirect_uri accepted")
			}

			tok := s.Mint()
			if tok.RefreshToken == "" || !s.Valid(tok.RefreshToken) || !s.Valid(tok.AccessToken) {
				t.Fatalf("minted %+v", tok)
			}
			s.RevokeGrants()
			if s.Valid(tok.RefreshToken) || s.Valid(tok.AccessToken) {
				t.Fatal("tokens survive a revoked grant")
			}
		})
	}
}

func TestFailToken(t *testing.T) {
	s, _ := start(t, "google_calendar")
	tok := s.Mint("https://www.googleapis.com/auth/calendar.readonly")
	s.FailToken(503, 1)
	body := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "client_id": {"cid"}, "client_secret": {"csecret"}}
	if a := call(t, "POST", s.URL()+"/token", body, nil); a.status != 503 {
		t.Fatalf("forced failure: %d", a.status)
	}
	if a := call(t, "POST", s.URL()+"/token", body, nil); a.status != 200 || s.Refreshes() != 1 {
		t.Fatalf("after the failure: %d %s", a.status, a.raw)
	}
	sl, _ := start(t, "slack")
	sl.FailToken(429, 1)
	a := call(t, "POST", sl.URL()+"/api/oauth.v2.access", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}}, map[string]string{"basic": "cid:csecret"})
	if a.status != 429 || a.str("error") != "ratelimited" || a.header.Get("Retry-After") == "" {
		t.Fatalf("slack token rate limit: %d %s", a.status, a.raw)
	}
}

func TestClientReachesTheFake(t *testing.T) {
	s, _ := start(t, "shopify")
	tok := s.Mint()
	req, _ := http.NewRequest("POST", "https://acme.myshopify.com/admin/api/"+ShopifyAPIVersion()+"/graphql.json", strings.NewReader(`{"query":"{ shop { name } }"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Shopify-Access-Token", tok.AccessToken)
	resp, err := s.Client().Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("%v %v", resp, err)
	}
	resp.Body.Close()
	req, _ = http.NewRequest("POST", "https://other.myshopify.com/admin/api/"+ShopifyAPIVersion()+"/graphql.json", strings.NewReader(`{}`))
	resp, err = s.Client().Do(req)
	if err != nil || resp.StatusCode != 404 {
		t.Fatalf("another shop: %v %v", resp, err)
	}
	resp.Body.Close()
	if got := s.Rewrite("https://slack.com/api/auth.test?x=1"); got != s.URL()+"/api/auth.test?x=1" {
		t.Fatal(got)
	}
}

func TestNewOnAFixedAddress(t *testing.T) {
	s, err := New("slack", Options{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if a := call(t, "POST", s.URL()+"/api/auth.test", nil, nil); a.str("error") != "not_authed" {
		t.Fatalf("%s", a.raw)
	}
	if _, err := New("myspace", Options{}); err == nil {
		t.Fatal("unknown platform accepted")
	}
}

func TestSlackWithoutRotation(t *testing.T) {
	c := newClock()
	s := Start(t, "slack", Options{ClientID: "cid", ClientSecret: "csecret", Now: c.Now, SlackNoRotation: true})
	a := call(t, "POST", s.URL()+"/api/oauth.v2.access", url.Values{"code": {slackConsent(t, s)}, "redirect_uri": {redirectURI}}, map[string]string{"basic": "cid:csecret"})
	if a.str("ok") != "true" || a.has("refresh_token") || a.has("expires_in") || !strings.HasPrefix(a.str("access_token"), "xoxb-") {
		t.Fatalf("exchange: %s", a.raw)
	}
	c.Add(365 * 24 * time.Hour)
	if a := call(t, "POST", s.URL()+"/api/auth.test", nil, map[string]string{"Authorization": "Bearer " + a.str("access_token")}); a.str("ok") != "true" {
		t.Fatalf("a year later: %s", a.raw)
	}
	if tok := s.Mint(); tok.RefreshToken != "" {
		t.Fatal("minted a refresh token")
	}
}
