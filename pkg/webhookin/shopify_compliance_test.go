package webhookin

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/joinery/joinery/pkg/integration"
	"github.com/joinery/joinery/pkg/webhook"
)

// Shopify's mandatory compliance topics are answered 200 whether or not
// the shop has an integration (shop/redact comes 48 hours after an
// uninstall, when the integration may be gone): queued for the
// integration's event log when there is one, and never refused but for
// a wrong HMAC.
func TestShopifyComplianceTopicsAreAnswered(t *testing.T) {
	f := newFixture()
	f.rc.Schemes = nil // Shopify's own scheme
	f.store.routes = append(f.store.routes, integration.WebhookRoute{Platform: "shopify", Key: "known.myshopify.com", AccountID: "acct-1", IntegrationID: "int-1"})
	bodies := map[string]string{
		"customers/data_request": `{"shop_id":954889,"shop_domain":"%s","orders_requested":[299938],"customer":{"id":191167,"email":"john@example.com"},"data_request":{"id":9999}}`,
		"customers/redact":       `{"shop_id":954889,"shop_domain":"%s","customer":{"id":191167,"email":"john@example.com"},"orders_to_redact":[299938]}`,
		"shop/redact":            `{"shop_id":954889,"shop_domain":"%s"}`,
	}
	n := 0
	for topic, tmpl := range bodies {
		for _, shop := range []string{"known.myshopify.com", "gone.myshopify.com"} {
			n++
			body := []byte(strings.Replace(tmpl, "%s", shop, 1))
			h := http.Header{}
			h.Set("X-Shopify-Topic", topic)
			h.Set("X-Shopify-Shop-Domain", shop)
			h.Set("X-Shopify-Webhook-Id", "wh-"+topic+"-"+shop)
			h.Set("X-Shopify-Hmac-Sha256", webhook.SignShopify("shop-secret", body))
			got := f.rc.Handle(context.Background(), webhook.Request{Method: "POST", Path: "/webhooks/shopify", Header: h, Body: body})
			wantStatus(t, got, http.StatusOK, topic+" for "+shop)
			h.Set("X-Shopify-Hmac-Sha256", webhook.SignShopify("wrong", body))
			got = f.rc.Handle(context.Background(), webhook.Request{Method: "POST", Path: "/webhooks/shopify", Header: h, Body: body})
			wantStatus(t, got, http.StatusUnauthorized, topic+" with a wrong HMAC")
		}
	}
	jobs := f.queue.jobs(t)
	if len(jobs) != len(bodies) {
		t.Fatalf("%d jobs queued, want one a topic for the known shop", len(jobs))
	}
	for _, j := range jobs {
		if j.IntegrationID != "int-1" || j.Webhook.Model != "" || len(j.Webhook.ObjectIDs) != 0 {
			t.Errorf("job %+v %+v", j, j.Webhook)
		}
	}
	if f.rc.Unrouted() != int64(len(bodies)) {
		t.Errorf("unrouted %d", f.rc.Unrouted())
	}
}
