package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/fakeplatforms"
)

// vclock is a virtual clock shared by the runner's connect flow and the
// fake platforms: a test moves it instead of sleeping.
type vclock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *vclock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *vclock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// lockedBuffer collects the runner's log lines from its goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string { b.mu.Lock(); defer b.mu.Unlock(); return b.buf.String() }

const oauthReturn = "https://app.example.com/settings/integrations"

// What the fakes hand out and accept: none of it may ever show in a
// response or a log line.
var fakeSecret = regexp.MustCompile(`ya29\.fake|1//fake|xoxe|shpat_fake|shprt_fake|act\.fake|rft\.fake|at-fake|rt-fake|csecret-|signing-`)

// oauthRunner is a runner whose five OAuth platforms are fakes, reached
// through JOINERY_PLATFORM_ORIGINS as a developer would.
type oauthRunner struct {
	*runner
	app   *app
	clock *vclock
	fakes map[string]*fakeplatforms.Server
	logs  *lockedBuffer
	mu    sync.Mutex
	seen  []string // every body the API answered
}

func startOAuthRunner(t *testing.T, backend string, worker ...bool) *oauthRunner {
	t.Helper()
	clock := &vclock{t: time.Now().UTC()}
	o := &oauthRunner{clock: clock, fakes: map[string]*fakeplatforms.Server{}, logs: &lockedBuffer{}}
	var origins []string
	apps := map[string]map[string]string{}
	for _, p := range fakeplatforms.Platforms {
		f := fakeplatforms.Start(t, p, fakeplatforms.Options{ClientID: "cid-" + p, ClientSecret: "csecret-" + p, Now: clock.Now})
		o.fakes[p] = f
		origins = append(origins, p+"="+f.URL())
		apps[p] = map[string]string{"client_id": "cid-" + p, "client_secret": "csecret-" + p}
	}
	apps["slack"]["signing_secret"] = "signing-secret"
	b, _ := json.Marshal(apps)
	appsFile := filepath.Join(t.TempDir(), "apps.json")
	if err := os.WriteFile(appsFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	r, a := startRunnerOpts(t, backend, runnerOptions{noWorker: len(worker) == 0 || !worker[0], log: o.logs,
		settings: func(s *settings) {
			s.PlatformOrigins = strings.Join(origins, ",")
			s.ReturnOrigins = []string{"https://app.example.com"}
			s.AppsFile = appsFile
		},
		setup: func(a *app) {
			a.flow.Now = clock.Now
			a.tokens.Now = clock.Now
		},
	})
	o.runner, o.app = r, a
	return o
}

func (o *oauthRunner) call(t *testing.T, method, path, token, body string) reply {
	t.Helper()
	got := o.runner.with(t).do(method, path, token, body)
	o.mu.Lock()
	o.seen = append(o.seen, got.raw)
	o.mu.Unlock()
	return got
}

// with is the runner reporting to t (a subtest's).
func (r *runner) with(t *testing.T) *runner { c := *r; c.t = t; return &c }

// callback GETs a callback URL as the user's browser would (not following
// the redirect) and returns the status, the Location and the body.
func (o *oauthRunner) callback(t *testing.T, raw string) (int, *url.URL, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	checkAgainstOpenAPI(t, req, "", resp.StatusCode, resp.Header, b)
	o.mu.Lock()
	o.seen = append(o.seen, string(b), resp.Header.Get("Location"))
	o.mu.Unlock()
	var loc *url.URL
	if l := resp.Header.Get("Location"); l != "" {
		if loc, err = url.Parse(l); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode, loc, string(b)
}

// authorize asks for a consent link and checks it names the fake.
func (o *oauthRunner) authorize(t *testing.T, token, id, platform string) *url.URL {
	t.Helper()
	got := o.call(t, "POST", "/v1/integrations/"+id+"/oauth/authorize", token, `{"return_url":"`+oauthReturn+`"}`)
	want(t, got, http.StatusOK, platform+" authorize")
	link, _ := got.body["authorize_url"].(string)
	u, err := url.Parse(link)
	if err != nil || !strings.HasPrefix(link, o.fakes[platform].URL()+"/") {
		t.Fatalf("%s: the consent link %q does not go to the platform's stand-in %s", platform, link, o.fakes[platform].URL())
	}
	exp, err := time.Parse(time.RFC3339, got.body["expires_at"].(string))
	if err != nil || exp.Before(o.clock.Now().Add(9*time.Minute)) || exp.After(o.clock.Now().Add(11*time.Minute)) {
		t.Fatalf("%s: expires_at %v, want in 10 minutes", platform, got.body["expires_at"])
	}
	return u
}

// outcome is the status and error a callback's redirect carries.
func outcome(t *testing.T, loc *url.URL, id string) (string, string) {
	t.Helper()
	if loc == nil || !strings.HasPrefix(loc.String(), oauthReturn+"?") {
		t.Fatalf("the callback redirects to %v, not the return URL", loc)
	}
	q := loc.Query()
	if q.Get("integration_id") != id {
		t.Fatalf("the redirect names integration %q, want %q", q.Get("integration_id"), id)
	}
	return q.Get("status"), q.Get("error")
}

// For each OAuth platform, through the local runner against its fake:
// create, authorize, consent, callback → connected, with the consent link
// carrying what the platform needs; a reused or forged state is a 400 page
// that changes nothing; a denied consent and a failed exchange end in
// status=error; an expired state (virtual clock) is refused. No token or
// client secret shows in any response or log line.
func TestOAuthConnect(t *testing.T) {
	for _, backend := range []string{"embedded", "aws"} {
		t.Run(backend, func(t *testing.T) {
			o := startOAuthRunner(t, backend)
			acct := "acct-oauth-" + backend
			editor, viewer := o.token(acct, "editor", ""), o.token(acct, "viewer", "")
			catalog := connector.NewCatalog()
			ids := map[string]string{}
			var idsMu sync.Mutex

			t.Run("connect", func(t *testing.T) {
				for _, p := range fakeplatforms.Platforms {
					t.Run(p, func(t *testing.T) {
						t.Parallel()
						fake := o.fakes[p]
						e, _ := catalog.Entry(p)
						body := `{"site_id":"site-` + p + `","platform":"` + p + `"}`
						if p == "shopify" {
							body = `{"site_id":"site-shopify","platform":"shopify","external_site_url":"https://acme.myshopify.com"}`
						}
						created := o.call(t, "POST", "/v1/integrations", editor, body)
						want(t, created, http.StatusCreated, p+" create")
						id := created.body["id"].(string)
						if created.body["has_credentials"] != false {
							t.Fatalf("%s: created with credentials: %s", p, created.raw)
						}
						idsMu.Lock()
						ids[p] = id
						idsMu.Unlock()
						want(t, o.call(t, "POST", "/v1/integrations/"+id+"/oauth/authorize", viewer, `{"return_url":"`+oauthReturn+`"}`), http.StatusForbidden, "a viewer authorizes")
						fieldError(t, o.call(t, "POST", "/v1/integrations/"+id+"/oauth/authorize", editor, `{"return_url":"https://evil.example.net/x"}`), "return_url")

						link := o.authorize(t, editor, id, p)
						q := link.Query()
						clientParam := "client_id"
						if p == "tiktok" {
							clientParam = "client_key"
						}
						if q.Get(clientParam) != "cid-"+p {
							t.Errorf("%s: %s = %q in %s", p, clientParam, q.Get(clientParam), link)
						}
						if q.Get("scope") != strings.Join(e.OAuth.Scopes, e.OAuth.ScopeSeparator) {
							t.Errorf("%s: scope = %q, want the catalog's %q", p, q.Get("scope"), strings.Join(e.OAuth.Scopes, e.OAuth.ScopeSeparator))
						}
						if len(q.Get("state")) < 43 {
							t.Errorf("%s: state %q is not 256 random bits", p, q.Get("state"))
						}
						if q.Get("redirect_uri") != o.url+"/v1/oauth/"+p+"/callback" {
							t.Errorf("%s: redirect_uri = %q", p, q.Get("redirect_uri"))
						}
						pkce := q.Get("code_challenge") != "" || q.Get("code_challenge_method") != ""
						if p == "google_calendar" {
							if q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43 {
								t.Errorf("google: no S256 PKCE challenge in %s", link)
							}
							if q.Get("access_type") != "offline" || q.Get("prompt") != "consent" {
								t.Errorf("google: access_type %q prompt %q", q.Get("access_type"), q.Get("prompt"))
							}
						} else if pkce {
							t.Errorf("%s: a PKCE challenge the platform does not take: %s", p, link)
						}
						if p == "jira" && q.Get("audience") != "api.atlassian.com" {
							t.Errorf("jira: audience = %q", q.Get("audience"))
						}

						cb, err := fake.Consent(link.String())
						if err != nil {
							t.Fatalf("%s consent: %v", p, err)
						}
						if !strings.HasPrefix(cb, o.url+"/v1/oauth/"+p+"/callback?") {
							t.Fatalf("%s: the platform sends the user to %s", p, cb)
						}
						status, loc, page := o.callback(t, cb)
						if status != http.StatusFound {
							t.Fatalf("%s callback: %d %s", p, status, page)
						}
						if st, e := outcome(t, loc, id); st != "connected" || e != "" {
							t.Fatalf("%s: status=%s error=%s", p, st, e)
						}
						got := o.call(t, "GET", "/v1/integrations/"+id, viewer, "")
						want(t, got, http.StatusOK, p+" get")
						info, _ := got.body["oauth"].(map[string]any)
						if got.body["has_credentials"] != true || got.body["connection_status"] != "connected" || info == nil ||
							info["external_account_id"] == "" || info["external_account_id"] == nil {
							t.Fatalf("%s after the callback: %s", p, got.raw)
						}
						if scopes, _ := info["scopes"].([]any); len(scopes) == 0 {
							t.Fatalf("%s: no scopes shown: %s", p, got.raw)
						}

						// The same callback again: the state is spent.
						status, _, page = o.callback(t, cb)
						if status != http.StatusBadRequest || !strings.Contains(page, "no longer valid") {
							t.Fatalf("%s reused state: %d %s", p, status, page)
						}
						// A state Joinery never issued.
						status, _, _ = o.callback(t, o.url+"/v1/oauth/"+p+"/callback?code=code-1-forged&state=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
						if status != http.StatusBadRequest {
							t.Fatalf("%s forged state: %d", p, status)
						}
						if after := o.call(t, "GET", "/v1/integrations/"+id, viewer, ""); after.raw != got.raw {
							t.Fatalf("%s: a refused callback changed the integration:\n%s\n%s", p, got.raw, after.raw)
						}

						// The user says no on the consent page.
						fake.DenyNext()
						cb, err = fake.Consent(o.authorize(t, editor, id, p).String())
						if err != nil {
							t.Fatalf("%s denied consent: %v", p, err)
						}
						_, loc, _ = o.callback(t, cb)
						if st, e := outcome(t, loc, id); st != "error" || e != "access_denied" {
							t.Fatalf("%s denied: status=%s error=%s", p, st, e)
						}

						// The code exchange fails at the platform.
						cb, err = fake.Consent(o.authorize(t, editor, id, p).String())
						if err != nil {
							t.Fatalf("%s consent: %v", p, err)
						}
						fake.FailToken(http.StatusServiceUnavailable, 3)
						_, loc, _ = o.callback(t, cb)
						if st, e := outcome(t, loc, id); st != "error" || e != "exchange_failed" {
							t.Fatalf("%s failed exchange: status=%s error=%s", p, st, e)
						}
					})
				}
			})
			if t.Failed() {
				return
			}

			// A consent link used after its 10 minutes: refused, nothing changes.
			id := ids["slack"]
			before := o.call(t, "GET", "/v1/integrations/"+id, viewer, "")
			link := o.authorize(t, editor, id, "slack")
			cb, err := o.fakes["slack"].Consent(link.String())
			if err != nil {
				t.Fatal(err)
			}
			o.clock.Add(10*time.Minute + time.Second)
			if status, _, page := o.callback(t, cb); status != http.StatusBadRequest {
				t.Fatalf("expired state: %d %s", status, page)
			}
			if after := o.call(t, "GET", "/v1/integrations/"+id, viewer, ""); after.raw != before.raw {
				t.Fatalf("an expired callback changed the integration:\n%s\n%s", before.raw, after.raw)
			}

			// The integrations' events are read too, for the scan below.
			for p, id := range ids {
				want(t, o.call(t, "GET", "/v1/integrations/"+id+"/events", viewer, ""), http.StatusOK, p+" events")
			}
			// Never a token or a client secret in what the API said (events included) or logged.
			for _, body := range o.seen {
				if m := fakeSecret.FindString(body); m != "" {
					t.Fatalf("a response shows %q: %.300s", m, body)
				}
			}
			if m := fakeSecret.FindString(o.logs.String()); m != "" {
				t.Fatalf("the runner logged %q", m)
			}
			// The tokens are kept, in the integration's secret.
			it, err := o.app.service.Store.GetIntegration(context.Background(), acct, ids["google_calendar"])
			if err != nil {
				t.Fatal(err)
			}
			sec, err := o.app.service.Secrets.GetSecret(context.Background(), it.Credentials.SecretName, it.Credentials.VersionID)
			if err != nil || !strings.HasPrefix(sec["access_token"], "ya29.fake") || !strings.HasPrefix(sec["refresh_token"], "1//fake") {
				t.Fatalf("google's secret holds %d fields (%v)", len(sec), err)
			}
			if !fakeSecret.MatchString(sec["access_token"]) || !fakeSecret.MatchString(sec["refresh_token"]) {
				t.Fatal("the scan above would not see the tokens the fakes hand out")
			}
		})
	}
}
