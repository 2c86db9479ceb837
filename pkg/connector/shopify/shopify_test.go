package shopify

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/integration"
)

// gqlReq is a GraphQL request as a handler sees it.
type gqlReq struct {
	Query     string         `json:"query"`
	Variables map[string]any `json:"variables"`
	Token     string
	Path      string
}

// fakeShop answers each request with the handler's reply.
func fakeShop(t *testing.T, h func(r gqlReq, w http.ResponseWriter)) (connector.Connection, *[]gqlReq) {
	t.Helper()
	var mu sync.Mutex
	var got []gqlReq
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var q gqlReq
		_ = json.Unmarshal(b, &q)
		q.Token, q.Path = r.Header.Get("X-Shopify-Access-Token"), r.URL.Path
		mu.Lock()
		got = append(got, q)
		mu.Unlock()
		h(q, w)
	}))
	t.Cleanup(srv.Close)
	return connector.Connection{SiteURL: srv.URL, Credentials: map[string]string{"access_token": "shpat_x"}, HTTP: srv.Client(), Config: map[string]any{}}, &got
}

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func costOf(requested, available, max, rate float64) map[string]any {
	return map[string]any{"cost": map[string]any{"requestedQueryCost": requested, "actualQueryCost": requested,
		"throttleStatus": map[string]any{"maximumAvailable": max, "currentlyAvailable": available, "restoreRate": rate}}}
}

func kind(t *testing.T, err error) *connector.Error {
	t.Helper()
	var ce *connector.Error
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want a *connector.Error", err)
	}
	return ce
}

var sampleProduct = map[string]any{
	"id": "gid://shopify/Product/7", "handle": "red-shirt", "title": "Red shirt", "descriptionHtml": "<p>Soft</p>",
	"vendor": "Acme", "productType": "Shirts", "status": "ACTIVE", "tags": []string{"cotton", "red"},
	"createdAt": "2026-11-01T10:00:00Z", "updatedAt": "2026-11-02T11:00:00Z", "onlineStoreUrl": "https://acme.example/products/red-shirt",
	"options": []any{map[string]any{"id": "gid://shopify/ProductOption/1", "name": "Size", "values": []string{"S", "M"}}},
	"variants": map[string]any{"nodes": []any{
		map[string]any{"id": "gid://shopify/ProductVariant/11", "sku": "RS-S", "title": "S", "price": "19.99", "compareAtPrice": nil,
			"inventoryQuantity": 4, "selectedOptions": []any{map[string]any{"name": "Size", "value": "S"}}},
	}},
	"images": map[string]any{"nodes": []any{map[string]any{"id": "gid://shopify/ProductImage/5", "url": "https://cdn.example/a.png", "altText": "front"}}},
}

func TestListMapsProductsAndPages(t *testing.T) {
	conn, got := fakeShop(t, func(r gqlReq, w http.ResponseWriter) {
		w.Header().Set("Date", "Wed, 02 Dec 2026 06:00:00 GMT")
		reply(w, 200, map[string]any{"data": map[string]any{"products": map[string]any{"nodes": []any{sampleProduct},
			"pageInfo": map[string]any{"hasNextPage": true, "endCursor": "c1"}}}, "extensions": costOf(202, 1800, 2000, 100)})
	})
	since := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	page, err := New().List(context.Background(), conn, connector.ListRequest{Model: "product", Page: "c0", ModifiedAfter: since})
	if err != nil {
		t.Fatal(err)
	}
	q := (*got)[0]
	if q.Path != "/admin/api/"+APIVersion+"/graphql.json" || q.Token != "shpat_x" {
		t.Errorf("path %s token %s", q.Path, q.Token)
	}
	if q.Variables["after"] != "c0" || q.Variables["query"] != "updated_at:>='2026-12-01T07:59:00Z'" || !strings.Contains(q.Query, "sortKey: UPDATED_AT") {
		t.Errorf("variables %v", q.Variables)
	}
	if page.NextPage != "c1" || page.Total != -1 || page.TotalPages != -1 || !page.ServerTime.Equal(time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC)) {
		t.Errorf("page %+v", page)
	}
	r := page.Records[0]
	p := r.Fields.(*integration.Product)
	if r.ExternalID != "gid://shopify/Product/7" || r.RawRef != "red-shirt" || r.URL != "https://acme.example/products/red-shirt" || r.Model != "product" ||
		!r.ModifiedAt.Equal(time.Date(2026, 11, 2, 11, 0, 0, 0, time.UTC)) {
		t.Errorf("record %+v", r)
	}
	if p.Status != "active" || p.Handle != "red-shirt" || p.BodyHTML != "<p>Soft</p>" || len(p.Tags) != 2 || p.Options[0].Values[1] != "M" {
		t.Errorf("product %+v", p)
	}
	v := p.Variants[0]
	if v.ExternalID != "gid://shopify/ProductVariant/11" || v.Price != "19.99" || v.CompareAtPrice != "" || *v.InventoryQuantity != 4 || v.OptionValues[0].Value != "S" {
		t.Errorf("variant %+v", v)
	}
	if p.Images[0].Alt != "front" || p.Images[0].ExternalID != "gid://shopify/ProductImage/5" {
		t.Errorf("images %+v", p.Images)
	}
}

func TestGetNotFoundAndREST(t *testing.T) {
	conn, got := fakeShop(t, func(r gqlReq, w http.ResponseWriter) {
		reply(w, 200, map[string]any{"data": map[string]any{"product": nil}, "extensions": costOf(1, 1999, 2000, 100)})
	})
	_, err := New().Get(context.Background(), conn, "product", "788032119674292922")
	if ce := kind(t, err); ce.Kind != connector.ErrNotFound {
		t.Fatalf("kind %v", ce.Kind)
	}
	if (*got)[0].Variables["id"] != "gid://shopify/Product/788032119674292922" {
		t.Errorf("id %v", (*got)[0].Variables)
	}
}

func TestErrorShapes(t *testing.T) {
	cases := []struct {
		name   string
		status int
		body   any
		header map[string]string
		kind   connector.ErrorKind
		retry  time.Duration
		msg    string
	}{
		{"401", 401, map[string]any{"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}, nil, connector.ErrAuth, 0, "Connect the store again"},
		{"402", 402, map[string]any{"errors": "Unavailable Shop"}, nil, connector.ErrForbidden, 0, "frozen"},
		{"423", 423, map[string]any{"errors": "Locked"}, nil, connector.ErrForbidden, 0, "locked"},
		{"404", 404, map[string]any{"errors": "Not Found"}, nil, connector.ErrNotFound, 0, APIVersion},
		{"429", 429, map[string]any{"errors": "Too Many Requests"}, map[string]string{"Retry-After": "2.0"}, connector.ErrRateLimited, 2 * time.Second, "rate limiting"},
		{"503", 503, map[string]any{"errors": "x"}, nil, connector.ErrUnavailable, 0, "HTTP 503"},
		{"throttled", 200, map[string]any{"errors": []any{map[string]any{"message": "Throttled", "extensions": map[string]any{"code": "THROTTLED"}}},
			"extensions": costOf(500, 100, 1000, 50)}, nil, connector.ErrRateLimited, 8 * time.Second, "throttled"},
		{"graphql", 200, map[string]any{"errors": []any{map[string]any{"message": "Field 'nope' doesn't exist on type 'Shop'"}}}, nil, connector.ErrInvalid, 0, "nope"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			conn, _ := fakeShop(t, func(r gqlReq, w http.ResponseWriter) {
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				reply(w, tc.status, tc.body)
			})
			b := &recBudget{}
			conn.Budget = b
			c := New()
			c.Now = func() time.Time { return time.Unix(1000, 0) }
			_, err := c.Get(context.Background(), conn, "product", "gid://shopify/Product/1")
			ce := kind(t, err)
			if ce.Kind != tc.kind || ce.RetryAfter != tc.retry || !strings.Contains(ce.Message, tc.msg) {
				t.Errorf("got kind %v retry %v %q", ce.Kind, ce.RetryAfter, ce.Message)
			}
			if strings.Contains(ce.Message, "shpat_x") {
				t.Error("the token shows")
			}
			if tc.kind == connector.ErrRateLimited && (len(b.holds) == 0 || !b.holds[0].Equal(time.Unix(1000, 0).Add(tc.retry))) {
				t.Errorf("holds %v, want one until +%v", b.holds, tc.retry)
			}
			// The test says the same, and reauthorization on a 401.
			res, err := c.TestConnection(context.Background(), conn)
			if err != nil || res.OK || res.Message != ce.Message {
				t.Errorf("test %+v %v", res, err)
			}
			if (res.Status == integration.ConnectionReauthorizationNeeded) != (tc.kind == connector.ErrAuth) {
				t.Errorf("status %s", res.Status)
			}
		})
	}
}

func TestTestConnectionOK(t *testing.T) {
	conn, _ := fakeShop(t, func(r gqlReq, w http.ResponseWriter) {
		reply(w, 200, map[string]any{"data": map[string]any{"shop": map[string]any{"name": "Acme", "myshopifyDomain": "acme.myshopify.com"}}, "extensions": costOf(1, 1999, 2000, 100)})
	})
	res, err := New().TestConnection(context.Background(), conn)
	if err != nil || !res.OK || res.Status != integration.ConnectionConnected || !strings.Contains(res.Message, "Acme (acme.myshopify.com)") {
		t.Fatalf("%+v %v", res, err)
	}
}

// recBudget records what the connector takes and holds.
type recBudget struct {
	mu    sync.Mutex
	takes [][3]float64
	holds []time.Time
}

func (b *recBudget) Take(_ context.Context, n int, rate float64, burst int) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.takes = append(b.takes, [3]float64{float64(n), rate, float64(burst)})
	return nil
}

func (b *recBudget) Hold(_ context.Context, until time.Time) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.holds = append(b.holds, until)
	return nil
}

func TestBudgetLearnsFromAnswers(t *testing.T) {
	var firsts []any
	conn, _ := fakeShop(t, func(r gqlReq, w http.ResponseWriter) {
		firsts = append(firsts, r.Variables["first"])
		first := r.Variables["first"].(float64)
		// A small store: 400 points at 20 a second, 3 points a product;
		// only 50 left after this call.
		reply(w, 200, map[string]any{"data": map[string]any{"products": map[string]any{"nodes": []any{},
			"pageInfo": map[string]any{"hasNextPage": false}}}, "extensions": costOf(2+3*first, 50, 400, 20)})
	})
	b := &recBudget{}
	conn.Budget = b
	c := New()
	c.Now = func() time.Time { return time.Unix(1000, 0) }
	for range 2 {
		if _, err := c.List(context.Background(), conn, connector.ListRequest{Model: "product"}); err != nil {
			t.Fatal(err)
		}
	}
	// First: the Standard plan's numbers and the estimate (half of 2000
	// at 31 a product: 32 products). Then the store's: half of 400 at 3
	// a product: 66 products, 200 points.
	if firsts[0] != float64(32) || firsts[1] != float64(66) {
		t.Errorf("page sizes %v", firsts)
	}
	if b.takes[0] != [3]float64{2 + 32*31, 100, 2000} || b.takes[1] != [3]float64{200, 20, 400} {
		t.Errorf("takes %v", b.takes)
	}
	// 98 points asked with 50 left: held until 48 more are restored.
	if len(b.holds) == 0 || !b.holds[0].Equal(time.Unix(1000, 0).Add(2400*time.Millisecond)) {
		t.Errorf("holds %v", b.holds)
	}
}

func TestPushSetsProductAndQuantities(t *testing.T) {
	var calls []gqlReq
	conn, got := fakeShop(t, func(r gqlReq, w http.ResponseWriter) {
		switch {
		case strings.Contains(r.Query, "productSet"):
			p := map[string]any{}
			for k, v := range sampleProduct {
				p[k] = v
			}
			p["variants"] = map[string]any{"nodes": []any{map[string]any{"id": "gid://shopify/ProductVariant/11", "title": "S", "price": "19.99",
				"inventoryQuantity": 0, "selectedOptions": []any{map[string]any{"name": "Size", "value": "S"}}, "inventoryItem": map[string]any{"id": "gid://shopify/InventoryItem/99"}}}}
			reply(w, 200, map[string]any{"data": map[string]any{"productSet": map[string]any{"product": p, "userErrors": []any{}}}})
		case strings.Contains(r.Query, "inventorySetQuantities"):
			reply(w, 200, map[string]any{"data": map[string]any{"inventorySetQuantities": map[string]any{"userErrors": []any{}}}})
		}
	})
	q := 7
	rec := integration.Record{Model: "product", Fields: &integration.Product{Title: "Red shirt", Status: "active",
		Options:  []integration.ProductOption{{Name: "Size", Values: []string{"S"}}},
		Variants: []integration.Variant{{Price: "19.99", InventoryQuantity: &q, OptionValues: []integration.OptionValue{{Name: "Size", Value: "S"}}}}}}
	c := New()
	// Quantities without a location: refused before anything is written.
	_, err := c.Create(context.Background(), conn, rec)
	if ce := kind(t, err); ce.Kind != connector.ErrInvalid || !strings.Contains(ce.Message, "config.inventory_location_id") || len(*got) != 0 {
		t.Fatalf("%v (%d calls)", err, len(*got))
	}
	if err := CheckPush(conn.Config, rec.Fields); integration.ErrorCode(err) != integration.EUNPROCESSABLE {
		t.Errorf("CheckPush: %v", err)
	}
	conn.Config = map[string]any{LocationKey: "gid://shopify/Location/3"}
	out, err := c.Create(context.Background(), conn, rec)
	if err != nil {
		t.Fatal(err)
	}
	calls = *got
	in := calls[0].Variables["input"].(map[string]any)
	if in["status"] != "ACTIVE" || in["id"] != nil || in["productOptions"] == nil || in["variants"].([]any)[0].(map[string]any)["optionValues"] == nil {
		t.Errorf("productSet input %v", in)
	}
	inv := calls[1].Variables["input"].(map[string]any)["quantities"].([]any)[0].(map[string]any)
	if inv["inventoryItemId"] != "gid://shopify/InventoryItem/99" || inv["locationId"] != "gid://shopify/Location/3" || inv["quantity"] != float64(7) {
		t.Errorf("quantities %v", inv)
	}
	if got := *out.Fields.(*integration.Product).Variants[0].InventoryQuantity; got != 7 || out.ExternalID != "gid://shopify/Product/7" {
		t.Errorf("pushed %+v quantity %d", out, got)
	}
	// An update names the product.
	out.Fields.(*integration.Product).Variants[0].InventoryQuantity = nil
	if _, err := c.Update(context.Background(), conn, out); err != nil {
		t.Fatal(err)
	}
	if id := (*got)[2].Variables["input"].(map[string]any)["id"]; id != "gid://shopify/Product/7" {
		t.Errorf("update id %v", id)
	}
}

func TestUserErrorsNameTheField(t *testing.T) {
	conn, _ := fakeShop(t, func(r gqlReq, w http.ResponseWriter) {
		reply(w, 200, map[string]any{"data": map[string]any{"productSet": map[string]any{"product": nil,
			"userErrors": []any{map[string]any{"field": []string{"input", "variants", "0", "price"}, "message": "Price must be positive", "code": "INVALID"}}}}})
	})
	_, err := New().Create(context.Background(), conn, integration.Record{Model: "product", Fields: &integration.Product{Title: "x"}})
	ce := kind(t, err)
	if ce.Kind != connector.ErrInvalid || ce.Code != "INVALID" || !strings.Contains(ce.Message, "input.variants.0.price: Price must be positive") {
		t.Errorf("%+v", ce)
	}
}
