package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go/middleware"

	"github.com/joinery/joinery/pkg/connector/wordpress/wptest"
)

// countDynamo counts DynamoDB operations in the SDK's stack: one per call
// (a paginator's page is a call), not per attempt, so a retry after a
// dropped connection on a loaded machine does not count as a request the
// route makes.
type countDynamo struct{ n atomic.Int64 }

func (c *countDynamo) option(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("CountDynamoDB",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			if awsmiddleware.GetServiceID(ctx) == "DynamoDB" {
				c.n.Add(1)
			}
			return next.HandleInitialize(ctx, in)
		}), middleware.After)
}

// BenchmarkWordPressPull is a full pull of the real WordPress's posts
// through the runner (the queue, the workers, the store), then a re-run
// over the unchanged site. records/s is the full pull's throughput; on
// DynamoDB it also reports requests per synced record.
func BenchmarkWordPressPull(b *testing.B) {
	wp := wptest.Start(b, "local")
	b.Setenv("JOINERY_ALLOW_PRIVATE_NETWORKS", hostPort(b, wp["WP_URL"]))
	for _, backend := range []string{"embedded", "aws"} {
		b.Run(backend, func(b *testing.B) {
			counter := &countDynamo{}
			r := startRunnerWith(b, backend, counter.option)
			editor := r.token("acct-bench", "editor", "")
			pull := `{"direction":"from_external","models":["post"]}`
			var records, first, rerun int64
			var elapsed time.Duration
			for i := 0; i < b.N; i++ {
				created := r.do("POST", "/v1/integrations", editor, fmt.Sprintf(`{"site_id":"bench-%d-%d","platform":"wordpress","external_site_url":%q,"credentials":{"username":"admin","app_password":%q}}`,
					i, time.Now().UnixNano(), wp["WP_URL"], wp["WP_ADMIN_APP_PASSWORD"]))
				want(b, created, http.StatusCreated, "create")
				id := created.body["id"].(string)
				before := counter.n.Load()
				start := time.Now()
				p := syncAndWait(b, r, editor, id, pull)
				elapsed += time.Since(start)
				records += int64(p["items_written"].(float64))
				first += counter.n.Load() - before
				before = counter.n.Load()
				if p := syncAndWait(b, r, editor, id, pull); p["items_written"].(float64) != 0 {
					b.Fatalf("re-run wrote %v", p["items_written"])
				}
				rerun += counter.n.Load() - before
			}
			b.ReportMetric(float64(records)/elapsed.Seconds(), "records/s")
			b.ReportMetric(float64(records)/float64(b.N), "records/run")
			if backend == "aws" {
				b.ReportMetric(float64(first)/float64(records), "ddb-req/record-first")
				b.ReportMetric(float64(rerun)/float64(records), "ddb-req/record-rerun")
			}
		})
	}
}

// BenchmarkWordPressSequentialHTTP pages through the same posts with a
// plain loop of HTTP requests, one after another, as a baseline.
func BenchmarkWordPressSequentialHTTP(b *testing.B) {
	wp := wptest.Start(b, "local")
	client := &http.Client{Timeout: 30 * time.Second}
	var records int64
	var elapsed time.Duration
	for i := 0; i < b.N; i++ {
		start := time.Now()
		for page := 1; ; page++ {
			q := url.Values{"context": {"edit"}, "per_page": {"100"}, "page": {strconv.Itoa(page)}, "orderby": {"id"}, "order": {"asc"},
				"status": {"publish,future,draft,pending,private,trash"}}
			req, _ := http.NewRequest("GET", wp["WP_URL"]+"/wp-json/wp/v2/posts?"+q.Encode(), nil)
			req.SetBasicAuth("admin", wp["WP_ADMIN_APP_PASSWORD"])
			resp, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			var posts []json.RawMessage
			err = json.NewDecoder(resp.Body).Decode(&posts)
			resp.Body.Close()
			if err != nil {
				b.Fatal(err)
			}
			records += int64(len(posts))
			pages, _ := strconv.Atoi(resp.Header.Get("X-WP-TotalPages"))
			if page >= pages {
				break
			}
		}
		elapsed += time.Since(start)
	}
	b.ReportMetric(float64(records)/elapsed.Seconds(), "records/s")
	b.ReportMetric(float64(records)/float64(b.N), "records/run")
}
