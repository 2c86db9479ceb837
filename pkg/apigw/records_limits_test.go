package apigw_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/joinery/joinery/pkg/apigw"
	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/embedded"
	"github.com/joinery/joinery/pkg/integration"
	"github.com/joinery/joinery/pkg/syncer"
)

// postHTML is a post's body of about n bytes, with what JSON escapes
// (quotes, newlines) and what HTML escaping would grow (<, >, &).
func postHTML(id string, n int) string {
	para := fmt.Sprintf("<p class=\"post-%s\">Fish & chips, \"quoted\", <em>émphasis</em>\tand a line\n</p>", id)
	return strings.Repeat(para, n/len(para)+1)[:n/len(para)*len(para)]
}

// bigRecordsAPI stores posts whose bodies have the given sizes.
func bigRecordsAPI(t *testing.T, sizes []int) (*apigw.SyncAPI, map[string]string) {
	t.Helper()
	api := newAPI(t)
	if resp, _ := api.CreateIntegration()(context.Background(), loadEvent(t, "integrations-create.json")); resp.StatusCode != 201 {
		t.Fatalf("create: %d %s", resp.StatusCode, resp.Body)
	}
	store := api.Service.Store.(*embedded.Store)
	changed := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	bodies := map[string]string{}
	var recs []integration.StoredRecord
	for i, size := range sizes {
		id := fmt.Sprint(i + 1)
		bodies[id] = postHTML(id, size)
		data, _ := json.Marshal(map[string]any{"external_id": id, "type": "post", "title": "Post " + id, "body_html": bodies[id]})
		recs = append(recs, integration.StoredRecord{IntegrationID: "01JDEMO0000000000000000000", Model: "post", ExternalID: id,
			Hash: "h" + id, Data: data, ChangedAt: changed.Add(time.Duration(i) * time.Millisecond)})
	}
	if _, err := store.PutRecords(context.Background(), integration.WriteScope{}, recs); err != nil {
		t.Fatal(err)
	}
	engine := &syncer.Engine{Integrations: api.Service, Store: store, FeedSafety: -1,
		Connectors: map[string]connector.Connector{"wordpress": &onePage{}}}
	return &apigw.SyncAPI{API: api, Engine: engine}, bodies
}

// readFeed pages through the posts, checking every response's size.
func readFeed(t *testing.T, s *apigw.SyncAPI, limit int) (items []map[string]any, pages, sizes []int) {
	t.Helper()
	cursor := ""
	for range 100 {
		ev := loadEvent(t, "integrations-records.json")
		ev.QueryStringParameters = map[string]string{"model": "post", "limit": fmt.Sprint(limit)}
		if cursor != "" {
			ev.QueryStringParameters["cursor"] = cursor
		}
		status, body, resp := call(t, s.Records(), ev)
		if status != 200 {
			t.Fatalf("records: %d %.300s", status, resp.Body)
		}
		if n := apigw.EnvelopeSize(resp); n > apigw.PageBudgetBytes {
			t.Fatalf("a page's response is %d bytes, over the %d a page may use", n, apigw.PageBudgetBytes)
		}
		page, _ := body["items"].([]any)
		for _, it := range page {
			items = append(items, it.(map[string]any))
		}
		pages, sizes = append(pages, len(page)), append(sizes, apigw.EnvelopeSize(resp))
		next, _ := body["next_cursor"].(string)
		if next == "" {
			return items, pages, sizes
		}
		cursor = next
	}
	t.Fatal("the feed never ended")
	return nil, nil, nil
}

// A page of ~300 KB posts stops filling before its response passes 5 MB;
// the next page goes on from there, and no post is lost or repeated.
func TestRecordPagesStayWithinTheResponseLimit(t *testing.T) {
	posts := make([]int, 24)
	for i := range posts {
		posts[i] = 300 << 10
	}
	s, bodies := bigRecordsAPI(t, posts)
	items, pages, sizes := readFeed(t, s, 100)
	if len(pages) < 2 {
		t.Fatalf("pages of %v posts: 7 MB of posts take at least two", pages)
	}
	// Each page is as full as it may be: the next post would not fit.
	first := 0
	for i := range len(pages) - 1 {
		first += pages[i]
		next := apigw.EnvelopeSize(events.APIGatewayV2HTTPResponse{Body: `"` + encode(t, items[first]) + `",`}) -
			apigw.EnvelopeSize(events.APIGatewayV2HTTPResponse{})
		if sizes[i]+next <= apigw.PageBudgetBytes {
			t.Errorf("page %d (%d posts, %d bytes) ended though the next post (%d bytes more) fits", i+1, pages[i], sizes[i], next)
		}
	}
	if len(items) != len(posts) {
		t.Fatalf("%d posts read, want %d", len(items), len(posts))
	}
	for i, it := range items {
		id := fmt.Sprint(i + 1)
		if it["external_id"] != id || it["body_html"] != bodies[id] || it["body_omitted"] != nil {
			t.Fatalf("post %d read as %v (want post %s whole)", i, it["external_id"], id)
		}
	}
}

// A record whose JSON passes 1 MB is listed without body_html and with
// body_omitted; its body reads in parts of at most 4 MB.
func TestLargeBodiesAreReadInParts(t *testing.T) {
	s, bodies := bigRecordsAPI(t, []int{2 << 10, 1100 << 10, 3584 << 10, 900 << 10})
	items, _, _ := readFeed(t, s, 100)
	if len(items) != 4 {
		t.Fatalf("%d records listed, want 4", len(items))
	}
	for i, omitted := range []bool{false, true, true, false} {
		it := items[i]
		_, hasBody := it["body_html"]
		if got, _ := it["body_omitted"].(bool); got != omitted || hasBody == omitted {
			t.Errorf("record %d: body_omitted %v, body_html shown %v; want omitted %v", i+1, it["body_omitted"], hasBody, omitted)
		}
		if it["title"] != fmt.Sprintf("Post %d", i+1) {
			t.Errorf("record %d lost its other fields: %v", i+1, it["title"])
		}
	}

	get := func(id string, q map[string]string) (int, map[string]any, events.APIGatewayV2HTTPResponse) {
		ev := loadEvent(t, "integrations-record-get.json")
		ev.PathParameters["external_id"] = id
		ev.QueryStringParameters = q
		return call(t, s.Record(), ev)
	}
	// The record alone follows the same rule.
	if status, body, resp := get("3", nil); status != 200 || body["body_omitted"] != true || body["body_html"] != nil {
		t.Fatalf("record 3: %d %.300s", status, resp.Body)
	}
	for _, id := range []string{"1", "2", "3"} {
		var got strings.Builder
		parts := 1
		for n := 1; n <= parts; n++ {
			status, body, resp := get(id, map[string]string{"field": "body_html", "part": fmt.Sprint(n)})
			if status != 200 {
				t.Fatalf("record %s part %d: %d %.300s", id, n, status, resp.Body)
			}
			if size := apigw.EnvelopeSize(resp); size > apigw.PartBytes+1024 {
				t.Fatalf("record %s part %d: a %d-byte response", id, n, size)
			}
			if body["part"] != float64(n) || body["changed_at"] == nil {
				t.Fatalf("record %s part %d: %v", id, n, body["part"])
			}
			parts = int(body["parts"].(float64))
			got.WriteString(body["data"].(string))
		}
		if got.String() != bodies[id] {
			t.Fatalf("record %s: its %d parts make %d bytes, want the %d of its body", id, parts, got.Len(), len(bodies[id]))
		}
		if id == "3" && parts < 2 {
			t.Fatalf("a 3.5 MB body (4.2 MB escaped) in %d parts", parts)
		}
		if id == "1" && parts != 1 {
			t.Fatalf("a small body in %d parts", parts)
		}
	}
	for name, c := range map[string]struct {
		q     map[string]string
		field string
	}{
		"a field that cannot be read in parts": {map[string]string{"field": "title", "part": "1"}, "field"},
		"a part without a field":               {map[string]string{"part": "1"}, "field"},
		"a field without a part":               {map[string]string{"field": "body_html"}, "part"},
		"part 0":                               {map[string]string{"field": "body_html", "part": "0"}, "part"},
		"a part that is not a number":          {map[string]string{"field": "body_html", "part": "two"}, "part"},
		"a part past the end":                  {map[string]string{"field": "body_html", "part": "9"}, "part"},
	} {
		status, body, resp := get("2", c.q)
		e, _ := body["error"].(map[string]any)
		fields, _ := e["fields"].(map[string]any)
		if status != 400 || fields[c.field] == nil {
			t.Errorf("%s: %d %s, want 400 naming %s", name, status, resp.Body, c.field)
		}
	}
	if status, _, resp := get("99", map[string]string{"field": "body_html", "part": "1"}); status != 404 {
		t.Errorf("a part of an unknown record: %d %s", status, resp.Body)
	}
}

func encode(t *testing.T, v any) string {
	t.Helper()
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(b.String(), "\n")
}
