package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"time"
)

// shopifyScheme: X-Shopify-Hmac-Sha256 is the base64 HMAC-SHA256 of the
// raw body with the app's client secret. The signature carries no
// timestamp: replays are stopped by dedupe on the event id. Shopify's
// newer Events deliveries send the same headers without the X- prefix.
type shopifyScheme struct{}

func shopifyHeader(r Request, name string) string {
	if v := r.Header.Get("X-Shopify-" + name); v != "" {
		return v
	}
	return r.Header.Get("Shopify-" + name)
}

func (shopifyScheme) Locate(r Request) (string, string) {
	return hookIDFromPath(r.Path, "shopify"), ""
}

func (shopifyScheme) Verify(r Request, k Keys, _ time.Time) error {
	if k.AppSecret == "" {
		return unauthorized("no client secret configured")
	}
	sig := shopifyHeader(r, "Hmac-Sha256")
	if sig == "" {
		return unauthorized("X-Shopify-Hmac-Sha256 missing")
	}
	got, err := base64.StdEncoding.DecodeString(strings.TrimSpace(sig))
	if err != nil {
		return unauthorized("X-Shopify-Hmac-Sha256 not base64")
	}
	mac := hmac.New(sha256.New, []byte(k.AppSecret))
	mac.Write(r.Body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return unauthorized("X-Shopify-Hmac-Sha256")
	}
	return nil
}

func (shopifyScheme) Parse(r Request) (Delivery, error) {
	d := Delivery{Platform: "shopify", HookID: hookIDFromPath(r.Path, "shopify")}
	// The event id is the same on every subscription's copy of one event
	// and on retries; the webhook id only on retries of one copy.
	if d.ID = shopifyHeader(r, "Event-Id"); d.ID == "" {
		d.ID = shopifyHeader(r, "Webhook-Id")
	}
	if d.ID == "" {
		return Delivery{}, badRequest("X-Shopify-Event-Id missing")
	}
	if d.Event = shopifyHeader(r, "Topic"); d.Event == "" {
		return Delivery{}, badRequest("X-Shopify-Topic missing")
	}
	if d.Account = shopifyHeader(r, "Shop-Domain"); d.Account == "" {
		return Delivery{}, badRequest("X-Shopify-Shop-Domain missing")
	}
	raw, err := topLevel(r.Body, "id")
	if err != nil {
		return Delivery{}, err
	}
	if id, ok := idString(raw); ok {
		// "products/update" concerns a product: the topic's resource.
		d.Model, _, _ = strings.Cut(d.Event, "/")
		d.ObjectIDs = []string{id}
	}
	return d, nil
}
