package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/smithy-go/middleware"
	"github.com/joinery/joinery/pkg/awstest"
	"github.com/joinery/joinery/pkg/connector/wordpress/wptest"
)

func TestMain(m *testing.M) {
	code := wptest.Main(m)
	awstest.Stop()
	os.Exit(code)
}

type runner struct {
	t    testing.TB
	url  string
	auth *devAuth
}

func startRunner(t testing.TB, backend string) *runner {
	return startRunnerWith(t, backend)
}

// startRunnerWith starts the runner with extra AWS middleware.
func startRunnerWith(t testing.TB, backend string, awsOptions ...func(*middleware.Stack) error) *runner {
	r, _ := startRunnerOpts(t, backend, runnerOptions{aws: awsOptions})
	return r
}

// runnerOptions change how a test starts the runner.
type runnerOptions struct {
	aws []func(*middleware.Stack) error // extra AWS middleware
	// feedSafety is JOINERY_FEED_SAFETY_SECONDS. Unset, the tests read the
	// change feed right after their writes, so the window is off ("0"); the
	// window has tests of its own (record_get_test.go).
	feedSafety string
	noWorker   bool       // no sync worker and no scheduler
	setup      func(*app) // changes the app before its worker starts
	// settings changes the runner's settings before it starts.
	settings func(*settings)
	// log, when set, receives the runner's log lines.
	log io.Writer
}

// startRunnerOpts starts the runner on backend, serving its API on a test
// server, and returns it with its app.
func startRunnerOpts(t testing.TB, backend string, o runnerOptions) (*runner, *app) {
	t.Helper()
	dir := t.TempDir()
	s := settingsFromEnv(dir)
	s.Backend = backend
	s.AWSAPIOptions = o.aws
	switch {
	case o.feedSafety != "":
		s.FeedSafetySeconds = o.feedSafety
	case s.FeedSafetySeconds == "":
		s.FeedSafetySeconds = "0"
	}
	if backend == "aws" {
		endpoint := awstest.Moto(t)
		t.Setenv("AWS_ENDPOINT_URL", endpoint)
		t.Setenv("AWS_REGION", "us-east-1")
		t.Setenv("AWS_ACCESS_KEY_ID", "test")
		t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
		suffix := fmt.Sprint(time.Now().UnixNano())
		s.Table, s.QueueName, s.SecretPrefix = "joinery-e2e-"+suffix, "joinery-e2e-"+suffix, "joinery-e2e/"+suffix+"/"
	}
	auth, err := loadDevAuth(dir)
	if err != nil {
		t.Fatal(err)
	}
	var logOut io.Writer = io.Discard
	if o.log != nil {
		logOut = o.log
	}
	log := slog.New(slog.NewJSONHandler(logOut, nil))
	// Listening first: the runner's address is its public URL, which
	// OAuth redirect URIs are built on.
	srv := httptest.NewUnstartedServer(nil)
	if s.PublicURL == "" {
		s.PublicURL = "http://" + srv.Listener.Addr().String()
	}
	if o.settings != nil {
		o.settings(&s)
	}
	a, err := newApp(context.Background(), s, log)
	if err != nil {
		srv.Close()
		t.Fatal(err)
	}
	if o.setup != nil {
		o.setup(a)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if !o.noWorker {
		a.work(ctx, log)
	}
	srv.Config.Handler = withCORS(newServer(auth, a.routes, log), s.CORSOrigins)
	srv.Start()
	t.Cleanup(func() { srv.Close(); cancel(); _ = a.Close() })
	return &runner{t: t, url: srv.URL, auth: auth}, a
}

func (r *runner) token(account, role, sites string) string {
	r.t.Helper()
	var list []string
	if sites != "" {
		list = strings.Split(sites, ",")
	}
	tok, err := r.auth.mint("tester", account, role, list, time.Hour)
	if err != nil {
		r.t.Fatal(err)
	}
	return tok
}

type reply struct {
	status int
	header http.Header
	raw    string
	body   map[string]any
}

func (r *runner) do(method, path, token, body string, headers ...string) reply {
	r.t.Helper()
	req, err := http.NewRequest(method, r.url+path, strings.NewReader(body))
	if err != nil {
		r.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	checkAgainstOpenAPI(r.t, req, body, resp.StatusCode, resp.Header, b)
	out := reply{status: resp.StatusCode, header: resp.Header, raw: string(b)}
	// Pages meant for a browser (the OAuth callback's) are kept raw.
	if len(bytes.TrimSpace(b)) > 0 && !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		if err := json.Unmarshal(b, &out.body); err != nil {
			r.t.Fatalf("%s %s: body is not a JSON object: %q", method, path, b)
		}
	}
	return out
}

func want(t testing.TB, got reply, status int, what string) {
	t.Helper()
	if got.status != status {
		t.Fatalf("%s: status %d, want %d; body %s", what, got.status, status, got.raw)
	}
}

func fieldError(t *testing.T, got reply, field string) {
	t.Helper()
	want(t, got, http.StatusBadRequest, "bad input on "+field)
	e, _ := got.body["error"].(map[string]any)
	fields, _ := e["fields"].(map[string]any)
	if e["code"] != "invalid" || fields[field] == nil {
		t.Fatalf("error does not name %q: %s", field, got.raw)
	}
}

const secretPassword = "abcd EFGH ijkl MNOP qrst UVWX"

func TestIntegrationsAPI(t *testing.T) {
	for _, backend := range []string{"embedded", "aws"} {
		t.Run(backend, func(t *testing.T) {
			r := startRunner(t, backend)
			acct := "acct-" + backend
			editor := r.token(acct, "editor", "")
			viewer := r.token(acct, "viewer", "")
			stranger := r.token("someone-else", "owner", "")
			var seen []string // every body, checked for credential values at the end
			call := func(method, path, token, body string, headers ...string) reply {
				got := r.do(method, path, token, body, headers...)
				seen = append(seen, got.raw)
				return got
			}

			created := call("POST", "/v1/integrations", editor, `{"site_id":"site-1","platform":"wordpress","external_site_url":"https://blog.example.com","config":{"post_types":["post"],"language":"en"},"credentials":{"username":"admin","app_password":"`+secretPassword+`"}}`)
			want(t, created, http.StatusCreated, "create")
			id, _ := created.body["id"].(string)
			if id == "" || created.body["has_credentials"] != true || created.body["version"] != float64(2) && created.body["version"] != float64(1) {
				t.Fatalf("create body %s", created.raw)
			}
			if fields := fmt.Sprint(created.body["credential_fields"]); fields != "[app_password username]" {
				t.Fatalf("credential_fields = %s", fields)
			}
			if created.header.Get("ETag") == "" || created.header.Get("Location") != "/v1/integrations/"+id {
				t.Fatalf("headers %v", created.header)
			}
			want(t, call("POST", "/v1/integrations", editor, `{"site_id":"site-1","platform":"wordpress","external_site_url":"https://other.example.com"}`), http.StatusConflict, "duplicate site+platform")

			got := call("GET", "/v1/integrations/"+id, viewer, "")
			want(t, got, http.StatusOK, "get")
			if got.body["site_id"] != "site-1" || got.body["sync_status"] != "idle" || got.body["connection_status"] != "unknown" {
				t.Fatalf("get body %s", got.raw)
			}
			etag := got.header.Get("ETag")

			// A few more to page through and filter.
			for i, spec := range []string{
				`{"site_id":"site-1","platform":"openai","credentials":{"api_key":"sk-secret-1"}}`,
				`{"site_id":"site-2","platform":"wordpress","external_site_url":"https://two.example.com"}`,
				`{"site_id":"site-2","platform":"trello","credentials":{"api_key":"key-1","token":"trello_secret"}}`,
				`{"site_id":"site-3","platform":"anthropic"}`,
			} {
				want(t, call("POST", "/v1/integrations", editor, spec), http.StatusCreated, fmt.Sprint("create ", i))
			}
			var all []any
			cursor := ""
			for pages := 0; ; pages++ {
				page := call("GET", "/v1/integrations?limit=2"+cursor, viewer, "")
				want(t, page, http.StatusOK, "list")
				items := page.body["items"].([]any)
				if len(items) > 2 {
					t.Fatalf("page of %d", len(items))
				}
				all = append(all, items...)
				next, _ := page.body["next_cursor"].(string)
				if next == "" {
					break
				}
				if pages > 10 {
					t.Fatal("pagination does not end")
				}
				cursor = "&cursor=" + next
			}
			if len(all) != 5 {
				t.Fatalf("listed %d integrations, want 5", len(all))
			}
			if n := len(call("GET", "/v1/integrations?site_id=site-2", viewer, "").body["items"].([]any)); n != 2 {
				t.Fatalf("site-2 has %d, want 2", n)
			}
			if n := len(call("GET", "/v1/integrations?platform=wordpress", viewer, "").body["items"].([]any)); n != 2 {
				t.Fatalf("wordpress has %d, want 2", n)
			}
			if n := len(call("GET", "/v1/integrations?site_id=site-1&platform=openai", viewer, "").body["items"].([]any)); n != 1 {
				t.Fatalf("site-1 openai has %d, want 1", n)
			}
			limited := r.token(acct, "viewer", "site-2")
			if n := len(call("GET", "/v1/integrations", limited, "").body["items"].([]any)); n != 2 {
				t.Fatalf("a site-2 token lists %d, want 2", n)
			}
			want(t, call("GET", "/v1/integrations/"+id, limited, ""), http.StatusNotFound, "site-1 integration through a site-2 token")

			// Patch: merge config, replace credentials, version checks.
			patched := call("PATCH", "/v1/integrations/"+id, editor, `{"config":{"language":"pt-BR","post_types":null},"credentials":{"username":"editor2","app_password":"`+secretPassword+`-2"}}`, "If-Match", etag)
			want(t, patched, http.StatusOK, "patch")
			cfg := patched.body["config"].(map[string]any)
			if _, ok := cfg["post_types"]; ok || cfg["language"] != "pt-BR" {
				t.Fatalf("merge patch result %v", cfg)
			}
			want(t, call("PATCH", "/v1/integrations/"+id, editor, `{"is_active":false}`, "If-Match", etag), http.StatusPreconditionFailed, "patch with stale If-Match")
			want(t, call("PATCH", "/v1/integrations/"+id, editor, `{"is_active":false,"version":1}`), http.StatusPreconditionFailed, "patch with stale version")
			want(t, call("PATCH", "/v1/integrations/"+id, editor, `{"sync_interval_minutes":30}`, "If-Match", patched.header.Get("ETag")), http.StatusOK, "patch with fresh If-Match")

			// Concurrent patches without If-Match: none is lost.
			var wg sync.WaitGroup
			edits := map[string]string{"max_concurrency": "8", "conflict_policy": `"manual"`, "post_types": `["page"]`, "language": `"de"`}
			for k, v := range edits {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if got := r.do("PATCH", "/v1/integrations/"+id, editor, fmt.Sprintf(`{"config":{%q:%s}}`, k, v)); got.status != http.StatusOK {
						t.Errorf("concurrent patch: %d %s", got.status, got.raw)
					}
				}()
			}
			wg.Wait()
			cfg = call("GET", "/v1/integrations/"+id, viewer, "").body["config"].(map[string]any)
			for k, v := range edits {
				if b, _ := json.Marshal(cfg[k]); string(b) != v {
					t.Fatalf("lost update of %s: %v", k, cfg)
				}
			}

			// Roles and tenancy.
			want(t, call("POST", "/v1/integrations", viewer, `{"site_id":"site-9","platform":"openai"}`), http.StatusForbidden, "viewer create")
			want(t, call("POST", "/v1/integrations", viewer, `{"bad json`), http.StatusForbidden, "viewer create with a bad body")
			want(t, call("PATCH", "/v1/integrations/"+id, viewer, `{"is_active":false}`), http.StatusForbidden, "viewer patch")
			want(t, call("DELETE", "/v1/integrations/"+id, viewer, ""), http.StatusForbidden, "viewer delete")
			want(t, call("GET", "/v1/integrations/"+id, stranger, ""), http.StatusNotFound, "other account get")
			want(t, call("PATCH", "/v1/integrations/"+id, stranger, `{"is_active":false}`), http.StatusNotFound, "other account patch")
			want(t, call("DELETE", "/v1/integrations/"+id, stranger, ""), http.StatusNotFound, "other account delete")
			if items := call("GET", "/v1/integrations", stranger, "").body["items"].([]any); len(items) != 0 {
				t.Fatalf("other account lists %d", len(items))
			}
			want(t, call("GET", "/v1/integrations", "", ""), http.StatusUnauthorized, "no token")
			want(t, call("GET", "/v1/integrations", editor+"x", ""), http.StatusUnauthorized, "bad signature")

			// Bad input: a 400 naming the field, nothing written.
			fieldError(t, call("POST", "/v1/integrations", editor, `{"site_id":"s","platform":"wordpress",`), "body")
			fieldError(t, call("POST", "/v1/integrations", editor, `{"site_id":"s","platform":"wordpress","colour":"red"}`), "colour")
			fieldError(t, call("POST", "/v1/integrations", editor, `{"site_id":"s","platform":"myspace"}`), "platform")
			fieldError(t, call("POST", "/v1/integrations", editor, `{"site_id":"s","platform":"wordpress","external_site_url":"ftp://x"}`), "external_site_url")
			fieldError(t, call("POST", "/v1/integrations", editor, `{"site_id":"s","platform":"wordpress","external_site_url":"https://u:p@x.com"}`), "external_site_url")
			fieldError(t, call("POST", "/v1/integrations", editor, `{"site_id":"bad site!","platform":"openai"}`), "site_id")
			fieldError(t, call("POST", "/v1/integrations", editor, `{"site_id":"s","platform":"openai","sync_enabled":"yes"}`), "sync_enabled")
			fieldError(t, call("POST", "/v1/integrations", editor, `{"site_id":"s","platform":"wordpress","external_site_url":"https://x.com","credentials":{"username":"a"}}`), "credentials.app_password")
			// A platform whose app credentials this deployment lacks.
			got = call("POST", "/v1/integrations", editor, `{"site_id":"s","platform":"slack"}`)
			want(t, got, http.StatusUnprocessableEntity, "platform not configured")
			if e, _ := got.body["error"].(map[string]any); e["code"] != "unprocessable" || !strings.HasPrefix(e["message"].(string), "Slack is not configured on this deployment") {
				t.Fatalf("platform not configured: %s", got.raw)
			}
			fieldError(t, call("POST", "/v1/integrations", editor, `{"site_id":"s","platform":"wordpress","external_site_url":"https://x.com","config":{"max_concurrency":99}}`), "config.max_concurrency")
			fieldError(t, call("PATCH", "/v1/integrations/"+id, editor, `{"credentials":{"username":5}}`), "credentials.username")
			fieldError(t, call("GET", "/v1/integrations?limit=500", viewer, ""), "limit")
			if items := call("GET", "/v1/integrations?site_id=s", viewer, "").body["items"].([]any); len(items) != 0 {
				t.Fatalf("a rejected create wrote %d integrations", len(items))
			}

			// Delete, with a stale If-Match first.
			want(t, call("DELETE", "/v1/integrations/"+id, editor, "", "If-Match", etag), http.StatusPreconditionFailed, "delete with stale If-Match")
			want(t, call("DELETE", "/v1/integrations/"+id, editor, ""), http.StatusNoContent, "delete")
			want(t, call("GET", "/v1/integrations/"+id, viewer, ""), http.StatusNotFound, "get after delete")
			want(t, call("DELETE", "/v1/integrations/"+id, editor, ""), http.StatusNotFound, "delete again")
			want(t, call("POST", "/v1/integrations", editor, `{"site_id":"site-1","platform":"wordpress","external_site_url":"https://blog.example.com"}`), http.StatusCreated, "re-create after delete")

			for _, body := range seen {
				for _, secret := range []string{secretPassword, "sk-secret-1", "trello_secret"} {
					if strings.Contains(body, secret) {
						t.Fatalf("a response contains a credential value: %s", body)
					}
				}
			}
		})
	}
}
