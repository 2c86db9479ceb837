package fakeplatforms

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/webhook"
)

const setMutation = `mutation($input: ProductSetInput!, $identifier: ProductSetIdentifiers) {
	productSet(input: $input, synchronous: true, identifier: $identifier) {
		product { id handle title status tags updatedAt options { id name values } variants(first: 10) { nodes { id sku title price compareAtPrice inventoryQuantity selectedOptions { name value } inventoryItem { id } } } }
		userErrors { field message code } } }`

func userErrorAt(a gqlAnswer, prefix string) string {
	for _, e := range a.list("data.productSet.userErrors") {
		e := e.(map[string]any)
		b, _ := json.Marshal(e["field"])
		if strings.HasPrefix(string(b), prefix) {
			return e["code"].(string)
		}
	}
	return ""
}

func TestShopifyProductSet(t *testing.T) {
	s, clk, tok := startShop(t)
	t0 := clk.Now()
	a := gqlPost(t, s, tok, setMutation, map[string]any{"input": map[string]any{
		"title": "Tee", "status": "DRAFT", "tags": []string{"summer", " cotton ", "summer"},
		"productOptions": []any{map[string]any{"name": "Size", "values": []any{map[string]any{"name": "S"}, map[string]any{"name": "M"}, map[string]any{"name": "L"}}}},
		"variants": []any{
			map[string]any{"sku": "T-S", "price": "10.00", "optionValues": []any{map[string]any{"optionName": "Size", "name": "S"}},
				"inventoryQuantities": []any{map[string]any{"locationId": ShopifyGID("Location", ShopifyLocationID), "name": "available", "quantity": 4}}},
			map[string]any{"sku": "T-M", "price": 11.5, "compareAtPrice": "14.00", "optionValues": []any{map[string]any{"optionName": "Size", "name": "M"}}},
			map[string]any{"sku": "T-L", "price": "12", "optionValues": []any{map[string]any{"optionName": "Size", "name": "L"}}},
		}}})
	if a.get("errors") != nil || len(a.list("data.productSet.userErrors")) != 0 || a.str("data.productSet.product.handle") != "tee" ||
		a.str("data.productSet.product.status") != "DRAFT" || a.str("data.productSet.product.tags") != `["summer","cotton"]` ||
		a.str("data.productSet.product.variants.nodes.1.price") != "11.50" || a.str("data.productSet.product.variants.nodes.1.compareAtPrice") != "14.00" ||
		a.num("data.productSet.product.variants.nodes.0.inventoryQuantity") != 4 || a.str("data.productSet.product.variants.nodes.2.title") != "L" {
		t.Fatalf("create: %s", a.raw)
	}
	pid := a.str("data.productSet.product.id")
	vS, vM := a.str("data.productSet.product.variants.nodes.0.id"), a.str("data.productSet.product.variants.nodes.1.id")
	itemS := a.str("data.productSet.product.variants.nodes.0.inventoryItem.id")

	// Update: variants replaced as a set — S kept by id (new price), M
	// dropped, XL new; options replaced likewise; updatedAt moves.
	clk.Add(time.Minute)
	a = gqlPost(t, s, tok, setMutation, map[string]any{"input": map[string]any{
		"id": pid, "title": "Tee 2",
		"productOptions": []any{map[string]any{"name": "Size", "values": []any{map[string]any{"name": "S"}, map[string]any{"name": "XL"}}}},
		"variants": []any{
			map[string]any{"id": vS, "price": "9.99", "optionValues": []any{map[string]any{"optionName": "Size", "name": "S"}}},
			map[string]any{"sku": "T-XL", "price": "13.00", "optionValues": []any{map[string]any{"optionName": "Size", "name": "XL"}}},
		}}})
	nodes := a.list("data.productSet.product.variants.nodes")
	if len(a.list("data.productSet.userErrors")) != 0 || a.str("data.productSet.product.id") != pid || len(nodes) != 2 ||
		a.str("data.productSet.product.variants.nodes.0.id") != vS || a.str("data.productSet.product.variants.nodes.0.price") != "9.99" ||
		a.str("data.productSet.product.variants.nodes.0.sku") != "T-S" || a.str("data.productSet.product.variants.nodes.0.inventoryItem.id") != itemS ||
		a.str("data.productSet.product.variants.nodes.1.id") == vM || a.str("data.productSet.product.variants.nodes.1.title") != "XL" ||
		a.str("data.productSet.product.options.0.values") != `["S","XL"]` || a.str("data.productSet.product.status") != "DRAFT" ||
		a.str("data.productSet.product.updatedAt") != t0.Add(time.Minute).Format(time.RFC3339) {
		t.Fatalf("update: %s", a.raw)
	}
	if s.ProductCount() != 1 {
		t.Fatalf("%d products", s.ProductCount())
	}
	// The same product by its handle as identifier; fields not given kept.
	a = gqlPost(t, s, tok, setMutation, map[string]any{"identifier": map[string]any{"handle": "tee"}, "input": map[string]any{"vendor": "Acme"}})
	if a.str("data.productSet.product.id") != pid || a.str("data.productSet.product.title") != "Tee 2" || len(a.list("data.productSet.product.variants.nodes")) != 2 {
		t.Fatalf("by handle: %s", a.raw)
	}

	// Refused input: userErrors naming the field, nothing written.
	before, _ := s.Product(ShopifyNumericID(pid, "Product"))
	for _, c := range []struct {
		name, field, code string
		vars              map[string]any
	}{
		{"no title on create", `["input","title"]`, "BLANK", map[string]any{"input": map[string]any{"vendor": "x"}}},
		{"price not a decimal", `["input","variants","0","price"]`, "INVALID_VARIANT", map[string]any{"input": map[string]any{"id": pid,
			"productOptions": []any{map[string]any{"name": "Size", "values": []any{map[string]any{"name": "S"}}}},
			"variants":       []any{map[string]any{"price": "ten", "optionValues": []any{map[string]any{"optionName": "Size", "name": "S"}}}}}}},
		{"unknown option value", `["input","variants","0","optionValues","0"]`, "OPTION_VALUE_DOES_NOT_EXIST", map[string]any{"input": map[string]any{"id": pid,
			"productOptions": []any{map[string]any{"name": "Size", "values": []any{map[string]any{"name": "S"}}}},
			"variants":       []any{map[string]any{"price": "1", "optionValues": []any{map[string]any{"optionName": "Size", "name": "XXL"}}}}}}},
		{"duplicate variant", `["input","variants","1"]`, "NON_UNIQUE_VARIANT", map[string]any{"input": map[string]any{"id": pid,
			"productOptions": []any{map[string]any{"name": "Size", "values": []any{map[string]any{"name": "S"}}}},
			"variants": []any{map[string]any{"price": "1", "optionValues": []any{map[string]any{"optionName": "Size", "name": "S"}}},
				map[string]any{"price": "2", "optionValues": []any{map[string]any{"optionName": "Size", "name": "S"}}}}}}},
		{"variant of another product", `["input","variants","0","id"]`, "PRODUCT_VARIANT_DOES_NOT_EXIST", map[string]any{"input": map[string]any{"id": pid,
			"productOptions": []any{map[string]any{"name": "Size", "values": []any{map[string]any{"name": "S"}}}},
			"variants":       []any{map[string]any{"id": "gid://shopify/ProductVariant/1", "optionValues": []any{map[string]any{"optionName": "Size", "name": "S"}}}}}}},
		{"variants without options on create", `["input","productOptions"]`, "PRODUCT_OPTIONS_INPUT_MISSING", map[string]any{"input": map[string]any{"title": "x",
			"variants": []any{map[string]any{"price": "1", "optionValues": []any{}}}}}},
		{"variants without options on update", `["input","productOptions"]`, "PRODUCT_OPTIONS_INPUT_MISSING", map[string]any{"input": map[string]any{"id": pid,
			"variants": []any{map[string]any{"id": vS, "price": "1", "optionValues": []any{map[string]any{"optionName": "Size", "name": "S"}}}}}}},
		{"unknown product", `["input","id"]`, "PRODUCT_DOES_NOT_EXIST", map[string]any{"input": map[string]any{"id": "gid://shopify/Product/1", "title": "x"}}},
		{"handle taken", `["input","handle"]`, "HANDLE_NOT_UNIQUE", map[string]any{"input": map[string]any{"title": "Other", "handle": "tee"}}},
	} {
		a := gqlPost(t, s, tok, setMutation, c.vars)
		if a.get("data.productSet.product") != nil || userErrorAt(a, c.field) != c.code {
			t.Errorf("%s: %s", c.name, a.raw)
		}
	}
	if after, _ := s.Product(ShopifyNumericID(pid, "Product")); s.ProductCount() != 1 || !after.UpdatedAt.Equal(before.UpdatedAt) || len(after.Variants) != 2 {
		t.Fatalf("a refused productSet wrote: %d products, %+v", s.ProductCount(), after)
	}
	// A status outside the enum is a GraphQL error.
	a = gqlPost(t, s, tok, setMutation, map[string]any{"input": map[string]any{"title": "x", "status": "LIVE"}})
	if a.get("errors") == nil || s.ProductCount() != 1 {
		t.Fatalf("bad status: %s", a.raw)
	}
	// A product created without options gets Shopify's default variant.
	a = gqlPost(t, s, tok, setMutation, map[string]any{"input": map[string]any{"title": "Plain"}})
	if a.str("data.productSet.product.variants.nodes.0.title") != "Default Title" || a.str("data.productSet.product.options.0.name") != "Title" ||
		a.str("data.productSet.product.status") != "ACTIVE" {
		t.Fatalf("default variant: %s", a.raw)
	}
}

func TestShopifyDeleteAndInventory(t *testing.T) {
	s, _ := start(t, "shopify")
	p := s.SeedProducts(2)[0]
	// Scopes: a write needs its write scope (read_products alone: denied).
	readOnly := s.Mint("read_products").AccessToken
	a := gqlPost(t, s, readOnly, `mutation { productDelete(input: {id: "`+ShopifyGID("Product", p.ID)+`"}) { deletedProductId } }`, nil)
	if a.str("errors.0.extensions.code") != "ACCESS_DENIED" || a.get("data.productDelete") != nil || s.ProductCount() != 2 {
		t.Fatalf("read_products deleting: %s", a.raw)
	}
	if a := gqlPost(t, s, readOnly, `{ products(first: 1) { nodes { id } } }`, nil); a.get("errors") != nil {
		t.Fatalf("read_products reading: %s", a.raw)
	}
	tok := s.Mint("read_products", "write_products", "write_inventory").AccessToken
	const del = `mutation($id: ID!) { productDelete(input: {id: $id}) { deletedProductId userErrors { field message } } }`
	a = gqlPost(t, s, tok, del, map[string]any{"id": ShopifyGID("Product", p.ID)})
	if a.str("data.productDelete.deletedProductId") != ShopifyGID("Product", p.ID) || s.ProductCount() != 1 {
		t.Fatalf("delete: %s", a.raw)
	}
	a = gqlPost(t, s, tok, del, map[string]any{"id": ShopifyGID("Product", p.ID)})
	if a.get("data.productDelete.deletedProductId") != nil || a.str("data.productDelete.userErrors.0.field") != `["id"]` {
		t.Fatalf("delete again: %s", a.raw)
	}

	v := s.Products()[0].Variants[0]
	const set = `mutation($input: InventorySetQuantitiesInput!) { inventorySetQuantities(input: $input) @idempotent(key: KEY) {
		inventoryAdjustmentGroup { id changes { name delta quantityAfterChange } } userErrors { field message code } } }`
	input := func(qty int, from any) map[string]any {
		q := map[string]any{"inventoryItemId": ShopifyGID("InventoryItem", v.InventoryItemID), "locationId": ShopifyGID("Location", ShopifyLocationID), "quantity": qty}
		if from != "omit" {
			q["changeFromQuantity"] = from
		}
		return map[string]any{"input": map[string]any{"name": "available", "reason": "correction", "quantities": []any{q}}}
	}
	withKey := func(k string) string { return strings.Replace(set, "KEY", `"`+k+`"`, 1) }
	// Inventory needs write_inventory, which read_products, write_products
	// does not give.
	a = gqlPost(t, s, s.Mint("read_products", "write_products").AccessToken, withKey("k0"), input(9, nil))
	if a.str("errors.0.extensions.code") != "ACCESS_DENIED" || a.str("errors.0.extensions.requiredAccess") != "`write_inventory` access scope." {
		t.Fatalf("without write_inventory: %s", a.raw)
	}
	// Without @idempotent: an error, nothing set.
	a = gqlPost(t, s, tok, strings.Replace(set, " @idempotent(key: KEY)", "", 1), input(9, nil))
	if a.get("errors") == nil || s.Products()[0].Variants[0].InventoryQuantity != v.InventoryQuantity {
		t.Fatalf("no idempotency key: %s", a.raw)
	}
	a = gqlPost(t, s, tok, withKey("k1"), input(9, "omit"))
	if a.str("data.inventorySetQuantities.userErrors.0.code") != "CHANGE_FROM_QUANTITY_REQUIRED" {
		t.Fatalf("no changeFromQuantity: %s", a.raw)
	}
	a = gqlPost(t, s, tok, withKey("k2"), input(9, v.InventoryQuantity+1))
	if a.str("data.inventorySetQuantities.userErrors.0.code") != "CHANGE_FROM_QUANTITY_STALE" {
		t.Fatalf("stale: %s", a.raw)
	}
	a = gqlPost(t, s, tok, withKey("k3"), input(9, nil))
	if a.num("data.inventorySetQuantities.inventoryAdjustmentGroup.changes.0.quantityAfterChange") != 9 ||
		a.num("data.inventorySetQuantities.inventoryAdjustmentGroup.changes.0.delta") != float64(9-v.InventoryQuantity) ||
		s.Products()[0].Variants[0].InventoryQuantity != 9 {
		t.Fatalf("set: %s", a.raw)
	}
	group := a.str("data.inventorySetQuantities.inventoryAdjustmentGroup.id")
	// The same key again: the first answer, no second change.
	a = gqlPost(t, s, tok, withKey("k3"), input(20, nil))
	if a.str("data.inventorySetQuantities.inventoryAdjustmentGroup.id") != group || s.Products()[0].Variants[0].InventoryQuantity != 9 {
		t.Fatalf("replayed key: %s", a.raw)
	}
	a = gqlPost(t, s, tok, withKey("k4"), map[string]any{"input": map[string]any{"name": "available", "reason": "correction", "quantities": []any{
		map[string]any{"inventoryItemId": ShopifyGID("InventoryItem", v.InventoryItemID), "locationId": "gid://shopify/Location/2", "quantity": 1, "changeFromQuantity": nil}}}})
	if a.str("data.inventorySetQuantities.userErrors.0.code") != "INVALID_LOCATION" || a.str("data.inventorySetQuantities.userErrors.0.field") != `["input","quantities","0","locationId"]` {
		t.Fatalf("unknown location: %s", a.raw)
	}
}

// receiver records webhook deliveries.
type receiver struct {
	mu   sync.Mutex
	reqs []webhook.Request
	srv  *httptest.Server
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.reqs = append(rc.reqs, webhook.Request{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: b})
		rc.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) take() []webhook.Request {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	out := rc.reqs
	rc.reqs = nil
	return out
}

func TestShopifyWebhooks(t *testing.T) {
	s, clk, tok := startShop(t)
	rc := newReceiver(t)
	hookURL := rc.srv.URL + "/v1/webhooks/shopify/hook-1"
	const create = `mutation($topic: WebhookSubscriptionTopic!, $sub: WebhookSubscriptionInput!) {
		webhookSubscriptionCreate(topic: $topic, webhookSubscription: $sub) { webhookSubscription { id topic uri includeFields } userErrors { field message } } }`
	ids := map[string]string{}
	for _, topic := range []string{"PRODUCTS_CREATE", "PRODUCTS_UPDATE", "PRODUCTS_DELETE", "APP_UNINSTALLED"} {
		sub := map[string]any{"callbackUrl": hookURL, "format": "JSON"}
		if topic == "PRODUCTS_UPDATE" {
			sub["includeFields"] = []string{"id", "title", "handle", "updated_at", "variants", "options.name"}
		}
		a := gqlPost(t, s, tok, create, map[string]any{"topic": topic, "sub": sub})
		if a.str("data.webhookSubscriptionCreate.webhookSubscription.topic") != topic || a.num("extensions.cost.requestedQueryCost") != 10 {
			t.Fatalf("subscribe %s: %s", topic, a.raw)
		}
		ids[topic] = a.str("data.webhookSubscriptionCreate.webhookSubscription.id")
	}
	if a := gqlPost(t, s, tok, create, map[string]any{"topic": "PRODUCTS_UPDATE", "sub": map[string]any{"callbackUrl": hookURL}}); a.str("data.webhookSubscriptionCreate.userErrors.0.message") != "Address for this topic has already been taken" {
		t.Fatalf("duplicate: %s", a.raw)
	}
	if a := gqlPost(t, s, tok, create, map[string]any{"topic": "PRODUCTS_UPDATE", "sub": map[string]any{"callbackUrl": "not a url"}}); a.str("data.webhookSubscriptionCreate.userErrors.0.field") != `["webhookSubscription","callbackUrl"]` {
		t.Fatalf("bad url: %s", a.raw)
	}
	if a := gqlPost(t, s, tok, `{ webhookSubscriptions(first: 10, topics: [PRODUCTS_UPDATE]) { nodes { id uri } } }`, nil); len(a.list("data.webhookSubscriptions.nodes")) != 1 {
		t.Fatalf("list: %s", a.raw)
	}

	scheme, _ := webhook.For("shopify")
	verify := func(r webhook.Request, topic string) map[string]any {
		t.Helper()
		if err := scheme.Verify(r, webhook.Keys{AppSecret: "csecret"}, clk.Now()); err != nil {
			t.Fatalf("%s: signature: %v", topic, err)
		}
		if err := scheme.Verify(r, webhook.Keys{AppSecret: "other"}, clk.Now()); err == nil {
			t.Fatalf("%s: verifies with another secret", topic)
		}
		d, err := scheme.Parse(r)
		if err != nil || d.Event != topic || d.Account != "acme.myshopify.com" || d.ID == "" || d.HookID != "hook-1" {
			t.Fatalf("%s: parse %+v %v", topic, d, err)
		}
		for _, h := range []string{"X-Shopify-Api-Version", "X-Shopify-Webhook-Id", "X-Shopify-Triggered-At"} {
			if r.Header.Get(h) == "" {
				t.Fatalf("%s: no %s", topic, h)
			}
		}
		var body map[string]any
		_ = json.Unmarshal(r.Body, &body)
		return body
	}

	// The merchant edits a product: products/update, synchronously, with
	// only the included fields.
	p := s.SeedProducts(1)[0]
	clk.Add(time.Minute)
	if _, err := s.EditProduct(p.ID, func(p *ShopifyProduct) { p.Title = "Renamed"; p.Variants[0].Price = "99.00" }); err != nil {
		t.Fatal(err)
	}
	got := rc.take()
	if len(got) != 1 {
		t.Fatalf("%d deliveries", len(got))
	}
	body := verify(got[0], "products/update")
	keys := make([]string, 0, len(body))
	for k := range body {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if strings.Join(keys, ",") != "handle,id,title,updated_at,variants" || body["title"] != "Renamed" || body["id"] != float64(p.ID) ||
		body["updated_at"] != clk.Now().UTC().Format("2006-01-02T15:04:05-07:00") {
		t.Fatalf("payload %s", got[0].Body)
	}
	if v := body["variants"].([]any)[0].(map[string]any); v["price"] != "99.00" || v["id"] != float64(p.Variants[0].ID) {
		t.Fatalf("variants %v", v)
	}
	// A retry: the same ids and body, still verifying.
	first := s.Deliveries()[0]
	again, err := s.Redeliver(first)
	if got := rc.take(); err != nil || again.Status != 200 || len(got) != 1 || string(got[0].Body) != string(first.Body) ||
		got[0].Header.Get("X-Shopify-Event-Id") != first.EventID || got[0].Header.Get("X-Shopify-Webhook-Id") != first.WebhookID {
		t.Fatalf("redelivery: %v %v", err, got)
	} else {
		verify(got[0], "products/update")
	}
	if err := s.DeleteProduct(p.ID); err != nil {
		t.Fatal(err)
	}
	got = rc.take()
	if len(got) != 1 || string(got[0].Body) != `{"id":`+jsonInt(p.ID)+`}` {
		t.Fatalf("delete: %v", got)
	}
	verify(got[0], "products/delete")

	// API writes send webhooks too, in the background.
	a := gqlPost(t, s, tok, setMutation, map[string]any{"input": map[string]any{"title": "Via API"}})
	s.WaitDeliveries()
	got = rc.take()
	if len(got) != 1 || verify(got[0], "products/create")["title"] != "Via API" {
		t.Fatalf("API create: %v %s", got, a.raw)
	}
	s.WebhooksOnAPIWrites(false)
	gqlPost(t, s, tok, setMutation, map[string]any{"input": map[string]any{"id": a.str("data.productSet.product.id"), "title": "Quiet"}})
	s.WaitDeliveries()
	if got := rc.take(); len(got) != 0 {
		t.Fatalf("deliveries with API webhooks off: %d", len(got))
	}

	// Unsubscribe.
	a = gqlPost(t, s, tok, `mutation($id: ID!) { webhookSubscriptionDelete(id: $id) { deletedWebhookSubscriptionId userErrors { message } } }`, map[string]any{"id": ids["PRODUCTS_CREATE"]})
	if a.str("data.webhookSubscriptionDelete.deletedWebhookSubscriptionId") != ids["PRODUCTS_CREATE"] || len(s.WebhookSubscriptions()) != 3 {
		t.Fatalf("unsubscribe: %s", a.raw)
	}

	// Compliance topics go to the URL given.
	for _, topic := range ShopifyComplianceTopics {
		d, err := s.SendCompliance(topic, rc.srv.URL+"/v1/webhooks/shopify/hook-1")
		if err != nil || d.Status != 200 {
			t.Fatalf("%s: %v %d", topic, err, d.Status)
		}
		got := rc.take()
		body := verify(got[0], topic)
		if body["shop_domain"] != "acme.myshopify.com" {
			t.Fatalf("%s: %s", topic, got[0].Body)
		}
	}

	// Uninstall: app/uninstalled, then the token is dead and the
	// subscriptions gone.
	if err := s.Uninstall(); err != nil {
		t.Fatal(err)
	}
	got = rc.take()
	if len(got) != 1 || verify(got[0], "app/uninstalled")["myshopify_domain"] != "acme.myshopify.com" {
		t.Fatalf("uninstall: %v", got)
	}
	if a := gqlPost(t, s, tok, `{ shop { name } }`, nil); a.status != 401 || len(s.WebhookSubscriptions()) != 0 {
		t.Fatalf("after uninstall: %d %s", a.status, a.raw)
	}
	if n := len(s.Deliveries()); n != 8 {
		t.Fatalf("%d deliveries recorded", n)
	}
}

func jsonInt(n int64) string { b, _ := json.Marshal(n); return string(b) }
