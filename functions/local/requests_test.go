package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/smithy-go/middleware"
	"github.com/joinery/joinery/pkg/dynamostore"
	"github.com/joinery/joinery/pkg/integration"
)

// routeCounts are the DynamoDB requests of each GET route for one
// integration holding n records, n events and n pushes.
type routeCounts struct {
	n      int
	counts map[string]int64
	seed   time.Duration
}

// countRouteRequests starts the runner on moto, seeds an integration per
// size (with BatchWriteItem) and counts the DynamoDB requests of every
// GET route on it, each called once before to warm what a Lambda keeps
// between invocations.
//
// stretch multiplies the functions' timeouts: moto is one Python thread
// that takes seconds over a request at 100,000 items where DynamoDB takes
// milliseconds, and the counts, not the times, are what is measured.
func countRouteRequests(t testing.TB, stretch time.Duration, sizes ...int) []routeCounts {
	t.Helper()
	counter := &countDynamo{}
	// The webhook endpoint's URL: plain http to a local port.
	t.Setenv("JOINERY_ALLOW_PRIVATE_NETWORKS", "127.0.0.1:9")
	setup := func(a *app) {
		for i := range a.routes {
			a.routes[i].timeout *= stretch
		}
	}
	r, a := startRunnerOpts(t, "aws", runnerOptions{aws: []func(*middleware.Stack) error{counter.option}, noWorker: true, setup: setup})
	store, ok := a.engine.Store.(*dynamostore.Store)
	if !ok {
		t.Fatalf("the runner's sync store is %T, not DynamoDB", a.engine.Store)
	}
	editor := r.token("acct-req", "editor", "")
	var out []routeCounts
	for _, n := range sizes {
		site := fmt.Sprint("site-", n)
		created := r.do("POST", "/v1/integrations", editor, `{"site_id":"`+site+`","platform":"wordpress","external_site_url":"https://blog.example.com","credentials":{"username":"u","app_password":"abcd efgh ijkl mnop"}}`)
		want(t, created, http.StatusCreated, "create")
		id := created.body["id"].(string)
		start := time.Now()
		pushID, err := store.Seed(context.Background(), "acct-req", site, id, "post", n, time.Now().UTC().Add(-time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		seeded := time.Since(start)
		want(t, r.do("POST", "/v1/integrations/"+id+"/sync", editor, `{"direction":"from_external"}`), http.StatusAccepted, "start a run")
		key := r.do("POST", "/v1/sites/"+site+"/keys", editor, `{"name":"plugin"}`)
		want(t, key, http.StatusCreated, "site key")
		endpointID := seedEndpoint(t, r, store, site, n)
		changed := url.QueryEscape(time.Now().UTC().Add(-30 * time.Minute).Format(time.RFC3339Nano))
		routes := map[string]string{
			"GET /v1/integrations":                                 "/v1/integrations?site_id=" + site,
			"GET /v1/integrations/{id}":                            "/v1/integrations/" + id,
			"GET /v1/sites/{site_id}/keys":                         "/v1/sites/" + site + "/keys",
			"GET /v1/integrations/{id}/sync_status":                "/v1/integrations/" + id + "/sync_status",
			"GET /v1/integrations/{id}/sync_health":                "/v1/integrations/" + id + "/sync_health",
			"GET /v1/integrations/{id}/records":                    "/v1/integrations/" + id + "/records?model=post",
			"GET /v1/integrations/{id}/records?modified_after":     "/v1/integrations/" + id + "/records?model=post&modified_after=" + changed,
			"GET /v1/integrations/{id}/records/{model}/{ext}":      "/v1/integrations/" + id + "/records/post/1",
			"GET /v1/sites/{site_id}/records":                      "/v1/sites/" + site + "/records?model=post",
			"GET /v1/sites/{site_id}/records?modified_after":       "/v1/sites/" + site + "/records?model=post&modified_after=" + changed,
			"GET /v1/integrations/{id}/events":                     "/v1/integrations/" + id + "/events",
			"GET /v1/integrations/{id}/events?status=error":        "/v1/integrations/" + id + "/events?status=error",
			"GET /v1/integrations/{id}/events?status=warning":      "/v1/integrations/" + id + "/events?status=warning",
			"GET /v1/integrations/{id}/events?status=error&type=…": "/v1/integrations/" + id + "/events?status=error&type=item_failed",
			"GET /v1/integrations/{id}/runs":                       "/v1/integrations/" + id + "/runs",
			"GET /v1/integrations/{id}/events?type=…":              "/v1/integrations/" + id + "/events?type=item_failed",
			"GET /v1/integrations/{id}/events?status=ok":           "/v1/integrations/" + id + "/events?status=ok",
			"GET /v1/integrations/{id}/pushes/{push_id}":           "/v1/integrations/" + id + "/pushes/" + pushID,
			"GET /v1/integrations/{id}/pushes":                     "/v1/integrations/" + id + "/pushes",
			"GET /v1/integrations/{id}/pushes?status=queued":       "/v1/integrations/" + id + "/pushes?status=queued",
			"GET /v1/integrations/{id}/pushes?status=conflict":     "/v1/integrations/" + id + "/pushes?status=conflict",
			"GET /v1/integrations/{id}/pushes?local_id=…":          "/v1/integrations/" + id + "/pushes?local_id=local-1&status=queued",
			"GET /v1/platforms":                                    "/v1/platforms",
			"GET /v1/webhook_endpoints":                            "/v1/webhook_endpoints",
			"GET /v1/webhook_endpoints/{id}":                       "/v1/webhook_endpoints/" + endpointID,
			"GET /v1/webhook_endpoints/{id}/deliveries":            "/v1/webhook_endpoints/" + endpointID + "/deliveries",
			"GET /v1/webhook_endpoints/{id}/deliveries?status=…":   "/v1/webhook_endpoints/" + endpointID + "/deliveries?status=failed",
			"GET /v1/openapi.json":                                 "/v1/openapi.json",
			"GET /v1/models":                                       "/v1/models",
			"GET /v1/models/{model}":                               "/v1/models/product",
			// The platform's redirect back: its work is one conditional
			// delete of the state whatever it carries (a forged one here).
			"GET /v1/oauth/{platform}/callback": "/v1/oauth/slack/callback?code=c&state=forged-" + site,
		}
		// Every GET route is counted, but …/content_types: it asks the
		// platform, not the table.
		covered := map[string]bool{"GET /v1/integrations/{id}/content_types": true}
		for name := range routes {
			key, _, _ := strings.Cut(name, "?")
			covered[strings.Replace(key, "{ext}", "{external_id}", 1)] = true
		}
		for _, rt := range a.routes {
			if strings.HasPrefix(rt.key, "GET ") && !covered[rt.key] {
				t.Fatalf("the route %s is not counted", rt.key)
			}
		}
		viewer := r.token("acct-req", "viewer", "")
		counts := map[string]int64{}
		for name, path := range routes {
			token, status := viewer, http.StatusOK
			if strings.Contains(name, "/keys") {
				token = editor // site keys are for editors
			}
			if strings.Contains(name, "/webhook_endpoints") {
				token = r.token("acct-req", "admin", "") // endpoints are for admins
			}
			if strings.HasPrefix(name, "GET /v1/oauth/") {
				token, status = "", http.StatusBadRequest // no authorizer; an unknown state
			}
			want(t, r.do("GET", path, token, ""), status, name+" (warm-up)")
			before := counter.n.Load()
			got := r.do("GET", path, token, "")
			counts[name] = counter.n.Load() - before
			want(t, got, status, name)
			if strings.Contains(name, "events?") || name == "GET /v1/sites/{site_id}/records" {
				if items, _ := got.body["items"].([]any); len(items) == 0 {
					t.Fatalf("%s listed nothing: %s", name, got.raw)
				}
			}
			if strings.Contains(name, "pushes?status=queued") || strings.Contains(name, "pushes?local_id") {
				if items, _ := got.body["items"].([]any); len(items) == 0 {
					t.Fatalf("%s listed nothing: %s", name, got.raw)
				}
			}
			if name == "GET /v1/integrations/{id}/sync_health" {
				if recs := got.body["records"].(map[string]any); recs["post"] != float64(n) || got.body["pending_pushes"] != float64(n) {
					t.Fatalf("sync_health at %d: %s", n, got.raw)
				}
			}
		}
		out = append(out, routeCounts{n: n, counts: counts, seed: seeded})
	}
	return out
}

// printCounts writes a table of requests per route, one column a size.
func printCounts(w *os.File, all []routeCounts) {
	var names []string
	for name := range all[0].counts {
		names = append(names, name)
	}
	sort.Strings(names)
	fmt.Fprintf(w, "%-58s", "DynamoDB requests per call (moto)")
	for _, c := range all {
		fmt.Fprintf(w, " %10s", fmt.Sprint(c.n, " each"))
	}
	fmt.Fprintln(w)
	for _, name := range names {
		fmt.Fprintf(w, "%-58s", name)
		for _, c := range all {
			fmt.Fprintf(w, " %10d", c.counts[name])
		}
		fmt.Fprintln(w)
	}
}

// Every GET route makes as many DynamoDB requests for an integration with
// 2,000 records, events and pushes as for one with 10.
func TestRequestsPerRouteAreBounded(t *testing.T) {
	all := countRouteRequests(t, 1, 10, 2000)
	small, big := all[0], all[1]
	var diff []string
	for name, n := range small.counts {
		if big.counts[name] != n {
			diff = append(diff, fmt.Sprintf("%s: %d at 10, %d at 2,000", name, n, big.counts[name]))
		}
	}
	if len(diff) > 0 {
		printCounts(os.Stderr, all)
		sort.Strings(diff)
		t.Fatalf("requests grow with the data:\n%s", strings.Join(diff, "\n"))
	}
}

// BenchmarkRequestsPerRoute reports the DynamoDB requests of every GET
// route at 100,000 records, events and pushes (make bench), next to 10.
func BenchmarkRequestsPerRoute(b *testing.B) {
	if os.Getenv("BENCH_ROUTE_SIZE") == "" {
		b.Setenv("BENCH_ROUTE_SIZE", "100000")
	}
	var size int
	fmt.Sscan(os.Getenv("BENCH_ROUTE_SIZE"), &size)
	for i := 0; i < b.N; i++ {
		all := countRouteRequests(b, 30, 10, size)
		fmt.Printf("\nseeded %d records, events and pushes in %s (BatchWriteItem)\n", size, all[1].seed.Round(time.Second))
		printCounts(os.Stdout, all)
		for name, n := range all[0].counts {
			if all[1].counts[name] != n {
				fmt.Printf("!! %s: %d requests at 10, %d at %d\n", name, n, all[1].counts[name], size)
			}
		}
	}
}

// seedEndpoint makes a webhook endpoint of the site with n deliveries in
// its log, and returns its id.
func seedEndpoint(t testing.TB, r *runner, store *dynamostore.Store, site string, n int) string {
	t.Helper()
	admin := r.token("acct-req", "admin", "")
	created := r.do("POST", "/v1/webhook_endpoints", admin, `{"url":"http://127.0.0.1:9/in","site_ids":["`+site+`"],"event_types":["sync.*"]}`)
	want(t, created, http.StatusCreated, "webhook endpoint")
	id := created.body["id"].(string)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 8 {
				now := time.Now().UTC()
				d := &integration.NotifyDelivery{ID: fmt.Sprintf("dlv_%s_%06d", id, i), AccountID: "acct-req", EndpointID: id, EventID: fmt.Sprint("evt_", i),
					EventType: "sync.completed", Event: "{}", Status: integration.NotifyFailed, Attempts: 8, StatusCode: 500, CreatedAt: now, UpdatedAt: now}
				if err := store.PutNotifyDelivery(ctx, d); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	return id
}
