package main

import (
	"bytes"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"gopkg.in/yaml.v3"
)

func (r *runner) tokenWith(claims jwt.MapClaims) string {
	r.t.Helper()
	tok, err := r.auth.mintClaims(claims, time.Hour)
	if err != nil {
		r.t.Fatal(err)
	}
	return tok
}

func errorMessage(got reply) string {
	e, _ := got.body["error"].(map[string]any)
	msg, _ := e["message"].(string)
	return msg
}

func createBody(site string) string {
	return `{"site_id":"` + site + `","platform":"wordpress","external_site_url":"https://` + site + `.example.com"}`
}

// Role and sites claims as issuers write them — Cognito's groups as a JSON
// array, which the runner (like the HTTP API) hands over as "[a b]", a
// space- or comma-separated list, any case — give the highest known role.
func TestClaimFormsThroughRunner(t *testing.T) {
	for _, backend := range []string{"embedded", "aws"} {
		t.Run(backend, func(t *testing.T) {
			r := startRunner(t, backend)
			acct := "acct-claims-" + backend
			groups := r.tokenWith(jwt.MapClaims{"sub": "u1", "account_id": acct, "role": []any{"Staff", "EDITOR", "viewer"}})
			created := r.do("POST", "/v1/integrations", groups, createBody("site-1"))
			want(t, created, http.StatusCreated, "create with the role in an array claim")
			id1, _ := created.body["id"].(string)
			spaced := r.tokenWith(jwt.MapClaims{"sub": "u1", "account_id": acct, "role": "viewer Admin"})
			created = r.do("POST", "/v1/integrations", spaced, createBody("site-2"))
			want(t, created, http.StatusCreated, "create with a space-separated role claim")
			id2, _ := created.body["id"].(string)

			viewerOnly := r.tokenWith(jwt.MapClaims{"sub": "u2", "account_id": acct, "role": "Staff,Viewer"})
			got := r.do("POST", "/v1/integrations", viewerOnly, createBody("site-3"))
			want(t, got, http.StatusForbidden, "create as a viewer")
			want(t, r.do("GET", "/v1/integrations/"+id1, viewerOnly, ""), http.StatusOK, "get as a viewer")

			unknown := r.tokenWith(jwt.MapClaims{"sub": "u3", "account_id": acct, "role": []any{"Admins", "Staff"}})
			got = r.do("GET", "/v1/integrations/"+id1, unknown, "")
			want(t, got, http.StatusForbidden, "an unknown role")
			if msg := errorMessage(got); !strings.Contains(msg, "role claim") || !strings.Contains(msg, "viewer, editor, admin, owner") {
				t.Fatalf("unknown role: message %q does not name the claim and the roles", msg)
			}

			// The sites claim as an array: site-1 only.
			oneSite := r.tokenWith(jwt.MapClaims{"sub": "u4", "account_id": acct, "role": "viewer", "sites": []any{"site-1", "site-9"}})
			want(t, r.do("GET", "/v1/integrations/"+id1, oneSite, ""), http.StatusOK, "an allowed site")
			want(t, r.do("GET", "/v1/integrations/"+id2, oneSite, ""), http.StatusNotFound, "a site the token does not list")
		})
	}
}

// The host backend's service token acts as owner of the account it names;
// no other token may name one.
func TestServiceAccessThroughRunner(t *testing.T) {
	t.Setenv("JOINERY_SERVICE_CLIENTS", "backend-app")
	t.Setenv("JOINERY_SERVICE_SCOPE", "")
	for _, backend := range []string{"embedded", "aws"} {
		t.Run(backend, func(t *testing.T) {
			r := startRunner(t, backend)
			acct := "acct-svc-" + backend
			svc, err := r.auth.mintService("backend-app", "openid joinery/service", time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			created := r.do("POST", "/v1/integrations", svc, createBody("site-1"), "X-Joinery-Account", acct)
			want(t, created, http.StatusCreated, "create as the service")
			id, _ := created.body["id"].(string)
			// Done in that account: its users see it, others do not.
			want(t, r.do("GET", "/v1/integrations/"+id, r.token(acct, "viewer", ""), ""), http.StatusOK, "the account's user gets it")
			want(t, r.do("GET", "/v1/integrations/"+id, r.token("someone-else", "owner", ""), ""), http.StatusNotFound, "another account")
			// Owner, on every site.
			want(t, r.do("DELETE", "/v1/integrations/"+id, svc, "", "X-Joinery-Account", acct), http.StatusNoContent, "delete as the service")

			fieldError(t, r.do("GET", "/v1/integrations", svc, ""), "X-Joinery-Account")
			fieldError(t, r.do("GET", "/v1/integrations", svc, "", "X-Joinery-Account", "no spaces allowed"), "X-Joinery-Account")

			other, err := r.auth.mintService("other-app", "joinery/service", time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			noScope, err := r.auth.mintService("backend-app", "openid", time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			for name, tok := range map[string]string{"a user token": r.token(acct, "owner", ""), "an unlisted client": other, "a token without the scope": noScope} {
				got := r.do("GET", "/v1/integrations", tok, "", "X-Joinery-Account", acct)
				want(t, got, http.StatusForbidden, name+" naming an account")
				if msg := errorMessage(got); msg != "X-Joinery-Account needs a service token." {
					t.Fatalf("%s: message %q", name, msg)
				}
			}
		})
	}
}

// The token command mints a service token the runner accepts.
func TestTokenCommandMintsServiceToken(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("JOINERY_SERVICE_SCOPE", "")
	var out, errOut bytes.Buffer
	if err := run([]string{"token", "--service", "backend-app", "--data-dir", dir}, &out, &errOut); err != nil {
		t.Fatalf("token --service: %v %s", err, errOut.String())
	}
	auth, err := loadDevAuth(dir)
	if err != nil {
		t.Fatal(err)
	}
	claims, err := auth.verify("Bearer " + strings.TrimSpace(out.String()))
	if err != nil {
		t.Fatal(err)
	}
	if claims["client_id"] != "backend-app" || claims["scope"] != "joinery/service" || claims["account_id"] != "" || claims["role"] != "" {
		t.Fatalf("claims %v", claims)
	}
}

func corsRequest(t *testing.T, r *runner, method, path, origin string, headers ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, r.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// The runner answers CORS as the HTTP API does with the template's
// CorsConfiguration.
func TestCORSThroughRunner(t *testing.T) {
	t.Setenv("JOINERY_CORS_ORIGINS", "https://app.example.com, http://localhost:3000")
	for _, backend := range []string{"embedded", "aws"} {
		t.Run(backend, func(t *testing.T) {
			r := startRunner(t, backend)
			const app = "https://app.example.com"
			preflight := []string{"Access-Control-Request-Method", "PATCH", "Access-Control-Request-Headers", "authorization,content-type,if-match"}

			resp := corsRequest(t, r, "OPTIONS", "/v1/integrations/some-id", app, preflight...)
			h := resp.Header
			if resp.StatusCode != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != app ||
				h.Get("Access-Control-Allow-Methods") != "GET,POST,PATCH,DELETE,OPTIONS" ||
				h.Get("Access-Control-Allow-Headers") != "Authorization,Content-Type,If-Match,X-Joinery-Account" ||
				h.Get("Access-Control-Max-Age") != "600" {
				t.Fatalf("preflight from an allowed origin: %d %v", resp.StatusCode, h)
			}
			resp = corsRequest(t, r, "OPTIONS", "/v1/integrations", "https://evil.example.com", preflight...)
			if resp.StatusCode != http.StatusNoContent || corsHeadersOf(resp.Header) != "" {
				t.Fatalf("preflight from another origin: %d, CORS headers %q", resp.StatusCode, corsHeadersOf(resp.Header))
			}

			// Actual responses to an allowed origin carry the CORS headers,
			// the gateway's own 401 included, and expose ETag.
			tok := r.token("acct-cors", "editor", "")
			created := r.do("POST", "/v1/integrations", tok, createBody("site-1"), "Origin", "http://localhost:3000")
			want(t, created, http.StatusCreated, "create from a browser")
			if created.header.Get("Access-Control-Allow-Origin") != "http://localhost:3000" || created.header.Get("Access-Control-Expose-Headers") != "ETag" {
				t.Fatalf("actual response: %v", created.header)
			}
			resp = corsRequest(t, r, "GET", "/v1/integrations", app)
			if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("Access-Control-Allow-Origin") != app {
				t.Fatalf("401 to an allowed origin: %d %v", resp.StatusCode, resp.Header)
			}
			got := r.do("GET", "/v1/integrations", tok, "", "Origin", "https://evil.example.com")
			want(t, got, http.StatusOK, "list from another origin")
			if corsHeadersOf(got.header) != "" {
				t.Fatalf("response to another origin has CORS headers %q", corsHeadersOf(got.header))
			}
		})
	}
	t.Run("off", func(t *testing.T) {
		t.Setenv("JOINERY_CORS_ORIGINS", "")
		r := startRunner(t, "embedded")
		resp := corsRequest(t, r, "OPTIONS", "/v1/integrations", "https://app.example.com", "Access-Control-Request-Method", "GET")
		if resp.StatusCode != http.StatusNotFound || corsHeadersOf(resp.Header) != "" {
			t.Fatalf("preflight with CORS off: %d %v", resp.StatusCode, resp.Header)
		}
	})
}

func corsHeadersOf(h http.Header) string {
	var out []string
	for k := range h {
		if strings.HasPrefix(k, "Access-Control-") {
			out = append(out, k)
		}
	}
	return strings.Join(out, ",")
}

// The runner's CORS settings are the template's.
func TestCORSMatchesTemplate(t *testing.T) {
	path, err := findTemplate()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Resources struct {
			HttpApi struct {
				Properties struct {
					CorsConfiguration yaml.Node `yaml:"CorsConfiguration"`
				} `yaml:"Properties"`
			} `yaml:"HttpApi"`
		} `yaml:"Resources"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	node := doc.Resources.HttpApi.Properties.CorsConfiguration
	// !If [HasCorsOrigins, {…}, !Ref AWS::NoValue]
	if node.Tag != "!If" || len(node.Content) != 3 {
		t.Fatalf("CorsConfiguration is not an !If on the origins parameter: %v", node.Tag)
	}
	var cfg struct {
		AllowMethods  []string `yaml:"AllowMethods"`
		AllowHeaders  []string `yaml:"AllowHeaders"`
		ExposeHeaders []string `yaml:"ExposeHeaders"`
		MaxAge        int      `yaml:"MaxAge"`
	}
	if err := node.Content[1].Decode(&cfg); err != nil {
		t.Fatal(err)
	}
	for name, pair := range map[string][2][]string{
		"AllowMethods":  {cfg.AllowMethods, corsMethods},
		"AllowHeaders":  {cfg.AllowHeaders, corsHeaders},
		"ExposeHeaders": {cfg.ExposeHeaders, corsExpose},
	} {
		if strings.Join(pair[0], ",") != strings.Join(pair[1], ",") {
			t.Errorf("%s: template %v, runner %v", name, pair[0], pair[1])
		}
	}
	if cfg.MaxAge != corsMaxAge {
		t.Errorf("MaxAge: template %d, runner %d", cfg.MaxAge, corsMaxAge)
	}
}
