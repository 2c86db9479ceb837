package fakeplatforms

import (
	"bytes"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"time"
)

// Test helpers of the Shopify fake: they act as the merchant would in the
// Shopify admin (or as Shopify itself), without going through the API,
// and send the webhooks Shopify would. Calling them on another platform's
// fake panics.

func (s *Server) shop() *shopifyState {
	if s.shopify == nil {
		panic("fakeplatforms: a Shopify helper called on the " + s.platform + " fake")
	}
	return s.shopify
}

// SetCostBucket sizes the GraphQL cost bucket (Shopify's leaky bucket for
// the app on the shop): maximumAvailable points, restoreRate points a
// second on the fake's clock (defaults 2000 and 100, the Standard plan).
// The bucket starts full.
func (s *Server) SetCostBucket(maximumAvailable, restoreRate float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.shop().bucket = costBucket{max: maximumAvailable, rate: restoreRate}
}

// SetSearchLag makes product search (products with a query, such as
// updated_at:>='…') see a write only d after it, as Shopify's search
// index lags behind writes: meanwhile a query matches and orders the
// product as it was before (a new one not at all), while the data
// returned is current. Queries without a query argument are not
// affected. Default 0.
func (s *Server) SetSearchLag(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.shop().searchLag = d
}

// CostAvailable is what the cost bucket holds now.
func (s *Server) CostAvailable() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.shop().bucket.level(s.now())
}

// Throttled is how many GraphQL calls were answered THROTTLED.
func (s *Server) Throttled() int { s.mu.Lock(); defer s.mu.Unlock(); return s.shop().throttled }

// GraphQLCalls is how many GraphQL calls passed authentication.
func (s *Server) GraphQLCalls() int { s.mu.Lock(); defer s.mu.Unlock(); return s.shop().calls }

// WebhooksOnAPIWrites says whether productSet, productDelete and
// inventorySetQuantities send webhooks to the subscriptions, as Shopify
// does (default true; deliveries go out in the background:
// WaitDeliveries).
func (s *Server) WebhooksOnAPIWrites(on bool) { s.mu.Lock(); s.shop().apiHooks = on; s.mu.Unlock() }

// WaitDeliveries waits for the webhook deliveries API writes started.
func (s *Server) WaitDeliveries() { s.shop().inflight.Wait() }

// Deliveries are the webhook deliveries made so far, oldest first.
func (s *Server) Deliveries() []ShopifyDelivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.shop().deliveries)
}

// ShopifyWebhookSubscription is a webhook subscription the app made.
type ShopifyWebhookSubscription struct {
	ID            int64  // gid://shopify/WebhookSubscription/<ID>
	Topic         string // GraphQL enum: PRODUCTS_UPDATE
	URI           string
	IncludeFields []string
}

// WebhookSubscriptions are the app's current webhook subscriptions.
func (s *Server) WebhookSubscriptions() []ShopifyWebhookSubscription {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []ShopifyWebhookSubscription
	for _, h := range s.shop().hooks {
		out = append(out, ShopifyWebhookSubscription{ID: h.id, Topic: h.topic, URI: h.uri, IncludeFields: slices.Clone(h.includeFields)})
	}
	return out
}

// SeedProducts adds n products quickly (no webhooks): "Product 1".. with
// two variants each (Size S and M), all updated now.
func (s *Server) SeedProducts(n int) []ShopifyProduct {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.shop()
	now := s.now()
	out := make([]ShopifyProduct, 0, n)
	base := len(st.products)
	for i := range n {
		k := base + i + 1
		p := &ShopifyProduct{
			Title: fmt.Sprintf("Product %d", k), DescriptionHTML: fmt.Sprintf("<p>Product number %d.</p>", k),
			Vendor: "Acme", ProductType: "Widget", Status: "ACTIVE", Tags: []string{"seed"},
			Options: []ShopifyOption{{Name: "Size", Values: []ShopifyOptionValue{{Name: "S"}, {Name: "M"}}}},
			Variants: []ShopifyVariant{
				{SKU: fmt.Sprintf("SKU-%d-S", k), Price: "10.00", InventoryQuantity: 5, SelectedOptions: []ShopifySelectedOption{{Name: "Size", Value: "S"}}},
				{SKU: fmt.Sprintf("SKU-%d-M", k), Price: "12.50", CompareAtPrice: "15.00", InventoryQuantity: 3, SelectedOptions: []ShopifySelectedOption{{Name: "Size", Value: "M"}}},
			},
			Images: []ShopifyImage{{URL: fmt.Sprintf("https://cdn.shopify.com/s/files/1/fake/product-%d.jpg", k), AltText: fmt.Sprintf("Product %d", k)}},
		}
		st.normalize(p, now)
		st.put(p, now)
		out = append(out, cloneProduct(p))
	}
	return out
}

// AddProduct adds a product as the merchant would in the admin (ids,
// handle, status, times and a default variant filled when missing) and
// sends products/create.
func (s *Server) AddProduct(p ShopifyProduct) (ShopifyProduct, error) {
	s.mu.Lock()
	st := s.shop()
	np := cloneProduct(&p)
	if _, taken := st.products[np.ID]; np.ID != 0 && taken {
		s.mu.Unlock()
		return ShopifyProduct{}, fmt.Errorf("product %d exists", np.ID)
	}
	st.normalize(&np, s.now())
	st.put(&np, s.now())
	out := s.prepare([]shopifyEvent{{topic: "PRODUCTS_CREATE", payload: s.restProduct(&np)}})
	c := cloneProduct(&np)
	s.mu.Unlock()
	_, err := s.send(out)
	return c, err
}

// Product is the product with that numeric id.
func (s *Server) Product(id int64) (ShopifyProduct, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.shop().products[id]
	if !ok {
		return ShopifyProduct{}, false
	}
	return cloneProduct(p), true
}

// Products are the shop's products by id.
func (s *Server) Products() []ShopifyProduct {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ShopifyProduct, 0, len(s.shop().products))
	for _, p := range s.shop().products {
		out = append(out, cloneProduct(p))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// ProductCount is how many products the shop has.
func (s *Server) ProductCount() int { s.mu.Lock(); defer s.mu.Unlock(); return len(s.shop().products) }

// EditProduct changes a product as the merchant would in the admin: edit
// runs on it, updated_at moves to now, new variants, options and images
// get ids, and products/update goes to the subscriptions (synchronously:
// the error names deliveries not answered 2xx).
func (s *Server) EditProduct(id int64, edit func(*ShopifyProduct)) (ShopifyProduct, error) {
	s.mu.Lock()
	st := s.shop()
	p, ok := st.products[id]
	if !ok {
		s.mu.Unlock()
		return ShopifyProduct{}, fmt.Errorf("no product %d", id)
	}
	np := cloneProduct(p)
	if edit != nil {
		edit(&np)
	}
	np.ID = id
	np.UpdatedAt = s.now()
	for i := range np.Variants {
		np.Variants[i].UpdatedAt = np.UpdatedAt
	}
	st.normalize(&np, s.now())
	st.put(&np, s.now())
	out := s.prepare([]shopifyEvent{{topic: "PRODUCTS_UPDATE", payload: s.restProduct(&np)}})
	c := cloneProduct(&np)
	s.mu.Unlock()
	_, err := s.send(out)
	return c, err
}

// DeleteProduct deletes a product as the merchant would and sends
// products/delete ({"id": <numeric id>}).
func (s *Server) DeleteProduct(id int64) error {
	s.mu.Lock()
	if !s.shop().remove(id) {
		s.mu.Unlock()
		return fmt.Errorf("no product %d", id)
	}
	out := s.prepare([]shopifyEvent{{topic: "PRODUCTS_DELETE", payload: map[string]any{"id": id}}})
	s.mu.Unlock()
	_, err := s.send(out)
	return err
}

// Uninstall acts as the merchant uninstalling the app: app/uninstalled
// goes to its subscriptions, then every token is revoked and the
// subscriptions are gone, as on Shopify.
func (s *Server) Uninstall() error {
	s.mu.Lock()
	st := s.shop()
	out := s.prepare([]shopifyEvent{{topic: "APP_UNINSTALLED", payload: s.restShop()}})
	for _, g := range s.grants {
		g.dead = true
	}
	st.hooks = nil
	s.mu.Unlock()
	_, err := s.send(out)
	return err
}

// ShopifyComplianceTopics are the mandatory compliance webhooks, set in
// the app's configuration rather than by API.
var ShopifyComplianceTopics = []string{"customers/data_request", "customers/redact", "shop/redact"}

// SendCompliance delivers a compliance webhook (customers/data_request,
// customers/redact or shop/redact) to callbackURL, signed like every
// delivery, with Shopify's example payload for the fake shop.
func (s *Server) SendCompliance(topic, callbackURL string) (ShopifyDelivery, error) {
	s.mu.Lock()
	base := map[string]any{"shop_id": shopifyShopID, "shop_domain": s.shopDomain()}
	customer := map[string]any{"id": 191167, "email": "john@example.com", "phone": "555-625-1199"}
	switch topic {
	case "customers/data_request":
		base["customer"] = customer
		base["orders_requested"] = []int64{299938, 280263, 220458}
		base["data_request"] = map[string]any{"id": 9999}
	case "customers/redact":
		base["customer"] = customer
		base["orders_to_redact"] = []int64{299938, 280263, 220458}
	case "shop/redact":
	default:
		s.mu.Unlock()
		return ShopifyDelivery{}, fmt.Errorf("not a compliance topic: %q", topic)
	}
	out := s.delivery(topic, callbackURL, s.uuid(), base)
	s.mu.Unlock()
	done, err := s.send([]outgoing{out})
	return done[0], err
}

// DeliverWebhook sends any payload on any topic to callbackURL, signed
// with secret ("" → the app's client secret), for tests of forged or odd
// deliveries.
func (s *Server) DeliverWebhook(topic, callbackURL string, payload any, secret string) (ShopifyDelivery, error) {
	s.mu.Lock()
	saved := s.opts.ClientSecret
	if secret != "" {
		s.opts.ClientSecret = secret
	}
	out := s.delivery(topic, callbackURL, s.uuid(), payload)
	s.opts.ClientSecret = saved
	s.mu.Unlock()
	done, err := s.send([]outgoing{out})
	return done[0], err
}

// Redeliver sends a recorded delivery again, same headers and body (the
// webhook and event ids included), as Shopify's retries do.
func (s *Server) Redeliver(d ShopifyDelivery) (ShopifyDelivery, error) {
	h, body := d.Header.Clone(), slices.Clone(d.Body)
	d.Status, d.Err = 0, nil
	done, err := s.send([]outgoing{{d: d, req: func() (*http.Request, error) {
		req, err := http.NewRequest(http.MethodPost, d.URL, bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header = h.Clone()
		return req, nil
	}}})
	return done[0], err
}
