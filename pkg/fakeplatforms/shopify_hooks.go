package fakeplatforms

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Webhooks: subscriptions made with webhookSubscriptionCreate, and
// deliveries as Shopify makes them: an HTTP POST of the REST-style JSON
// payload (numeric ids) to the subscription's URL, signed with the app's
// client secret (X-Shopify-Hmac-Sha256: base64 HMAC-SHA256 of the raw
// body), with Shopify's headers. The fake delivers once, without
// Shopify's retries, and records every attempt (Deliveries).

type shopifyHook struct {
	id               int64
	topic            string // GraphQL enum: PRODUCTS_UPDATE
	uri              string
	format           string
	includeFields    []string
	filter           string
	created, updated time.Time
}

func (st *shopifyState) hook(id int64) *shopifyHook {
	for _, h := range st.hooks {
		if h.id == id {
			return h
		}
	}
	return nil
}

func (r *shopifyRoot) hookObj(h *shopifyHook) gqlObject {
	inc := h.includeFields
	if inc == nil {
		inc = []string{}
	}
	var filter any
	if h.filter != "" {
		filter = h.filter
	}
	return &fields{typ: "WebhookSubscription", v: map[string]any{
		"id": ShopifyGID("WebhookSubscription", h.id), "topic": h.topic, "uri": h.uri, "callbackUrl": h.uri,
		"format": h.format, "includeFields": inc, "filter": filter,
		"apiVersion": &fields{typ: "ApiVersion", v: map[string]any{"handle": r.st.version, "displayName": r.st.version, "supported": true}},
		"createdAt":  gqlTime(h.created), "updatedAt": gqlTime(h.updated),
	}}
}

// restTopic turns the GraphQL topic enum into the topic deliveries name:
// PRODUCTS_UPDATE → products/update, APP_UNINSTALLED → app/uninstalled.
func restTopic(enum string) string {
	res, action, ok := strings.Cut(strings.ToLower(enum), "_")
	if !ok {
		return res
	}
	switch res {
	case "inventory":
		// INVENTORY_LEVELS_UPDATE → inventory_levels/update
		if rest, ok := strings.CutPrefix(action, "levels_"); ok {
			return "inventory_levels/" + rest
		}
	}
	return res + "/" + action
}

// ShopifyDelivery is one webhook delivery the fake made.
type ShopifyDelivery struct {
	Topic     string // products/update
	URL       string
	WebhookID string // X-Shopify-Webhook-Id
	EventID   string // X-Shopify-Event-Id
	Body      []byte
	Header    http.Header
	Status    int   // the receiver's HTTP status (0: no answer)
	Err       error // why there was no answer
}

// shopifyEvent is something that happened in the shop, to deliver to
// every subscription of its topic.
type shopifyEvent struct {
	topic   string // GraphQL enum
	payload map[string]any
}

// outgoing is a delivery prepared under the lock and sent after it.
type outgoing struct {
	d   ShopifyDelivery
	req func() (*http.Request, error)
}

// prepare builds the deliveries of events to the subscriptions of their
// topics (callers hold s.mu).
func (s *Server) prepare(events []shopifyEvent) []outgoing {
	st := s.shopify
	var out []outgoing
	for _, ev := range events {
		eventID := s.uuid()
		for _, h := range st.hooks {
			if h.topic != ev.topic {
				continue
			}
			out = append(out, s.delivery(restTopic(ev.topic), h.uri, eventID, includeOnly(ev.payload, h.includeFields)))
		}
	}
	return out
}

// delivery signs and prepares one POST (callers hold s.mu).
func (s *Server) delivery(topic, url, eventID string, payload any) outgoing {
	body, _ := json.Marshal(payload)
	mac := hmac.New(sha256.New, []byte(s.opts.ClientSecret))
	mac.Write(body)
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "Shopify-Captain-Hook")
	h.Set("X-Shopify-Topic", topic)
	h.Set("X-Shopify-Hmac-Sha256", base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	h.Set("X-Shopify-Shop-Domain", s.shopDomain())
	h.Set("X-Shopify-API-Version", s.shopify.version)
	h.Set("X-Shopify-Webhook-Id", s.uuid())
	h.Set("X-Shopify-Event-Id", eventID)
	h.Set("X-Shopify-Triggered-At", s.now().UTC().Format(time.RFC3339Nano))
	d := ShopifyDelivery{Topic: topic, URL: url, WebhookID: h.Get("X-Shopify-Webhook-Id"), EventID: eventID, Body: body, Header: h}
	return outgoing{d: d, req: func() (*http.Request, error) {
		req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header = h.Clone()
		return req, nil
	}}
}

// webhookClient: Shopify waits 5 seconds for an answer.
var webhookClient = &http.Client{Timeout: 5 * time.Second}

// send makes the deliveries now (without s.mu) and records them; the
// error names the ones not answered 2xx.
func (s *Server) send(out []outgoing) ([]ShopifyDelivery, error) {
	var failed []string
	done := make([]ShopifyDelivery, 0, len(out))
	for _, o := range out {
		d := o.d
		req, err := o.req()
		if err == nil {
			var resp *http.Response
			if resp, err = webhookClient.Do(req); err == nil {
				_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
				resp.Body.Close()
				d.Status = resp.StatusCode
			}
		}
		d.Err = err
		if err != nil || d.Status/100 != 2 {
			failed = append(failed, fmt.Sprintf("%s to %s: status %d %v", d.Topic, d.URL, d.Status, err))
		}
		done = append(done, d)
	}
	s.mu.Lock()
	s.shopify.deliveries = append(s.shopify.deliveries, done...)
	s.mu.Unlock()
	if len(failed) > 0 {
		return done, fmt.Errorf("webhook deliveries failed: %s", strings.Join(failed, "; "))
	}
	return done, nil
}

// sendLater makes deliveries in the background, as Shopify does after an
// API write; WaitDeliveries waits for them.
func (s *Server) sendLater(out []outgoing) {
	if len(out) == 0 {
		return
	}
	s.shopify.inflight.Add(1)
	go func() {
		defer s.shopify.inflight.Done()
		_, _ = s.send(out)
	}()
}

func (s *Server) uuid() string {
	b := []byte(s.random(""))
	sum := sha256.Sum256(b)
	x := fmt.Sprintf("%x", sum[:16])
	return x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32]
}

// includeOnly keeps the payload's top-level fields a subscription's
// includeFields names (Shopify documents top-level fields only: a name
// that is not one, like "variants.price", keeps nothing); none: all.
func includeOnly(payload map[string]any, include []string) map[string]any {
	if len(include) == 0 {
		return payload
	}
	out := map[string]any{}
	for _, f := range include {
		if v, ok := payload[f]; ok {
			out[f] = v
		}
	}
	return out
}

// --- payloads (REST Admin API shapes) ---

func restTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05-07:00") }

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (s *Server) restProduct(p *ShopifyProduct) map[string]any {
	variants := make([]map[string]any, len(p.Variants))
	gids := make([]map[string]any, len(p.Variants))
	for i, v := range p.Variants {
		m := map[string]any{
			"admin_graphql_api_id": ShopifyGID("ProductVariant", v.ID), "id": v.ID, "product_id": p.ID,
			"title": variantTitle(&v), "price": v.Price, "position": i + 1, "inventory_policy": "deny",
			"compare_at_price": nullable(v.CompareAtPrice), "created_at": restTime(v.CreatedAt), "updated_at": restTime(v.UpdatedAt),
			"taxable": true, "barcode": nil, "fulfillment_service": "manual", "sku": v.SKU, "inventory_management": "shopify",
			"grams": 0, "weight": 0, "weight_unit": "kg", "inventory_item_id": v.InventoryItemID,
			"inventory_quantity": v.InventoryQuantity, "old_inventory_quantity": v.InventoryQuantity,
			"image_id": nil, "requires_shipping": true,
		}
		for j := range 3 {
			key := fmt.Sprintf("option%d", j+1)
			m[key] = nil
			if j < len(v.SelectedOptions) {
				m[key] = v.SelectedOptions[j].Value
			}
		}
		variants[i] = m
		gids[i] = map[string]any{"admin_graphql_api_id": ShopifyGID("ProductVariant", v.ID), "updated_at": restTime(v.UpdatedAt)}
	}
	options := make([]map[string]any, len(p.Options))
	for i, o := range p.Options {
		vals := make([]string, len(o.Values))
		for j, v := range o.Values {
			vals[j] = v.Name
		}
		options[i] = map[string]any{"name": o.Name, "id": o.ID, "product_id": p.ID, "position": i + 1, "values": vals}
	}
	images := make([]map[string]any, len(p.Images))
	for i, im := range p.Images {
		images[i] = map[string]any{"id": im.ID, "alt": nullable(im.AltText), "position": i + 1, "product_id": p.ID,
			"created_at": restTime(p.CreatedAt), "updated_at": restTime(p.UpdatedAt),
			"admin_graphql_api_id": ShopifyGID("ProductImage", im.ID), "width": 0, "height": 0, "src": im.URL, "variant_ids": []int64{}}
	}
	var image any
	if len(images) > 0 {
		image = images[0]
	}
	var published any
	if p.Status == "ACTIVE" {
		published = restTime(p.CreatedAt)
	}
	return map[string]any{
		"admin_graphql_api_id": ShopifyGID("Product", p.ID), "id": p.ID, "title": p.Title, "body_html": p.DescriptionHTML,
		"vendor": p.Vendor, "product_type": p.ProductType, "handle": p.Handle,
		"created_at": restTime(p.CreatedAt), "updated_at": restTime(p.UpdatedAt), "published_at": published,
		"template_suffix": nil, "published_scope": "web", "tags": strings.Join(p.Tags, ", "),
		"status": strings.ToLower(p.Status), "variants": variants, "options": options, "images": images, "image": image,
		"media": []any{}, "variant_gids": gids, "has_variants_that_requires_components": false, "category": nil,
	}
}

func (s *Server) restShop() map[string]any {
	name := s.shopDomain()
	if len(s.accounts) > 0 && s.accounts[0].Name != "" {
		name = s.accounts[0].Name
	}
	return map[string]any{
		"id": shopifyShopID, "name": name, "email": "owner@" + s.opts.Shop + ".example", "domain": s.shopDomain(),
		"myshopify_domain": s.shopDomain(), "country_code": "US", "currency": "USD", "iana_timezone": "UTC",
		"plan_name": "basic", "plan_display_name": "Basic", "shop_owner": "Shop Owner", "primary_location_id": ShopifyLocationID,
		"created_at": restTime(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)), "updated_at": restTime(s.now()),
	}
}
