package apigw_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/apigw"
	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/embedded"
	"github.com/joinery/joinery/pkg/integration"
	"github.com/joinery/joinery/pkg/syncer"
)

// The site feed keeps the integration feed's page limits: a page stops
// filling before its response passes 5 MB, a record over 1 MB is listed
// without its body, and every item names its integration and platform.
func TestSitePagesStayWithinTheResponseLimit(t *testing.T) {
	api := newAPI(t)
	status, created, resp := call(t, api.CreateIntegration(), loadEvent(t, "integrations-create.json"))
	if status != 201 {
		t.Fatalf("create: %d %s", status, resp.Body)
	}
	id := created["id"].(string)
	store := api.Service.Store.(*embedded.Store)
	sizes := make([]int, 20)
	for i := range sizes {
		sizes[i] = 300 << 10
	}
	sizes[3] = 1100 << 10
	changed := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	var recs []integration.StoredRecord
	for i, size := range sizes {
		ext := fmt.Sprint(i + 1)
		data, _ := json.Marshal(map[string]any{"external_id": ext, "type": "post", "title": "Post " + ext, "body_html": postHTML(ext, size)})
		recs = append(recs, integration.StoredRecord{IntegrationID: id, Model: "post", ExternalID: ext, Hash: "h" + ext, Data: data,
			ChangedAt: changed.Add(time.Duration(i) * time.Millisecond)})
	}
	site := &integration.SiteRef{AccountID: "acct-example", SiteID: "site-1"}
	if _, err := store.PutRecords(context.Background(), integration.WriteScope{Site: site}, recs); err != nil {
		t.Fatal(err)
	}
	s := &apigw.SyncAPI{API: api, Engine: &syncer.Engine{Integrations: api.Service, Store: store, FeedSafety: -1,
		Connectors: map[string]connector.Connector{"wordpress": &onePage{}}}}

	var items []map[string]any
	pages, cursor := 0, ""
	for ; pages < 50; pages++ {
		ev := loadEvent(t, "sites-records.json")
		ev.PathParameters = map[string]string{"site_id": "site-1"}
		ev.QueryStringParameters = map[string]string{"model": "post", "limit": "100"}
		if cursor != "" {
			ev.QueryStringParameters["cursor"] = cursor
		}
		status, body, resp := call(t, s.SiteRecords(), ev)
		if status != 200 {
			t.Fatalf("site records: %d %.300s", status, resp.Body)
		}
		if n := apigw.EnvelopeSize(resp); n > apigw.PageBudgetBytes {
			t.Fatalf("a page's response is %d bytes, over the %d a page may use", n, apigw.PageBudgetBytes)
		}
		for _, it := range body["items"].([]any) {
			items = append(items, it.(map[string]any))
		}
		if cursor, _ = body["next_cursor"].(string); cursor == "" {
			break
		}
	}
	if pages < 1 || len(items) != len(sizes) {
		t.Fatalf("%d items in %d pages, want %d in at least 2", len(items), pages+1, len(sizes))
	}
	for i, it := range items {
		_, hasBody := it["body_html"]
		if it["external_id"] != fmt.Sprint(i+1) || it["integration_id"] != id || it["platform"] != "wordpress" || hasBody != (i != 3) {
			t.Fatalf("item %d: %v %v %v body shown %v", i, it["external_id"], it["integration_id"], it["platform"], hasBody)
		}
	}
}
