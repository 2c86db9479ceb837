package syncer_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/connector/shopify"
	"github.com/joinery/joinery/pkg/fakeplatforms"
	"github.com/joinery/joinery/pkg/integration"
)

// Deleting a Shopify integration removes its webhook subscriptions at the
// store, and only its own, before its tokens go.
func TestDeleteRemovesTheStoresSubscriptions(t *testing.T) {
	h := newDirectHarness(t, newPlatform(1))
	fake := fakeplatforms.Start(t, "shopify", fakeplatforms.Options{})
	ctx := context.Background()
	tok := fake.Mint()
	now := time.Now().UTC()
	it := &integration.Integration{ID: "shop-1", AccountID: h.actor.AccountID, SiteID: "site-3", Platform: "shopify", ExternalSiteURL: fake.URL(),
		ConnectionStatus: integration.ConnectionConnected, CreatedAt: now, UpdatedAt: now, Version: 1, Rev: 1}
	ver, err := h.service.Secrets.PutSecret(ctx, integration.SecretRef{AccountID: it.AccountID, IntegrationID: it.ID, SiteID: it.SiteID, Platform: "shopify"},
		map[string]string{"access_token": tok.AccessToken, "refresh_token": tok.RefreshToken})
	if err != nil {
		t.Fatal(err)
	}
	it.Credentials = integration.CredentialsRef{SecretName: ver.Name, VersionID: ver.VersionID, Fields: []string{"access_token", "refresh_token"}}
	if err := h.store.CreateIntegration(ctx, it); err != nil {
		t.Fatal(err)
	}
	c := shopify.New()
	h.engine.Connectors = map[string]connector.Connector{"shopify": c}
	h.engine.HTTP = fake.Client()
	h.engine.Revoker = &connector.Revoker{HTTP: fake.Client()}
	h.service.PurgeLater = h.engine.QueuePurge
	h.service.TeardownLater = h.engine.QueueTeardown
	conn := connector.Connection{SiteURL: fake.URL(), HTTP: fake.Client(), Credentials: map[string]string{"access_token": tok.AccessToken}}
	for _, u := range []string{"https://hooks.example.com/webhooks/shopify/shop-1", "https://hooks.example.com/webhooks/shopify/shop-2"} {
		if _, err := c.Subscribe(ctx, conn, u); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.service.Delete(ctx, h.actor, it.ID, nil); err != nil {
		t.Fatal(err)
	}
	if errs := h.drive(); len(errs) != 0 {
		t.Fatalf("failed deliveries: %v", errs)
	}
	subs := fake.WebhookSubscriptions()
	if len(subs) != 4 {
		t.Fatalf("%d subscriptions left, want the other integration's 4", len(subs))
	}
	for _, s := range subs {
		if s.URI != "https://hooks.example.com/webhooks/shopify/shop-2" {
			t.Errorf("left %s", s.URI)
		}
	}
	if !h.secretGone(it) {
		t.Error("the tokens are still there")
	}
}

// A Shopify integration just connected is subscribed with the tokens just
// granted, its deliveries routed to it, before any run; again is a no-op,
// and a failure says why without the tokens.
func TestConnectSubscribesTheStoresWebhooks(t *testing.T) {
	h := newDirectHarness(t, newPlatform(1))
	fake := fakeplatforms.Start(t, "shopify", fakeplatforms.Options{})
	ctx := context.Background()
	tok := fake.Mint()
	h.engine.Connectors = map[string]connector.Connector{"shopify": shopify.New(), "wordpress": h.engine.Connectors["wordpress"]}
	h.engine.HTTP = fake.Client()
	h.engine.WebhookURLs = map[string]string{"shopify": "https://hooks.example.com"}
	it := &integration.Integration{ID: "shop-1", AccountID: h.actor.AccountID, SiteID: "site-3", Platform: "shopify", ExternalSiteURL: fake.URL(),
		OAuth: &integration.OAuthInfo{ExternalAccountID: "Acme.myshopify.com"}}
	tokens := map[string]string{"access_token": tok.AccessToken, "refresh_token": tok.RefreshToken}
	for range 2 {
		if err := h.engine.SubscribeOnConnect(ctx, it, tokens); err != nil {
			t.Fatal(err)
		}
		subs := fake.WebhookSubscriptions()
		if len(subs) != 4 {
			t.Fatalf("%d subscriptions, want 4", len(subs))
		}
		for _, s := range subs {
			if s.URI != "https://hooks.example.com/webhooks/shopify/shop-1" {
				t.Errorf("subscribed %s", s.URI)
			}
		}
	}
	routes, err := h.service.Store.WebhookRoutes(ctx, "shopify", "acme.myshopify.com", 10)
	if err != nil || len(routes) != 1 || routes[0].IntegrationID != "shop-1" || routes[0].AccountID != it.AccountID {
		t.Fatalf("routes %+v %v", routes, err)
	}

	bad := map[string]string{"access_token": "shpat-not-a-token-of-the-store"}
	err = h.engine.SubscribeOnConnect(ctx, &integration.Integration{ID: "shop-2", AccountID: it.AccountID, Platform: "shopify", ExternalSiteURL: fake.URL()}, bad)
	if err == nil || strings.Contains(err.Error(), bad["access_token"]) {
		t.Fatalf("with a bad token: %v", err)
	}
	// A platform not subscribed by API: nothing to do.
	if err := h.engine.SubscribeOnConnect(ctx, &integration.Integration{ID: "wp-1", AccountID: it.AccountID, Platform: "wordpress", ExternalSiteURL: "https://wp.example.com"}, tokens); err != nil {
		t.Fatal(err)
	}
}
