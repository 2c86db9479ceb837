package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/joinery/joinery/pkg/apigw"
	"github.com/joinery/joinery/pkg/integration"
)

func TestTimeoutsFromTheTemplate(t *testing.T) {
	tpl, err := loadTimeouts("../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]time.Duration{
		"GET /v1/integrations":                       10 * time.Second, // Globals
		"POST /v1/integrations/{id}/test_connection": 30 * time.Second, // its own
		"GET /v1/no/such/route":                      10 * time.Second,
	} {
		if got := tpl.route(key); got != want {
			t.Errorf("%s: timeout %s, want %s", key, got, want)
		}
	}
	if got := tpl.function("SyncWorkerFunction"); got != 60*time.Second {
		t.Errorf("sync worker: timeout %s, want 60s", got)
	}

	// The runner gives each route and the worker its function's timeout.
	_, a := startRunnerApp(t, "embedded", "0")
	for _, rt := range a.routes {
		if rt.timeout != tpl.route(rt.key)*timeoutScale || rt.timeout <= 0 {
			t.Errorf("route %s runs with timeout %s, its function has %s (×%d under the race detector)", rt.key, rt.timeout, tpl.route(rt.key), timeoutScale)
		}
	}
	if a.workerTimeout != 60*time.Second*timeoutScale || a.schedulerTimeout != 60*time.Second*timeoutScale {
		t.Errorf("the worker runs with timeout %s, the scheduler %s, want 60s each (×%d under the race detector)", a.workerTimeout, a.schedulerTimeout, timeoutScale)
	}

	// No Globals: Lambda's default; a function's own Timeout wins.
	path := filepath.Join(t.TempDir(), "template.yaml")
	_ = os.WriteFile(path, []byte(`Resources:
  Fast:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Api: {Type: HttpApi, Properties: {ApiId: !Ref HttpApi, Method: get, Path: /fast}}
  Slow:
    Type: AWS::Serverless::Function
    Properties:
      Timeout: 45
      Role: !GetAtt SomeRole.Arn
`), 0o600)
	tpl, err = loadTimeouts(path)
	if err != nil {
		t.Fatal(err)
	}
	if tpl.route("GET /fast") != 3*time.Second || tpl.function("Slow") != 45*time.Second {
		t.Errorf("fast %s, slow %s; want 3s and 45s", tpl.route("GET /fast"), tpl.function("Slow"))
	}
	if _, err := loadTimeouts(filepath.Join(t.TempDir(), "none.yaml")); err == nil {
		t.Error("a missing template was not refused")
	}
}

// The runner fails what API Gateway and Lambda fail: a function that
// outlives its timeout, a response envelope over 6,291,556 bytes, a
// request event over 6 MB.
func TestGatewayLimits(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	ok := func(body string) events.APIGatewayV2HTTPResponse {
		return events.APIGatewayV2HTTPResponse{StatusCode: 200, Headers: map[string]string{"Content-Type": "application/json"}, Body: body}
	}
	// The body of a response whose envelope is exactly n bytes.
	sized := func(n int) string {
		fixed := apigw.EnvelopeSize(ok(`""`))
		return `"` + strings.Repeat("x", n-fixed) + `"`
	}
	routes := []route{
		{key: "GET /waits", timeout: 50 * time.Millisecond, handler: func(ctx context.Context, _ events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
			<-ctx.Done() // a handler that notices its deadline
			return ok(`{}`), nil
		}},
		{key: "GET /hangs", timeout: 50 * time.Millisecond, handler: func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
			<-release // one that does not
			return ok(`{}`), nil
		}},
		{key: "GET /quick", timeout: 5 * time.Second, handler: func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
			return ok(`{}`), nil
		}},
		{key: "GET /sized/{n}", handler: func(_ context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
			var n int
			_, _ = fmt.Sscan(req.PathParameters["n"], &n)
			return ok(sized(n)), nil
		}},
		{key: "POST /echo", handler: func(_ context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
			return ok(fmt.Sprintf(`{"bytes":%d}`, len(req.Body))), nil
		}},
	}
	srv := httptest.NewServer(newServer(nil, routes, slog.New(slog.NewJSONHandler(io.Discard, nil))))
	defer srv.Close()
	do := func(method, path, body string) int {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
		if err != nil {
			t.Fatal(err) // a hung function the runner did not end
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode
	}
	for _, c := range []struct {
		method, path, body string
		want               int
	}{
		{"GET", "/waits", "", 500},
		{"GET", "/hangs", "", 500},
		{"GET", "/quick", "", 200},
		{"GET", fmt.Sprintf("/sized/%d", apigw.MaxResponseBytes), "", 200},
		{"GET", fmt.Sprintf("/sized/%d", apigw.MaxResponseBytes+1), "", 500},
		{"POST", "/echo", `"` + strings.Repeat("y", 5<<20) + `"`, 200},
		{"POST", "/echo", `"` + strings.Repeat("y", 6<<20) + `"`, 413},
	} {
		start := time.Now()
		if got := do(c.method, c.path, c.body); got != c.want {
			t.Errorf("%s %.40s: %d, want %d", c.method, c.path, got, c.want)
		}
		if took := time.Since(start); took > 3*time.Second {
			t.Errorf("%s %.40s took %s", c.method, c.path, took)
		}
	}
}

// Acceptance: a page of the change feed over ~300 KB posts stays within
// Lambda's response limit, which the runner enforces, on both stores.
func TestRecordPagesOfLargePosts(t *testing.T) {
	for _, backend := range []string{"embedded", "aws"} {
		t.Run(backend, func(t *testing.T) {
			r, a := startRunnerApp(t, backend, "0")
			tok := r.token("acct-big-"+backend, "editor", "")
			created := r.do("POST", "/v1/integrations", tok, `{"site_id":"site-1","platform":"wordpress","external_site_url":"https://blog.example.com"}`)
			want(t, created, http.StatusCreated, "create")
			id := created.body["id"].(string)
			const posts = 20
			para := `<p class="intro">Fish & chips, "quoted", <em>émphasis</em>` + "\tand a line\n</p>"
			at := time.Now().UTC().Add(-time.Minute)
			var recs []integration.StoredRecord
			for i := range posts {
				body := fmt.Sprintf("<h1>%d</h1>", i) + strings.Repeat(para, (300<<10)/len(para))
				data, _ := json.Marshal(map[string]any{"external_id": fmt.Sprint(i), "type": "post", "title": fmt.Sprint("Post ", i), "body_html": body})
				recs = append(recs, integration.StoredRecord{IntegrationID: id, Model: "post", ExternalID: fmt.Sprint(i), Hash: fmt.Sprint(i),
					Data: data, ChangedAt: at.Add(time.Duration(i) * time.Millisecond)})
			}
			for i := 0; i < posts; i += 5 {
				if _, err := a.engine.Store.PutRecords(context.Background(), integration.WriteScope{}, recs[i:i+5]); err != nil {
					t.Fatal(err)
				}
			}
			seen, pages, cursor := 0, 0, ""
			for ; pages < 20; pages++ {
				got := r.do("GET", "/v1/integrations/"+id+"/records?model=post&limit=100"+cursor, tok, "")
				want(t, got, http.StatusOK, "records")
				for _, it := range got.body["items"].([]any) {
					item := it.(map[string]any)
					if item["external_id"] != fmt.Sprint(seen) || !strings.HasPrefix(item["body_html"].(string), fmt.Sprintf("<h1>%d</h1><p", seen)) {
						t.Fatalf("item %d is %v", seen, item["external_id"])
					}
					seen++
				}
				next, _ := got.body["next_cursor"].(string)
				if next == "" {
					break
				}
				cursor = "&cursor=" + next
			}
			if seen != posts || pages < 1 {
				t.Fatalf("%d posts read in %d pages, want %d in at least 2", seen, pages+1, posts)
			}
		})
	}
}
