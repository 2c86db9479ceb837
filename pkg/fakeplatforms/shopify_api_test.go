package fakeplatforms

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// gql posts a GraphQL request to the fake and decodes the answer.
type gqlAnswer struct {
	status int
	header http.Header
	raw    string
	body   map[string]any
}

func (a gqlAnswer) get(path string) any {
	var v any = a.body
	for _, p := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			v = x[p]
		case []any:
			var i int
			if _, err := fmt.Sscan(p, &i); err != nil || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

func (a gqlAnswer) str(path string) string {
	switch v := a.get(path).(type) {
	case string:
		return v
	case nil:
		return ""
	default:
		b, _ := json.Marshal(v)
		return string(b)
	}
}

func (a gqlAnswer) num(path string) float64 { f, _ := a.get(path).(float64); return f }

func (a gqlAnswer) list(path string) []any { l, _ := a.get(path).([]any); return l }

func gqlURL(s *Server) string { return s.URL() + "/admin/api/" + ShopifyAPIVersion() + "/graphql.json" }

func gqlPost(t *testing.T, s *Server, token, query string, vars map[string]any) gqlAnswer {
	t.Helper()
	b, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest("POST", gqlURL(s), bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Shopify-Access-Token", token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	a := gqlAnswer{status: resp.StatusCode, header: resp.Header, raw: buf.String()}
	_ = json.Unmarshal(buf.Bytes(), &a.body)
	return a
}

func startShop(t *testing.T) (*Server, *clock, string) {
	s, c := start(t, "shopify")
	return s, c, s.Mint().AccessToken
}

// The cost of a query follows shopify.dev/docs/api/usage/limits: a
// connection costs 2 plus first times one node, an object 1, scalars 0;
// the requested cost is taken from the bucket before the query runs and
// the part not used (fewer nodes than first) given back after it.
func TestShopifyQueryCost(t *testing.T) {
	s, _, tok := startShop(t)
	s.SeedProducts(3)
	a := gqlPost(t, s, tok, `{ shop { name myshopifyDomain } }`, nil)
	if a.status != 200 || a.str("data.shop.myshopifyDomain") != "acme.myshopify.com" || a.num("extensions.cost.requestedQueryCost") != 1 ||
		a.header.Get("X-Shopify-API-Version") != ShopifyAPIVersion() ||
		a.num("extensions.cost.actualQueryCost") != 1 || a.num("extensions.cost.throttleStatus.maximumAvailable") != 2000 ||
		a.num("extensions.cost.throttleStatus.currentlyAvailable") != 1999 || a.num("extensions.cost.throttleStatus.restoreRate") != 100 {
		t.Fatalf("shop: %d %s", a.status, a.raw)
	}
	// 2 + 10 × (1 product + 2 + 5 × 1 variant) = 82 asked; 3 products of
	// 2 variants returned: 2 + 3 × (1 + 2 + 2) = 17.
	q := `{ products(first: 10) { edges { node { title variants(first: 5) { edges { node { price } } } } } } }`
	a = gqlPost(t, s, tok, q, nil)
	if a.num("extensions.cost.requestedQueryCost") != 82 || a.num("extensions.cost.actualQueryCost") != 17 ||
		a.num("extensions.cost.throttleStatus.currentlyAvailable") != 1999-17 {
		t.Fatalf("products cost: %s", a.raw)
	}
	// nodes and edges of one connection are its nodes once; pageInfo and
	// scalars are free; inventoryItem is an object.
	a = gqlPost(t, s, tok, `{ products(first: 4) { nodes { id variants(first: 2) { nodes { inventoryItem { id } } } } edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }`, nil)
	if a.num("extensions.cost.requestedQueryCost") != 2+4*(1+2+2*2) || a.num("extensions.cost.actualQueryCost") != 2+3*(1+2+2*2) {
		t.Fatalf("nodes+edges cost: %s", a.raw)
	}
	// Mutations cost 10.
	a = gqlPost(t, s, tok, `mutation { productDelete(input: {id: "gid://shopify/Product/1"}) { deletedProductId userErrors { field message } } }`, nil)
	if a.num("extensions.cost.requestedQueryCost") != 10 {
		t.Fatalf("mutation cost: %s", a.raw)
	}
	// A query over 1000 is refused before it runs, and costs nothing.
	before := s.CostAvailable()
	a = gqlPost(t, s, tok, `{ products(first: 250) { nodes { id variants(first: 100) { nodes { id } } } } }`, nil)
	if a.status != 200 || a.str("errors.0.extensions.code") != "MAX_COST_EXCEEDED" || a.get("data") != nil || s.CostAvailable() != before {
		t.Fatalf("max cost: %s", a.raw)
	}
	// A connection needs first or last.
	a = gqlPost(t, s, tok, `{ products { nodes { id } } }`, nil)
	if !strings.Contains(a.str("errors.0.message"), "first or last") || a.get("data") != nil {
		t.Fatalf("no first: %s", a.raw)
	}
}

// An empty bucket answers THROTTLED (HTTP 200, no data, the cost and the
// bucket in extensions) until the restore rate has refilled it.
func TestShopifyThrottledUntilRestored(t *testing.T) {
	s, clk, tok := startShop(t)
	s.SeedProducts(3)
	s.SetCostBucket(100, 10)
	q := `{ products(first: 10) { edges { node { title variants(first: 5) { edges { node { price } } } } } } }` // 82 asked, 17 spent
	for i, want := range []float64{83, 66} {
		if a := gqlPost(t, s, tok, q, nil); a.get("errors") != nil || a.num("extensions.cost.throttleStatus.currentlyAvailable") != want {
			t.Fatalf("call %d: %s", i, a.raw)
		}
	}
	a := gqlPost(t, s, tok, q, nil)
	if a.status != 200 || a.str("errors.0.extensions.code") != "THROTTLED" || a.str("errors.0.message") != "Throttled" || a.get("data") != nil ||
		a.num("extensions.cost.requestedQueryCost") != 82 || a.get("extensions.cost.actualQueryCost") != nil ||
		a.num("extensions.cost.throttleStatus.currentlyAvailable") != 66 || a.num("extensions.cost.throttleStatus.maximumAvailable") != 100 {
		t.Fatalf("throttled: %s", a.raw)
	}
	if s.Throttled() != 1 {
		t.Fatalf("Throttled() = %d", s.Throttled())
	}
	clk.Add(1500 * time.Millisecond) // 66 + 15 = 81: still short
	if a := gqlPost(t, s, tok, q, nil); a.str("errors.0.extensions.code") != "THROTTLED" {
		t.Fatalf("81 available: %s", a.raw)
	}
	clk.Add(time.Second)
	if a := gqlPost(t, s, tok, q, nil); a.get("errors") != nil || a.num("extensions.cost.throttleStatus.currentlyAvailable") != 91-17 {
		t.Fatalf("restored: %s", a.raw)
	}
	if s.Throttled() != 2 {
		t.Fatalf("Throttled() = %d", s.Throttled())
	}
	clk.Add(30 * time.Minute) // never above the maximum
	if a := gqlPost(t, s, tok, `{ shop { name } }`, nil); a.num("extensions.cost.throttleStatus.currentlyAvailable") != 99 {
		t.Fatalf("refill capped: %s", a.raw)
	}
}

func TestShopifyAuthVersionAndErrors(t *testing.T) {
	s, clk, tok := startShop(t)
	if a := gqlPost(t, s, "shpat_nope", `{ shop { name } }`, nil); a.status != 401 ||
		a.str("errors") != "[API] Invalid API key or access token (unrecognized login or wrong password)" {
		t.Fatalf("bad token: %d %s", a.status, a.raw)
	}
	req, _ := http.NewRequest("POST", s.URL()+"/admin/api/2023-01/graphql.json", strings.NewReader(`{"query":"{ shop { name } }"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Shopify-Access-Token", tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 404 {
		t.Fatalf("other version: %v %v", resp, err)
	}
	resp.Body.Close()
	// Unknown fields and arguments are GraphQL errors: HTTP 200, no data.
	a := gqlPost(t, s, tok, `{ products(first: 1) { nodes { id colour } } }`, nil)
	if a.status != 200 || a.get("data") != nil || a.str("errors.0.message") != "Field 'colour' doesn't exist on type 'Product'" || a.str("errors.0.extensions.code") != "undefinedField" {
		t.Fatalf("unknown field: %s", a.raw)
	}
	a = gqlPost(t, s, tok, `{ products(first: 1, colour: "red") { nodes { id } } }`, nil)
	if a.status != 200 || a.get("data") != nil || a.str("errors.0.message") != "Field 'products' doesn't accept argument 'colour'" {
		t.Fatalf("unknown argument: %s", a.raw)
	}
	a = gqlPost(t, s, tok, `{ products(first: 1 { nodes { id } } }`, nil)
	if a.status != 200 || a.str("errors.0.extensions.code") != "syntaxError" || a.get("extensions.cost.throttleStatus") == nil {
		t.Fatalf("syntax error: %s", a.raw)
	}
	a = gqlPost(t, s, tok, `query($id: ID!) { product(id: $id) { id } }`, map[string]any{})
	if a.str("errors.0.extensions.code") != "INVALID_VARIABLE" {
		t.Fatalf("missing variable: %s", a.raw)
	}
	clk.Add(61 * time.Minute)
	if a := gqlPost(t, s, tok, `{ shop { name } }`, nil); a.status != 401 {
		t.Fatalf("expired token: %d %s", a.status, a.raw)
	}
}

const productFields = `id handle title descriptionHtml vendor productType status tags createdAt updatedAt onlineStoreUrl
	options { id name values optionValues { name } }
	variants(first: 10) { nodes { id sku title price compareAtPrice inventoryQuantity selectedOptions { name value } inventoryItem { id } } }
	images(first: 5) { nodes { id url altText } }
	media(first: 5) { nodes { id ... on MediaImage { image { url altText } } } }`

func TestShopifyProductsPagingAndSearch(t *testing.T) {
	s, clk, tok := startShop(t)
	t0 := clk.Now()
	seeded := s.SeedProducts(7)
	q := `query($after: String, $q: String) { products(first: 3, after: $after, query: $q, sortKey: UPDATED_AT) {
		edges { cursor node { ` + productFields + ` } } pageInfo { hasNextPage endCursor } } }`
	pageAll := func(search string) []string {
		var ids []string
		var after any
		for range 10 {
			a := gqlPost(t, s, tok, q, map[string]any{"after": after, "q": search})
			if a.get("errors") != nil {
				t.Fatalf("page: %s", a.raw)
			}
			for _, e := range a.list("data.products.edges") {
				ids = append(ids, e.(map[string]any)["node"].(map[string]any)["id"].(string))
			}
			if a.get("data.products.pageInfo.hasNextPage") != true {
				return ids
			}
			after = a.str("data.products.pageInfo.endCursor")
		}
		t.Fatal("paging does not end")
		return nil
	}
	ids := pageAll("")
	if len(ids) != 7 {
		t.Fatalf("paged %v", ids)
	}
	for i, p := range seeded { // same updatedAt: by id
		if ids[i] != ShopifyGID("Product", p.ID) {
			t.Fatalf("order %v", ids)
		}
	}
	a := gqlPost(t, s, tok, `{ product(id: "`+ids[0]+`") { `+productFields+` } }`, nil)
	p := seeded[0]
	if a.str("data.product.title") != p.Title || a.str("data.product.status") != "ACTIVE" || a.str("data.product.handle") != "product-1" ||
		a.str("data.product.updatedAt") != t0.Format(time.RFC3339) || a.str("data.product.variants.nodes.1.price") != "12.50" ||
		a.str("data.product.variants.nodes.1.compareAtPrice") != "15.00" || a.str("data.product.variants.nodes.0.selectedOptions.0.value") != "S" ||
		a.str("data.product.options.0.optionValues.1.name") != "M" || a.str("data.product.variants.nodes.0.inventoryItem.id") == "" ||
		a.str("data.product.media.nodes.0.image.url") != p.Images[0].URL || a.str("data.product.onlineStoreUrl") != "https://acme.myshopify.com/products/product-1" {
		t.Fatalf("product: %s", a.raw)
	}
	if a := gqlPost(t, s, tok, `{ product(id: "gid://shopify/Product/42") { id } }`, nil); a.get("errors") != nil || a.get("data.product") != nil {
		t.Fatalf("unknown product: %s", a.raw)
	}

	// An edit moves the product to the end of UPDATED_AT order and into an
	// updated_at search after the seeding.
	clk.Add(time.Minute)
	if _, err := s.EditProduct(seeded[1].ID, func(p *ShopifyProduct) { p.Title = "Edited" }); err != nil {
		t.Fatal(err)
	}
	if ids := pageAll(""); len(ids) != 7 || ids[6] != ShopifyGID("Product", seeded[1].ID) {
		t.Fatalf("after edit %v", ids)
	}
	since := t0.Format(time.RFC3339)
	if ids := pageAll("updated_at:>'" + since + "'"); len(ids) != 1 || ids[0] != ShopifyGID("Product", seeded[1].ID) {
		t.Fatalf("updated_at:> %v", ids)
	}
	if ids := pageAll("updated_at:>='" + since + "'"); len(ids) != 7 {
		t.Fatalf("updated_at:>= %v", ids)
	}
	if ids := pageAll("updated_at:<" + since); len(ids) != 0 {
		t.Fatalf("updated_at:< %v", ids)
	}
	// A cursor keeps its place when the list changes under it.
	a = gqlPost(t, s, tok, q, map[string]any{"q": ""})
	after := a.str("data.products.pageInfo.endCursor")
	clk.Add(time.Minute)
	_, _ = s.EditProduct(seeded[0].ID, nil) // moves from before the cursor to the end
	a = gqlPost(t, s, tok, q, map[string]any{"after": after, "q": ""})
	if got := a.list("data.products.edges"); len(got) != 3 || a.str("data.products.edges.0.node.title") != "Product 5" {
		t.Fatalf("after cursor: %s", a.raw)
	}
	// ID order, reversed, last/before, nodes.
	a = gqlPost(t, s, tok, `{ products(first: 2, sortKey: ID, reverse: true) { nodes { title } pageInfo { hasNextPage hasPreviousPage } } }`, nil)
	if a.str("data.products.nodes.0.title") != "Product 7" || a.get("data.products.pageInfo.hasNextPage") != true {
		t.Fatalf("reverse: %s", a.raw)
	}
	a = gqlPost(t, s, tok, `{ products(last: 2, sortKey: ID) { nodes { title } pageInfo { hasNextPage hasPreviousPage } } }`, nil)
	if a.str("data.products.nodes.1.title") != "Product 7" || a.get("data.products.pageInfo.hasPreviousPage") != true {
		t.Fatalf("last: %s", a.raw)
	}
	// Unknown search fields are ignored with a warning, as Shopify does.
	a = gqlPost(t, s, tok, `{ products(first: 10, query: "colour:red") { nodes { id } } }`, nil)
	if len(a.list("data.products.nodes")) != 7 || a.str("extensions.search.0.warnings.0.field") != "colour" {
		t.Fatalf("unknown search field: %s", a.raw)
	}
	a = gqlPost(t, s, tok, `{ productsCount(query: "status:active") { count precision } }`, nil)
	if a.num("data.productsCount.count") != 7 {
		t.Fatalf("count: %s", a.raw)
	}
}

func TestShopifySeedIsFast(t *testing.T) {
	s, clk, tok := startShop(t)
	start := time.Now()
	s.SeedProducts(2000)
	n := 0
	var after any
	for {
		a := gqlPost(t, s, tok, `query($after: String) { products(first: 100, after: $after, sortKey: UPDATED_AT) { nodes { id } pageInfo { hasNextPage endCursor } } }`, map[string]any{"after": after})
		clk.Add(time.Second)
		if a.get("errors") != nil {
			t.Fatal(a.raw)
		}
		n += len(a.list("data.products.nodes"))
		if a.get("data.products.pageInfo.hasNextPage") != true {
			break
		}
		after = a.str("data.products.pageInfo.endCursor")
	}
	if n != 2000 || s.ProductCount() != 2000 {
		t.Fatalf("paged %d", n)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("seeding and paging 2,000 products took %v", d)
	}
}

// With a search lag, an updated_at search finds an edit only once the
// index has caught up; the data returned is always current.
func TestShopifySearchLag(t *testing.T) {
	s, clk, tok := startShop(t)
	t0 := clk.Now()
	seeded := s.SeedProducts(2)
	s.SetSearchLag(10 * time.Second)
	clk.Add(time.Minute)
	if _, err := s.EditProduct(seeded[0].ID, func(p *ShopifyProduct) { p.Title = "Edited" }); err != nil {
		t.Fatal(err)
	}
	added, _ := s.AddProduct(ShopifyProduct{Title: "New"})
	since := `query($q: String) { products(first: 10, query: $q) { nodes { id title } } productsCount(query: $q) { count } }`
	q := "updated_at:>'" + t0.Format(time.RFC3339) + "'"
	if a := gqlPost(t, s, tok, since, map[string]any{"q": q}); len(a.list("data.products.nodes")) != 0 || a.num("data.productsCount.count") != 0 {
		t.Fatalf("before the index caught up: %s", a.raw)
	}
	if a := gqlPost(t, s, tok, since, map[string]any{"q": "status:active"}); len(a.list("data.products.nodes")) != 2 || a.str("data.products.nodes.0.title") != "Edited" {
		t.Fatalf("the old index entry, current data: %s", a.raw)
	}
	if a := gqlPost(t, s, tok, `{ products(first: 10) { nodes { id } } }`, nil); len(a.list("data.products.nodes")) != 3 {
		t.Fatalf("without a query: %s", a.raw)
	}
	clk.Add(10 * time.Second)
	a := gqlPost(t, s, tok, since, map[string]any{"q": q})
	if len(a.list("data.products.nodes")) != 2 || a.str("data.products.nodes.1.id") != ShopifyGID("Product", added.ID) {
		t.Fatalf("after the lag: %s", a.raw)
	}
}
