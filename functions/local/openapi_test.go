package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/joinery/joinery/pkg/apigw"
	"gopkg.in/yaml.v3"
)

// The API's OpenAPI document, loaded once for every test of the package.
var openAPI struct {
	once   sync.Once
	doc    *openapi3.T
	router routers.Router
	err    error
}

func loadOpenAPI(t testing.TB) (*openapi3.T, routers.Router) {
	t.Helper()
	openAPI.once.Do(func() {
		// The OAuth callback's pages for a browser are read as text.
		openapi3filter.RegisterBodyDecoder("text/html", openapi3filter.PlainBodyDecoder)
		loader := openapi3.NewLoader()
		doc, err := loader.LoadFromData(apigw.OpenAPIDocument)
		if err == nil {
			err = doc.Validate(context.Background())
		}
		if err == nil {
			openAPI.router, err = gorillamux.NewRouter(doc)
		}
		openAPI.doc, openAPI.err = doc, err
	})
	if openAPI.err != nil {
		t.Fatalf("the OpenAPI document: %v", openAPI.err)
	}
	return openAPI.doc, openAPI.router
}

// checkAgainstOpenAPI validates one exchange of an end-to-end test
// against the document: the response against the schema of its route and
// status, and, when it succeeded, the request too (the document must
// accept what the API accepts). A failure fails the test that made the
// call; it goes on with its own checks.
func checkAgainstOpenAPI(t testing.TB, req *http.Request, reqBody string, status int, header http.Header, body []byte) {
	t.Helper()
	if req.Method == http.MethodOptions {
		return // a CORS preflight: the gateway's own answer, no route's
	}
	_, router := loadOpenAPI(t)
	what := req.Method + " " + req.URL.Path
	// The router matches on the path alone: the document's server is "/".
	find := req.Clone(context.Background())
	find.URL = &url.URL{Path: req.URL.Path, RawPath: req.URL.RawPath, RawQuery: req.URL.RawQuery}
	find.Host = ""
	find.Body = io.NopCloser(strings.NewReader(reqBody))
	route, params, err := router.FindRoute(find)
	if err != nil {
		// No such route: only API Gateway's own 404 may answer it.
		if status != http.StatusNotFound || !bytes.Contains(body, []byte(`"message"`)) {
			t.Errorf("OpenAPI: %s is not in the document (%v), yet answered %d %.200s", what, err, status, body)
		}
		return
	}
	// A failure names the value's place and why; the whole schema and
	// value printed with it would bury that (the body is shown below).
	brief := []openapi3.SchemaValidationOption{openapi3.DisableSchemaErrorDetails()}
	in := &openapi3filter.RequestValidationInput{Request: find, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true, SchemaValidationOptions: brief}}
	if status/100 == 2 {
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			t.Errorf("OpenAPI: the request %s answered %d but does not fit the document: %v", what, status, err)
		}
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: status, Header: header,
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true, SchemaValidationOptions: brief}}
	out.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		t.Errorf("OpenAPI: the response %d to %s does not fit the document: %v\nbody: %.500s", status, what, err, body)
	}
}

// templateRoutes are the HTTP API's routes in template.yaml, each with
// whether the JWT authorizer guards it.
func templateRoutes(t *testing.T) map[string]bool {
	t.Helper()
	path, err := findTemplate()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var tpl struct {
		Resources map[string]struct {
			Type       string `yaml:"Type"`
			Properties struct {
				Events map[string]struct {
					Type       string `yaml:"Type"`
					Properties struct {
						Method string `yaml:"Method"`
						Path   string `yaml:"Path"`
						Auth   struct {
							Authorizer string `yaml:"Authorizer"`
						} `yaml:"Auth"`
					} `yaml:"Properties"`
				} `yaml:"Events"`
			} `yaml:"Properties"`
		} `yaml:"Resources"`
	}
	if err := yaml.Unmarshal(b, &tpl); err != nil {
		t.Fatalf("%s: %v", filepath.Base(path), err)
	}
	out := map[string]bool{}
	for _, r := range tpl.Resources {
		for _, ev := range r.Properties.Events {
			if ev.Type == "HttpApi" {
				out[strings.ToUpper(ev.Properties.Method)+" "+ev.Properties.Path] = ev.Properties.Auth.Authorizer != "NONE"
			}
		}
	}
	return out
}

// The document describes exactly template.yaml's routes, says which need
// the JWT and which do not, and the local runner serves the same routes.
func TestOpenAPIMatchesTemplate(t *testing.T) {
	doc, _ := loadOpenAPI(t)
	tpl := templateRoutes(t)
	if len(tpl) == 0 {
		t.Fatal("no HttpApi routes in template.yaml")
	}
	documented := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			key := method + " " + path
			// An operation without its own security takes the document's
			// (the JWT); the public ones say security: [] or a site key.
			jwt := op.Security == nil
			if op.Security != nil {
				for _, req := range *op.Security {
					if _, ok := req["jwt"]; ok {
						jwt = true
					}
				}
			}
			documented[key] = jwt
			if strings.HasPrefix(path, "/webhooks/") {
				// A platform's function URL, not an API route: public,
				// and served by the runner (checked below).
				if jwt {
					t.Errorf("%s: a webhook function URL has no JWT authorizer", key)
				}
				continue
			}
			needsJWT, ok := tpl[key]
			switch {
			case !ok:
				t.Errorf("the document describes %s, which template.yaml does not route", key)
			case needsJWT != jwt:
				t.Errorf("%s: the template's JWT authorizer is %v, the document's security says %v", key, needsJWT, jwt)
			}
			for code, resp := range op.Responses.Map() {
				// 204 and redirects have no body; the OAuth callback's
				// pages are for a browser.
				if resp.Value == nil || (code != "204" && code != "302" && resp.Value.Content.Get("application/json") == nil && resp.Value.Content.Get("text/html") == nil) {
					t.Errorf("%s %s: no JSON schema", key, code)
				}
			}
			if op.Responses.Value("500") == nil {
				t.Errorf("%s: the 500 (error shape) is not documented", key)
			}
		}
	}
	var missing []string
	for key := range tpl {
		if _, ok := documented[key]; !ok {
			missing = append(missing, key)
		}
	}
	sort.Strings(missing)
	for _, key := range missing {
		t.Errorf("template.yaml routes %s, which the document does not describe", key)
	}

	r, a := startRunnerOpts(t, "embedded", runnerOptions{noWorker: true})
	var served []string
	for _, rt := range a.routes {
		served = append(served, rt.key)
		if rt.raw != nil {
			if _, ok := documented[rt.key]; !ok {
				t.Errorf("the runner serves %s, which the document does not describe", rt.key)
			}
			continue
		}
		if needsJWT, ok := tpl[rt.key]; !ok || needsJWT != rt.authJWT {
			t.Errorf("the runner serves %s (JWT %v), unlike template.yaml", rt.key, rt.authJWT)
		}
	}
	for key := range tpl {
		if !slices.Contains(served, key) {
			t.Errorf("the runner does not serve %s", key)
		}
	}

	// Served publicly, as embedded, and itself valid against its schema
	// (through the runner's own check of every response).
	got := r.do("GET", "/v1/openapi.json", "", "")
	want(t, got, http.StatusOK, "openapi document")
	if got.raw != string(apigw.OpenAPIDocument) || got.header.Get("Content-Type") != "application/json" {
		t.Fatalf("the document served differs from the one embedded (Content-Type %q)", got.header.Get("Content-Type"))
	}
}
