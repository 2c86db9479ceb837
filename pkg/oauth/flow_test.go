package oauth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/appcreds"
	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/embedded"
	"github.com/joinery/joinery/pkg/integration"
)

// provider is a small stand-in for the five platforms' token endpoints and
// account lookups, on one origin with each platform's host as the first
// path segment.
type provider struct {
	mu         sync.Mutex
	noRefresh  bool // Google: answer without a refresh token
	srv        *httptest.Server
	tokenFails int // answer the next token requests with 400 invalid_grant
	slackTeam  string
	jiraSites  []map[string]string
	requests   map[string]map[string]string // platform → last token request's parameters
	redirects  map[string]string            // platform → redirect_uri sent
}

func newProvider(t *testing.T) *provider {
	p := &provider{slackTeam: "T1", jiraSites: []map[string]string{{"id": "cloud-1", "url": "https://one.atlassian.net", "name": "One"}},
		requests: map[string]map[string]string{}, redirects: map[string]string{}}
	mux := http.NewServeMux()
	token := func(platform string, answer func() any) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			params := map[string]string{}
			data, _ := io.ReadAll(r.Body)
			if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
				_ = json.Unmarshal(data, &params)
			} else {
				q, _ := url.ParseQuery(string(data))
				for k := range q {
					params[k] = q.Get(k)
				}
			}
			p.mu.Lock()
			p.requests[platform] = params
			fail := p.tokenFails > 0
			if fail {
				p.tokenFails--
			}
			p.mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			if fail {
				w.WriteHeader(400)
				_, _ = io.WriteString(w, `{"error":"invalid_grant"}`)
				return
			}
			_ = json.NewEncoder(w).Encode(answer())
		}
	}
	mux.HandleFunc("POST /oauth2.googleapis.com/token", token("google_calendar", func() any {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.noRefresh {
			return map[string]any{"access_token": "g-at", "expires_in": 3599, "token_type": "Bearer"}
		}
		return map[string]any{"access_token": "g-at", "refresh_token": "g-rt", "expires_in": 3599, "token_type": "Bearer", "scope": "https://www.googleapis.com/auth/calendar.events"}
	}))
	mux.HandleFunc("POST /slack.com/api/oauth.v2.access", token("slack", func() any {
		p.mu.Lock()
		defer p.mu.Unlock()
		return map[string]any{"ok": true, "access_token": "xoxb-1", "refresh_token": "xoxe-1", "expires_in": 43200, "scope": "chat:write,channels:read", "team": map[string]any{"id": p.slackTeam, "name": "Team " + p.slackTeam}}
	}))
	mux.HandleFunc("POST /auth.atlassian.com/oauth/token", token("jira", func() any {
		return map[string]any{"access_token": "j-at", "refresh_token": "j-rt", "expires_in": 3600, "scope": "read:jira-work offline_access"}
	}))
	mux.HandleFunc("POST /business-api.tiktok.com/open_api/v1.3/tt_user/oauth2/token/", token("tiktok", func() any {
		return map[string]any{"code": 0, "message": "OK", "data": map[string]any{"access_token": "t-at", "refresh_token": "t-rt", "expires_in": 86400, "refresh_token_expires_in": 31536000, "open_id": "open-1", "scope": "user.info.basic"}}
	}))
	mux.HandleFunc("POST /acme.myshopify.com/admin/oauth/access_token", token("shopify", func() any {
		return map[string]any{"access_token": "shpat-1", "refresh_token": "shprt-1", "expires_in": 3600, "refresh_token_expires_in": 7776000, "scope": "read_products,write_products"}
	}))
	mux.HandleFunc("GET /www.googleapis.com/calendar/v3/users/me/calendarList/primary", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer g-at" {
			w.WriteHeader(401)
			return
		}
		_, _ = io.WriteString(w, `{"id":"ada@example.com","summary":"Ada"}`)
	})
	mux.HandleFunc("GET /api.atlassian.com/oauth/token/accessible-resources", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer j-at" {
			w.WriteHeader(401)
			return
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		_ = json.NewEncoder(w).Encode(p.jiraSites)
	})
	p.srv = httptest.NewTLSServer(mux)
	t.Cleanup(p.srv.Close)
	return p
}

func (p *provider) request(platform string) map[string]string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.requests[platform]
}

var hostInURL = regexp.MustCompile(`https://([a-z0-9{}][a-z0-9{}.-]*)`)

// testCatalog is the real catalog with every platform available and every
// URL moved onto the provider.
func testCatalog(t *testing.T, origin string) *connector.Catalog {
	t.Helper()
	raw, err := os.ReadFile("../connector/catalog.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	for _, e := range doc["platforms"].([]any) {
		e.(map[string]any)["available"] = true
	}
	raw, _ = json.Marshal(doc)
	moved := hostInURL.ReplaceAllString(string(raw), origin+"/$1")
	c, err := connector.ParseCatalog([]byte(moved))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

type memApps struct {
	mu  sync.Mutex
	doc string
}

func (m *memApps) Read(context.Context) ([]byte, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return []byte(m.doc), m.doc != "", nil
}

func (m *memApps) set(doc string) { m.mu.Lock(); m.doc = doc; m.mu.Unlock() }

const appsDoc = `{
 "google_calendar": {"client_id": "g-client", "client_secret": "g-secret"},
 "slack": {"client_id": "s-client", "client_secret": "s-secret", "signing_secret": "s-sign"},
 "jira": {"client_id": "j-client", "client_secret": "j-secret"},
 "tiktok": {"client_id": "t-client", "client_secret": "t-secret"},
 "shopify": {"client_id": "sh-client", "client_secret": "sh-secret"}
}`

type harness struct {
	t       *testing.T
	p       *provider
	flow    *Flow
	svc     *integration.Service
	secrets *embedded.Secrets
	apps    *memApps
	now     time.Time
	actor   integration.Actor
}

func newHarness(t *testing.T) *harness {
	p := newProvider(t)
	return newHarnessOn(t, testCatalog(t, p.srv.URL), p.srv.Client(), p)
}

// newHarnessOn runs the flow on a catalog, reaching platforms through hc.
func newHarnessOn(t *testing.T, cat *connector.Catalog, hc *http.Client, p *provider) *harness {
	dir := t.TempDir()
	store, err := embedded.OpenStore(filepath.Join(dir, "joinery.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	secrets, err := embedded.OpenSecrets(filepath.Join(dir, "secrets"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = secrets.Close() })
	h := &harness{t: t, p: p, secrets: secrets, apps: &memApps{doc: appsDoc},
		now:   time.Date(2026, 6, 7, 8, 9, 10, 0, time.UTC),
		actor: integration.Actor{Subject: "u1", AccountID: "acct-1", Role: integration.RoleEditor}}
	// Read every time: a test removes a platform's app credentials.
	apps := appcreds.New(h.apps, cat, time.Nanosecond, nil)
	clock := func() time.Time { return h.now }
	h.svc = &integration.Service{Store: store, Secrets: secrets, Catalog: cat, Apps: apps, Now: clock}
	h.flow = &Flow{Integrations: h.svc, States: store, Secrets: secrets, Apps: apps, Catalog: cat, HTTP: hc,
		PublicURL: "https://api.joinery.test/", ReturnOrigins: []string{"https://app.joinery.test"}, Now: clock}
	return h
}

func (h *harness) create(platform, siteURL string) *integration.Integration {
	h.t.Helper()
	it, err := h.svc.Create(context.Background(), h.actor, integration.CreateInput{SiteID: "site-" + platform, Platform: platform, ExternalSiteURL: siteURL})
	if err != nil {
		h.t.Fatalf("create %s: %v", platform, err)
	}
	return it
}

func (h *harness) get(id string) *integration.Integration {
	h.t.Helper()
	it, err := h.svc.Get(context.Background(), h.actor, id)
	if err != nil {
		h.t.Fatal(err)
	}
	return it
}

func (h *harness) authorize(id string) *url.URL {
	h.t.Helper()
	res, err := h.flow.Authorize(context.Background(), h.actor, id, "https://app.joinery.test/connected?tab=x")
	if err != nil {
		h.t.Fatalf("authorize: %v", err)
	}
	u, err := url.Parse(res.AuthorizeURL)
	if err != nil {
		h.t.Fatal(err)
	}
	return u
}

// consent is the platform's redirect back after the user agreed.
func (h *harness) consent(platform string, authorize *url.URL) url.Values {
	q := url.Values{"code": {"code-" + platform}, "state": {authorize.Query().Get("state")}}
	if platform == "shopify" {
		q.Set("shop", "acme.myshopify.com")
		q.Set("host", "YWNtZQ")
		q.Set("timestamp", strconv.FormatInt(h.now.Unix(), 10))
		q.Set("hmac", ShopifyHMAC(q, "sh-secret"))
	}
	return q
}

func (h *harness) callback(platform string, q url.Values) url.Values {
	h.t.Helper()
	to, err := h.flow.Callback(context.Background(), platform, q)
	if err != nil {
		h.t.Fatalf("callback: %v", err)
	}
	u, err := url.Parse(to)
	if err != nil || u.Scheme+"://"+u.Host+u.Path != "https://app.joinery.test/connected" || u.Query().Get("tab") != "x" {
		h.t.Fatalf("redirect to %q", to)
	}
	return u.Query()
}

func (h *harness) secret(it *integration.Integration) map[string]string {
	h.t.Helper()
	v, err := h.secrets.GetSecret(context.Background(), it.Credentials.SecretName, it.Credentials.VersionID)
	if err != nil {
		h.t.Fatal(err)
	}
	return v
}

func siteURLOf(platform string) string {
	if platform == "shopify" {
		return "https://ACME.myshopify.com"
	}
	return ""
}

var oauthPlatforms = []string{"google_calendar", "slack", "jira", "tiktok", "shopify"}

func TestAuthorizeURLCarriesWhatEachPlatformNeeds(t *testing.T) {
	h := newHarness(t)
	for _, platform := range oauthPlatforms {
		t.Run(platform, func(t *testing.T) {
			e, _ := h.flow.Catalog.Entry(platform)
			it := h.create(platform, siteURLOf(platform))
			res, err := h.flow.Authorize(context.Background(), h.actor, it.ID, "https://app.joinery.test/done")
			if err != nil {
				t.Fatal(err)
			}
			if !res.ExpiresAt.Equal(h.now.Add(10 * time.Minute)) {
				t.Fatalf("expires at %v", res.ExpiresAt)
			}
			u, _ := url.Parse(res.AuthorizeURL)
			q := u.Query()
			want := map[string]string{
				e.OAuth.ClientIDParam: map[string]string{"google_calendar": "g-client", "slack": "s-client", "jira": "j-client", "tiktok": "t-client", "shopify": "sh-client"}[platform],
				"redirect_uri":        "https://api.joinery.test/v1/oauth/" + platform + "/callback",
				"scope":               strings.Join(e.OAuth.Scopes, e.OAuth.ScopeSeparator),
			}
			for k, v := range e.OAuth.AuthorizeParams {
				want[k] = v
			}
			for k, v := range want {
				if q.Get(k) != v {
					t.Errorf("%s = %q, want %q", k, q.Get(k), v)
				}
			}
			if platform == "tiktok" && q.Get("client_id") != "" {
				t.Error("TikTok's authorize URL names the client client_id")
			}
			if raw, err := base64.RawURLEncoding.DecodeString(q.Get("state")); err != nil || len(raw) != 32 {
				t.Errorf("state %q is not 256 bits in base64url", q.Get("state"))
			}
			if pkce := q.Get("code_challenge") != ""; pkce != (platform == "google_calendar") || (pkce && q.Get("code_challenge_method") != "S256") {
				t.Errorf("PKCE: challenge %q method %q", q.Get("code_challenge"), q.Get("code_challenge_method"))
			}
			if platform == "shopify" && !strings.HasPrefix(u.Path, "/acme.myshopify.com/admin/oauth/authorize") {
				t.Errorf("shopify authorize path %q", u.Path)
			}
		})
	}
}

func TestAuthorizeRefusals(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	it := h.create("slack", "")
	viewer := h.actor
	viewer.Role = integration.RoleViewer
	if _, err := h.flow.Authorize(ctx, viewer, it.ID, "https://app.joinery.test/"); integration.ErrorCode(err) != integration.EFORBIDDEN {
		t.Fatalf("viewer: %v", err)
	}
	for ret, want := range map[string]string{"": "required", "https://evil.test/x": "not one", "javascript:alert(1)": "absolute", "https://app.joinery.test.evil.test/": "not one"} {
		_, err := h.flow.Authorize(ctx, h.actor, it.ID, ret)
		if integration.ErrorCode(err) != integration.EINVALID || !strings.Contains(integration.ErrorFields(err)["return_url"], want) {
			t.Errorf("return_url %q: %v", ret, err)
		}
	}
	wp, err := h.svc.Create(ctx, h.actor, integration.CreateInput{SiteID: "wp", Platform: "wordpress", ExternalSiteURL: "https://blog.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.flow.Authorize(ctx, h.actor, wp.ID, "https://app.joinery.test/"); integration.ErrorFields(err)["platform"] == "" {
		t.Fatalf("wordpress: %v", err)
	}
	h.apps.set(`{"jira": {"client_id": "j", "client_secret": "s"}}`)
	if _, err := h.flow.Authorize(ctx, h.actor, it.ID, "https://app.joinery.test/"); integration.ErrorCode(err) != integration.EUNPROCESSABLE || !strings.Contains(integration.ErrorMessage(err), "not configured") {
		t.Fatalf("no app credentials: %v", err)
	}
}

func TestCallbackConnectsEachPlatform(t *testing.T) {
	h := newHarness(t)
	wantAccount := map[string][2]string{
		"google_calendar": {"ada@example.com", "Ada"}, "slack": {"T1", "Team T1"}, "jira": {"cloud-1", "One"},
		"tiktok": {"open-1", ""}, "shopify": {"acme.myshopify.com", ""},
	}
	for _, platform := range oauthPlatforms {
		t.Run(platform, func(t *testing.T) {
			it := h.create(platform, siteURLOf(platform))
			auth := h.authorize(it.ID)
			back := h.callback(platform, h.consent(platform, auth))
			if back.Get("integration_id") != it.ID || back.Get("status") != "connected" || back.Get("error") != "" {
				t.Fatalf("back with %v", back)
			}
			got := h.get(it.ID)
			if got.ConnectionStatus != integration.ConnectionConnected || !got.Credentials.HasCredentials() {
				t.Fatalf("status %s, credentials %+v", got.ConnectionStatus, got.Credentials)
			}
			if got.Version != it.Version {
				t.Fatalf("version moved from %d to %d: connecting is not a user edit", it.Version, got.Version)
			}
			acct := wantAccount[platform]
			if got.OAuth == nil || got.OAuth.ExternalAccountID != acct[0] || got.OAuth.ExternalAccountName != acct[1] || got.OAuth.ExpiresAt == nil || len(got.OAuth.Scopes) == 0 {
				t.Fatalf("oauth = %+v", got.OAuth)
			}
			sec := h.secret(got)
			ts, err := ParseTokenSet(sec)
			if err != nil || ts.AccessToken == "" || ts.RefreshToken == "" || ts.ExternalAccountID != acct[0] || !ts.ObtainedAt.Equal(h.now) || ts.ExpiresAt.IsZero() {
				t.Fatalf("secret = %+v, %v", ts, err)
			}
			req := h.p.request(platform)
			if req["redirect_uri"] != "https://api.joinery.test/v1/oauth/"+platform+"/callback" {
				t.Fatalf("token request redirect_uri %q", req["redirect_uri"])
			}
			switch platform {
			case "google_calendar":
				sum := sha256.Sum256([]byte(req["code_verifier"]))
				if base64.RawURLEncoding.EncodeToString(sum[:]) != auth.Query().Get("code_challenge") {
					t.Fatal("the code verifier does not match the challenge")
				}
			case "jira":
				if got.Config["cloud_id"] != "cloud-1" || len(got.OAuth.Sites) != 1 {
					t.Fatalf("config %v, sites %v", got.Config, got.OAuth.Sites)
				}
			case "shopify":
				if req["expiring"] != "1" || req["code"] != "code-shopify" {
					t.Fatalf("shopify token request %v", req)
				}
			case "tiktok":
				if req["auth_code"] != "code-tiktok" {
					t.Fatalf("tiktok token request %v", req)
				}
			}
		})
	}
}

func TestCallbackStatesThatChangeNothing(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	it := h.create("slack", "")
	auth := h.authorize(it.ID)
	good := h.consent("slack", auth)
	before := h.get(it.ID)

	refused := func(name, platform string, q url.Values) {
		t.Helper()
		to, err := h.flow.Callback(ctx, platform, q)
		if integration.ErrorCode(err) != integration.EINVALID || to != "" {
			t.Fatalf("%s: %q, %v", name, to, err)
		}
		if after := h.get(it.ID); after.Rev != before.Rev {
			t.Fatalf("%s changed the integration", name)
		}
	}
	refused("no state", "slack", url.Values{"code": {"c"}})
	refused("forged state", "slack", url.Values{"code": {"c"}, "state": {base64.RawURLEncoding.EncodeToString(make([]byte, 32))}})
	refused("unknown platform", "nope", good)

	// Another platform's callback path with this state: refused, and the
	// state is spent.
	refused("other platform", "jira", good)
	refused("state spent on the wrong path", "slack", good)

	// Reused.
	auth = h.authorize(it.ID)
	good = h.consent("slack", auth)
	h.callback("slack", good)
	before = h.get(it.ID)
	refused("reused", "slack", good)

	// Expired.
	auth = h.authorize(it.ID)
	h.now = h.now.Add(10*time.Minute + time.Second)
	refused("expired", "slack", h.consent("slack", auth))
}

func TestCallbackFailuresSendTheUserBackWithTheReason(t *testing.T) {
	h := newHarness(t)
	it := h.create("google_calendar", "")

	auth := h.authorize(it.ID)
	back := h.callback("google_calendar", url.Values{"error": {"access_denied"}, "state": {auth.Query().Get("state")}})
	if back.Get("status") != "error" || back.Get("error") != "access_denied" || back.Get("integration_id") != it.ID {
		t.Fatalf("denied: %v", back)
	}
	got := h.get(it.ID)
	if got.ConnectionStatus != integration.ConnectionError || !strings.Contains(got.ConnectionMessage, "access_denied") || got.Credentials.HasCredentials() {
		t.Fatalf("after denial: %s %q", got.ConnectionStatus, got.ConnectionMessage)
	}

	h.p.tokenFails = 1
	auth = h.authorize(it.ID)
	back = h.callback("google_calendar", h.consent("google_calendar", auth))
	if back.Get("status") != "error" || back.Get("error") != "exchange_failed" {
		t.Fatalf("failed exchange: %v", back)
	}
	got = h.get(it.ID)
	if !strings.Contains(got.ConnectionMessage, "invalid_grant") || strings.Contains(got.ConnectionMessage, "code-google_calendar") {
		t.Fatalf("message %q", got.ConnectionMessage)
	}

	// App credentials gone between authorize and callback.
	auth = h.authorize(it.ID)
	h.apps.set(`{"slack": {"client_id": "s", "client_secret": "s", "signing_secret": "s"}}`)
	back = h.callback("google_calendar", h.consent("google_calendar", auth))
	if back.Get("error") != "not_configured" {
		t.Fatalf("not configured: %v", back)
	}
}

func TestReauthorizingWithAnotherAccountKeepsTheTokens(t *testing.T) {
	h := newHarness(t)
	it := h.create("slack", "")
	h.callback("slack", h.consent("slack", h.authorize(it.ID)))
	connected := h.get(it.ID)

	h.p.mu.Lock()
	h.p.slackTeam = "T2"
	h.p.mu.Unlock()
	back := h.callback("slack", h.consent("slack", h.authorize(it.ID)))
	if back.Get("status") != "error" || back.Get("error") != "account_mismatch" {
		t.Fatalf("back with %v", back)
	}
	got := h.get(it.ID)
	if fmt.Sprint(got.Credentials) != fmt.Sprint(connected.Credentials) {
		t.Fatalf("tokens replaced: %+v", got.Credentials)
	}
	if got.ConnectionStatus != integration.ConnectionConnected || got.OAuth.ExternalAccountID != "T1" || !strings.Contains(got.ConnectionMessage, "account_mismatch") {
		t.Fatalf("after mismatch: %s %+v %q", got.ConnectionStatus, got.OAuth, got.ConnectionMessage)
	}

	// The same account again: tokens replaced.
	h.p.mu.Lock()
	h.p.slackTeam = "T1"
	h.p.mu.Unlock()
	h.now = h.now.Add(time.Hour)
	if back := h.callback("slack", h.consent("slack", h.authorize(it.ID))); back.Get("status") != "connected" {
		t.Fatalf("reauthorize: %v", back)
	}
	if got := h.get(it.ID); got.Credentials.VersionID == connected.Credentials.VersionID || got.ConnectionMessage != "" {
		t.Fatalf("tokens not replaced: %+v %q", got.Credentials, got.ConnectionMessage)
	}
}

func TestJiraGrantCoveringSeveralSites(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	h.p.jiraSites = []map[string]string{
		{"id": "cloud-1", "url": "https://one.atlassian.net", "name": "One"},
		{"id": "cloud-2", "url": "https://two.atlassian.net", "name": "Two"},
	}
	it := h.create("jira", "")
	back := h.callback("jira", h.consent("jira", h.authorize(it.ID)))
	if back.Get("status") != "action_required" {
		t.Fatalf("back with %v", back)
	}
	got := h.get(it.ID)
	if got.ConnectionStatus != integration.ConnectionActionRequired || len(got.OAuth.Sites) != 2 || got.Config["cloud_id"] != nil || got.OAuth.Sites[1] != (integration.OAuthSite{ID: "cloud-2", URL: "https://two.atlassian.net", Name: "Two"}) {
		t.Fatalf("status %s, oauth %+v, config %v", got.ConnectionStatus, got.OAuth, got.Config)
	}

	_, err := h.svc.Update(ctx, h.actor, it.ID, integration.PatchInput{ConfigPatch: map[string]any{"cloud_id": "cloud-9"}})
	if integration.ErrorFields(err)["config.cloud_id"] == "" {
		t.Fatalf("a site outside the grant: %v", err)
	}
	if got := h.get(it.ID); got.ConnectionStatus != integration.ConnectionActionRequired {
		t.Fatalf("status %s", got.ConnectionStatus)
	}
	upd, err := h.svc.Update(ctx, h.actor, it.ID, integration.PatchInput{ConfigPatch: map[string]any{"cloud_id": "cloud-2"}})
	if err != nil {
		t.Fatal(err)
	}
	if upd.ConnectionStatus != integration.ConnectionConnected || upd.OAuth.ExternalAccountID != "cloud-2" || upd.Config["cloud_id"] != "cloud-2" {
		t.Fatalf("after choosing: %s %+v", upd.ConnectionStatus, upd.OAuth)
	}
	if got := h.get(it.ID); got.ConnectionStatus != integration.ConnectionConnected {
		t.Fatalf("stored status %s", got.ConnectionStatus)
	}

	// Another of the grant's sites.
	upd, err = h.svc.Update(ctx, h.actor, it.ID, integration.PatchInput{ConfigPatch: map[string]any{"cloud_id": "cloud-1"}})
	if err != nil || upd.ConnectionStatus != integration.ConnectionConnected || upd.OAuth.ExternalAccountID != "cloud-1" || upd.OAuth.ExternalAccountName != "One" {
		t.Fatalf("after switching: %+v %v", upd, err)
	}

	// Reauthorizing with a grant that no longer covers the chosen site.
	h.p.jiraSites = []map[string]string{{"id": "cloud-3", "url": "https://three.atlassian.net", "name": "Three"}}
	if back := h.callback("jira", h.consent("jira", h.authorize(it.ID))); back.Get("error") != "account_mismatch" {
		t.Fatalf("back with %v", back)
	}
}

func TestShopifyCallbackIsVerified(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	it := h.create("shopify", "https://Acme.myshopify.com")
	if it.ExternalSiteURL != "https://acme.myshopify.com" {
		t.Fatalf("site URL stored as %q", it.ExternalSiteURL)
	}
	auth := h.authorize(it.ID)
	good := h.consent("shopify", auth)

	tampered := url.Values{}
	for k, v := range good {
		tampered[k] = v
	}
	tampered.Set("code", "other-code")
	if _, err := h.flow.Callback(ctx, "shopify", tampered); integration.ErrorCode(err) != integration.EINVALID {
		t.Fatalf("tampered: %v", err)
	}
	unsigned := url.Values{"code": good["code"], "state": good["state"], "shop": good["shop"], "timestamp": good["timestamp"]}
	if _, err := h.flow.Callback(ctx, "shopify", unsigned); integration.ErrorCode(err) != integration.EINVALID {
		t.Fatalf("unsigned: %v", err)
	}
	// Neither spent the state: the real callback goes through.
	if back := h.callback("shopify", good); back.Get("status") != "connected" {
		t.Fatalf("back with %v", back)
	}

	// Signed, but too old or from the future.
	for _, skew := range []time.Duration{-91 * time.Second, 91 * time.Second} {
		q := h.consent("shopify", h.authorize(it.ID))
		q.Set("timestamp", strconv.FormatInt(h.now.Add(skew).Unix(), 10))
		q.Set("hmac", ShopifyHMAC(q, "sh-secret"))
		if _, err := h.flow.Callback(ctx, "shopify", q); integration.ErrorCode(err) != integration.EINVALID {
			t.Fatalf("skew %v: %v", skew, err)
		}
	}
	q := h.consent("shopify", h.authorize(it.ID))
	q.Set("timestamp", strconv.FormatInt(h.now.Add(-89*time.Second).Unix(), 10))
	q.Set("hmac", ShopifyHMAC(q, "sh-secret"))
	if back := h.callback("shopify", q); back.Get("status") != "connected" {
		t.Fatalf("89 s old: %v", back)
	}

	// Another shop, correctly signed.
	q = h.consent("shopify", h.authorize(it.ID))
	q.Set("shop", "other.myshopify.com")
	q.Set("hmac", ShopifyHMAC(q, "sh-secret"))
	if back := h.callback("shopify", q); back.Get("error") != "shop_mismatch" {
		t.Fatalf("other shop: %v", back)
	}
}

func TestCreatingOAuthIntegrations(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	for _, bad := range []string{"https://acme.example.com", "https://acme.myshopify.com.evil.com", "http://acme.myshopify.com", "https://-acme.myshopify.com"} {
		_, err := h.svc.Create(ctx, h.actor, integration.CreateInput{SiteID: "s", Platform: "shopify", ExternalSiteURL: bad})
		if integration.ErrorFields(err)["external_site_url"] == "" {
			t.Errorf("%q: %v", bad, err)
		}
	}
	_, err := h.svc.Create(ctx, h.actor, integration.CreateInput{SiteID: "s", Platform: "slack", Credentials: map[string]string{"access_token": "x"}})
	if integration.ErrorFields(err)["credentials"] == "" {
		t.Fatalf("credentials given for an OAuth platform: %v", err)
	}
	it := h.create("tiktok", "")
	if it.ConnectionStatus != integration.ConnectionUnknown || it.Credentials.HasCredentials() || it.OAuth != nil {
		t.Fatalf("new integration %+v", it)
	}
}

// A reauthorization of the same account that brings no refresh token
// keeps the stored one; the new access token replaces the old.
func TestReauthorizingWithoutARefreshTokenKeepsTheStoredOne(t *testing.T) {
	h := newHarness(t)
	it := h.create("google_calendar", "")
	h.callback("google_calendar", h.consent("google_calendar", h.authorize(it.ID)))
	h.p.mu.Lock()
	h.p.noRefresh = true
	h.p.mu.Unlock()
	h.now = h.now.Add(time.Hour)
	if back := h.callback("google_calendar", h.consent("google_calendar", h.authorize(it.ID))); back.Get("status") != "connected" {
		t.Fatalf("back with %v", back)
	}
	ts, err := ParseTokenSet(h.secret(h.get(it.ID)))
	if err != nil || ts.RefreshToken != "g-rt" || !ts.ObtainedAt.Equal(h.now) || len(ts.Scopes) == 0 {
		t.Fatalf("after reauthorizing: %+v %v", ts, err)
	}
}
