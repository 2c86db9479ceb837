package syncer_test

import (
	"context"
	"testing"

	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/connector/shopify"
	"github.com/joinery/joinery/pkg/integration"
)

// shopHook is a platform whose deliveries map as Shopify's do.
type shopHook struct {
	*hookPlatform
	m *shopify.Connector
}

func (s shopHook) Models() []string { return []string{"product"} }
func (s shopHook) WebhookModel(event, model string) (string, bool) {
	return s.m.WebhookModel(event, model)
}
func (s shopHook) WebhookObjectID(model, id string) string { return s.m.WebhookObjectID(model, id) }
func (s shopHook) Revoked(event string) bool               { return s.m.Revoked(event) }

type shopApp struct{}

func (shopApp) App(context.Context, string) (map[string]string, error) {
	return map[string]string{"client_id": "c", "client_secret": "s"}, nil
}

// newShopHarness is the webhook harness on a connected Shopify store.
func newShopHarness(t *testing.T) *hookHarness {
	t.Helper()
	h := newHookHarness(t)
	h.service.Apps = shopApp{}
	ctx := context.Background()
	actor := integration.Actor{Subject: "u", AccountID: "acct-1", Role: integration.RoleEditor}
	it, err := h.service.Create(ctx, actor, integration.CreateInput{SiteID: "site-2", Platform: "shopify", ExternalSiteURL: "https://acme.myshopify.com"})
	if err != nil {
		t.Fatal(err)
	}
	if it, err = h.service.RecordOAuthGrant(ctx, integration.Actor{Subject: "joinery:oauth", AccountID: "acct-1", Role: integration.RoleOwner}, it.ID,
		integration.OAuthGrant{Tokens: map[string]string{"access_token": "shpat_x"}, Status: integration.ConnectionConnected, At: hookT0}); err != nil {
		t.Fatal(err)
	}
	h.it = it
	h.engine.Connectors = map[string]connector.Connector{"shopify": shopHook{h.platform, shopify.New()}}
	return h
}

// Shopify's product deliveries name products by their numeric REST id:
// the product is read again by its GID and written, a deleted one marked
// deleted; app/uninstalled marks the connection for reauthorization; a
// compliance topic is recorded and read nothing.
func TestShopifyWebhooksMapToProducts(t *testing.T) {
	h := newShopHarness(t)
	gid := "gid://shopify/Product/788032119674292922"
	h.platform.set(integration.Record{ExternalID: gid, Model: "product", ModifiedAt: hookT0, Fields: &integration.Product{Title: "Shirt", Status: "active"}})
	if err := h.deliver("e1", "products/update", "products", "788032119674292922"); err != nil {
		t.Fatal(err)
	}
	if _, rec := h.record("product", gid); rec.Fields.(*integration.Product).Title != "Shirt" {
		t.Fatalf("record %+v", rec)
	}
	h.platform.mu.Lock()
	delete(h.platform.posts, "product/"+gid)
	h.platform.mu.Unlock()
	if err := h.deliver("e2", "products/delete", "products", "788032119674292922"); err != nil {
		t.Fatal(err)
	}
	if stored, _ := h.record("product", gid); !stored.Deleted {
		t.Fatal("a deleted product's record is not marked deleted")
	}
	gets := h.platform.gets
	if err := h.deliver("e3", "shop/redact", ""); err != nil {
		t.Fatal(err)
	}
	if err := h.deliver("e4", "customers/data_request", ""); err != nil {
		t.Fatal(err)
	}
	if h.platform.gets != gets {
		t.Error("a compliance delivery read from the store")
	}
	if err := h.deliver("e5", "app/uninstalled", "app", "123"); err != nil {
		t.Fatal(err)
	}
	it, err := h.service.Get(context.Background(), integration.Actor{Subject: "u", AccountID: "acct-1", Role: integration.RoleViewer}, h.it.ID)
	if err != nil {
		t.Fatal(err)
	}
	if it.ConnectionStatus != integration.ConnectionReauthorizationNeeded {
		t.Errorf("connection %s after app/uninstalled", it.ConnectionStatus)
	}
	evs := h.webhookEvents()
	topics := map[string]bool{}
	for _, ev := range evs {
		topics[ev.Details["event"].(string)] = true
	}
	for _, topic := range []string{"products/update", "products/delete", "shop/redact", "customers/data_request", "app/uninstalled"} {
		if !topics[topic] {
			t.Errorf("no webhook event of %s (events %v)", topic, topics)
		}
	}
}
