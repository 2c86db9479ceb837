package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/connector/shopify"
	"github.com/joinery/joinery/pkg/fakeplatforms"
)

// shopRunner is a runner whose Shopify is the fake, on one virtual clock
// shared by the fake (tokens, its cost bucket), the connect flow and the
// engine: waiting for API points moves the clock instead of sleeping.
type shopRunner struct {
	*runner
	app   *app
	clock *vclock
	fake  *fakeplatforms.Server
}

func startShopRunner(t *testing.T, backend string) *shopRunner {
	t.Helper()
	clock := &vclock{t: time.Now().UTC()}
	fake := fakeplatforms.Start(t, "shopify", fakeplatforms.Options{ClientID: "cid-shopify", ClientSecret: "csecret-shopify", Now: clock.Now})
	b, _ := json.Marshal(map[string]any{"shopify": map[string]string{"client_id": "cid-shopify", "client_secret": "csecret-shopify"}})
	appsFile := filepath.Join(t.TempDir(), "apps.json")
	if err := os.WriteFile(appsFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	r, a := startRunnerOpts(t, backend, runnerOptions{
		settings: func(s *settings) {
			s.PlatformOrigins = "shopify=" + fake.URL()
			s.ReturnOrigins = []string{"https://app.example.com"}
			s.AppsFile = appsFile
		},
		setup: func(a *app) {
			a.flow.Now = clock.Now
			a.tokens.Now = clock.Now
			a.engine.Now = clock.Now
			a.engine.Rates.Sleep = func(_ context.Context, d time.Duration) error { clock.Add(d); return nil }
			a.shopify.Now = clock.Now
		},
	})
	return &shopRunner{runner: r, app: a, clock: clock, fake: fake}
}

// shopEventually polls cond until it holds, for at most a minute.
func shopEventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("%s: not within a minute", what)
}

// Shopify end to end through the runner against the fake, on both
// backends: connect by OAuth; a full pull of 2,000 products (on the
// Standard plan's bucket, which a client that does not wait runs dry
// within six pages) gives exactly the fake's products with no THROTTLED
// answer; a second full run writes nothing; an edit reaches Joinery by an
// incremental run, and another by webhook with no run; a product created
// and updated through the connector comes back by webhook; a deleted one
// is marked deleted; the compliance topics are answered; app/uninstalled
// asks for reauthorization.
func TestShopifyEndToEnd(t *testing.T) {
	for _, backend := range []string{"embedded", "aws"} {
		t.Run(backend, func(t *testing.T) {
			began := time.Now()
			s := startShopRunner(t, backend)
			editor := s.token("acct-shop-"+backend, "editor", "")
			const products = 2000
			s.fake.SeedProducts(products)

			// Connect.
			created := s.do("POST", "/v1/integrations", editor, `{"site_id":"shop","platform":"shopify","external_site_url":"https://acme.myshopify.com",
				"config":{"inventory_location_id":"`+fakeplatforms.ShopifyGID("Location", fakeplatforms.ShopifyLocationID)+`"}}`)
			want(t, created, http.StatusCreated, "create")
			id := created.body["id"].(string)
			got := s.do("POST", "/v1/integrations/"+id+"/oauth/authorize", editor, `{"return_url":"https://app.example.com/done"}`)
			want(t, got, http.StatusOK, "authorize")
			cb, err := s.fake.Consent(got.body["authorize_url"].(string))
			if err != nil {
				t.Fatal(err)
			}
			hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			resp, err := hc.Get(cb)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if loc := resp.Header.Get("Location"); !strings.Contains(loc, "status=connected") {
				t.Fatalf("callback: %d %s", resp.StatusCode, loc)
			}
			// Connected: the store posts its webhooks to Joinery before any run.
			subs := s.fake.WebhookSubscriptions()
			if len(subs) != 4 {
				t.Fatalf("subscriptions after connecting: %+v", subs)
			}
			for _, sub := range subs {
				if !strings.HasSuffix(sub.URI, "/webhooks/shopify/"+id) {
					t.Fatalf("subscribed after connecting: %+v", sub)
				}
			}
			test := s.do("POST", "/v1/integrations/"+id+"/test_connection", editor, "")
			if test.body["ok"] != true || !strings.Contains(test.body["message"].(string), "acme.myshopify.com") {
				t.Fatalf("test_connection: %s", test.raw)
			}

			// The full pull.
			start := s.clock.Now()
			// The first run reads everything (there is no cursor yet); the
			// second, full, also looks for deleted products.
			p := finishRun(t, s.runner, editor, id, startRun(t, s.runner, editor, id, `{"direction":"from_external"}`))
			recs := feedPages(t, s.runner, editor, id, "model=product&limit=100")
			if len(recs) != s.fake.ProductCount() || len(recs) != products || p["items_written"] != float64(products) {
				t.Fatalf("%d records (%v written) of the fake's %d", len(recs), p["items_written"], s.fake.ProductCount())
			}
			if n := s.fake.Throttled(); n != 0 {
				t.Fatalf("%d THROTTLED answers", n)
			}
			t.Logf("%s: 2,000 products in %d GraphQL calls, %v of the store's clock", backend, s.fake.GraphQLCalls(), s.clock.Now().Sub(start).Round(time.Second))
			one := recs[fakeplatforms.ShopifyGID("Product", s.fake.Products()[0].ID)]
			if one == nil || one["model"] != "product" || one["status"] != "active" || one["raw_ref"] == "" || len(one["variants"].([]any)) != 2 {
				t.Fatalf("a product record: %v", one)
			}
			checkSchemas(t, "product", recs)
			subs = s.fake.WebhookSubscriptions()
			if len(subs) != 4 || !strings.HasSuffix(subs[0].URI, "/webhooks/shopify/"+id) {
				t.Fatalf("subscriptions after the first run: %+v", subs)
			}

			record := func(gid string) map[string]any {
				got := s.do("GET", "/v1/integrations/"+id+"/records/product/"+url.PathEscape(gid), editor, "")
				if got.status == http.StatusNotFound {
					return map[string]any{}
				}
				want(t, got, http.StatusOK, "record")
				return got.body
			}

			t.Logf("%s: full pull done after %v", backend, time.Since(began).Round(time.Millisecond))
			// A second run writes nothing: a full one on embedded (every
			// product read again and compared); on moto an incremental one,
			// since moto, one Python thread, takes about a minute to read
			// 2,000 records back, and this package must stay well within
			// its time.
			rerun := `{"direction":"from_external","full":true}`
			if backend == "aws" {
				rerun = `{"direction":"from_external"}`
			}
			if p := finishRun(t, s.runner, editor, id, startRun(t, s.runner, editor, id, rerun)); p["items_written"] != float64(0) {
				t.Fatalf("the second run wrote %v", p["items_written"])
			}

			// An edit made while the store's subscriptions were lost
			// reaches Joinery by an incremental run, which subscribes again.
			conn := connector.Connection{SiteURL: s.fake.URL(), HTTP: s.fake.Client(), Credentials: map[string]string{"access_token": s.fake.Mint().AccessToken},
				Config: map[string]any{shopify.LocationKey: fakeplatforms.ShopifyGID("Location", fakeplatforms.ShopifyLocationID)}}
			c := shopify.New()
			if err := c.Unsubscribe(context.Background(), conn, "/webhooks/shopify/"+id); err != nil || len(s.fake.WebhookSubscriptions()) != 0 {
				t.Fatalf("unsubscribe: %v", err)
			}
			s.clock.Add(time.Hour)
			first := s.fake.Products()[0].ID
			if _, err := s.fake.EditProduct(first, func(p *fakeplatforms.ShopifyProduct) { p.Title = "Edited for the run" }); err != nil {
				t.Fatal(err)
			}
			s.clock.Add(time.Minute)
			if p := finishRun(t, s.runner, editor, id, startRun(t, s.runner, editor, id, `{"direction":"from_external"}`)); p["items_written"] != float64(1) {
				t.Fatalf("the incremental run wrote %v", p["items_written"])
			}
			gid := fakeplatforms.ShopifyGID("Product", first)
			if r := record(gid); r["title"] != "Edited for the run" {
				t.Fatalf("after the incremental run: %v", r)
			}
			if n := len(s.fake.WebhookSubscriptions()); n != 4 {
				t.Fatalf("%d subscriptions after the run", n)
			}

			t.Logf("%s: second and incremental runs done after %v", backend, time.Since(began).Round(time.Millisecond))
			// An edit reaches Joinery by webhook, with no run.
			second := s.fake.Products()[1].ID
			if _, err := s.fake.EditProduct(second, func(p *fakeplatforms.ShopifyProduct) { p.Title = "Edited for the webhook" }); err != nil {
				t.Fatal(err)
			}
			gid2 := fakeplatforms.ShopifyGID("Product", second)
			shopEventually(t, "the webhook's edit", func() bool { return record(gid2)["title"] == "Edited for the webhook" })

			// A push through the API: created, then updated (the same local
			// id), with its quantity set at the configured location; the
			// record is the product as Shopify has it.
			s.fake.WebhooksOnAPIWrites(true)
			push := func(data string) map[string]any {
				got := s.do("POST", "/v1/integrations/"+id+"/records", editor, `{"model":"product","local_id":"tee-1","data":`+data+`}`)
				want(t, got, http.StatusAccepted, "push")
				return waitPush(t, s.runner, editor, id, got.body["push_id"].(string))
			}
			// Schema errors first, naming the field.
			bad := s.do("POST", "/v1/integrations/"+id+"/records", editor, `{"model":"product","local_id":"tee-1","data":{"title":7,"variants":[{"price":"cheap","inventory_quantity":1}]}}`)
			if bad.status != http.StatusBadRequest || !strings.Contains(bad.raw, "data.title") || !strings.Contains(bad.raw, "data.variants[0].price") {
				t.Fatalf("a push not fitting the schema: %d %s", bad.status, bad.raw)
			}
			made := push(`{"title":"Pushed tee","status":"draft","options":[{"name":"Size","values":["S"]}],
				"variants":[{"sku":"PT-S","price":"25.00","inventory_quantity":6,"option_values":[{"name":"Size","value":"S"}]}]}`)
			if made["status"] != "done" || made["external_id"] == nil {
				t.Fatalf("the creating push: %v", made)
			}
			madeID := made["external_id"].(string)
			if upd := push(`{"title":"Pushed tee, updated"}`); upd["status"] != "done" || upd["external_id"] != madeID {
				t.Fatalf("the updating push: %v (created %s)", upd, madeID)
			}
			if n := s.fake.ProductCount(); n != products+1 {
				t.Fatalf("the store has %d products after a create and an update", n)
			}
			s.fake.WaitDeliveries()
			shopEventually(t, "the pushed product", func() bool { return record(madeID)["title"] == "Pushed tee, updated" })
			pushed := record(madeID)
			if v := pushed["variants"].([]any)[0].(map[string]any); v["inventory_quantity"] != float64(6) || v["price"] != "25.00" || pushed["status"] != "draft" {
				t.Fatalf("pushed product: %v", pushed)
			}
			checkSchemas(t, "product", map[string]map[string]any{madeID: pushed, gid: record(gid)})

			// A delete is marked deleted.
			third := s.fake.Products()[2].ID
			if err := s.fake.DeleteProduct(third); err != nil {
				t.Fatal(err)
			}
			shopEventually(t, "the deletion", func() bool { return record(fakeplatforms.ShopifyGID("Product", third))["deleted"] == true })

			// Compliance topics are answered, for this shop and when it is
			// unknown.
			for _, topic := range fakeplatforms.ShopifyComplianceTopics {
				if _, err := s.fake.SendCompliance(topic, s.url+"/webhooks/shopify"); err != nil {
					t.Fatal(err)
				}
			}

			// Uninstalled: the connection needs reauthorization.
			if err := s.fake.Uninstall(); err != nil {
				t.Fatal(err)
			}
			shopEventually(t, "reauthorization_required", func() bool {
				return s.do("GET", "/v1/integrations/"+id, editor, "").body["connection_status"] == "reauthorization_required"
			})
			if n := s.fake.Throttled(); n != 0 {
				t.Fatalf("%d THROTTLED answers", n)
			}
		})
	}
}
