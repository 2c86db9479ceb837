package syncer_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/fakeplatforms"
	"github.com/joinery/joinery/pkg/integration"
)

// oauthIntegration stores a connected OAuth integration with tokens from
// the fake, as the connect flow leaves one, and wires the teardown.
func oauthIntegration(t *testing.T, h *harness, fake *fakeplatforms.Server, platform string) (*integration.Integration, fakeplatforms.Tokens) {
	t.Helper()
	ctx := context.Background()
	tok := fake.Mint()
	now := time.Now().UTC()
	it := &integration.Integration{ID: "oauth-" + platform, AccountID: h.actor.AccountID, SiteID: "site-2", Platform: platform,
		ConnectionStatus: integration.ConnectionConnected, CreatedAt: now, UpdatedAt: now, Version: 1, Rev: 1}
	ver, err := h.service.Secrets.PutSecret(ctx, integration.SecretRef{AccountID: it.AccountID, IntegrationID: it.ID, SiteID: it.SiteID, Platform: platform},
		map[string]string{"access_token": tok.AccessToken, "refresh_token": tok.RefreshToken, "external_account_name": "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	it.Credentials = integration.CredentialsRef{SecretName: ver.Name, VersionID: ver.VersionID, Fields: []string{"access_token", "refresh_token"}}
	if err := h.store.CreateIntegration(ctx, it); err != nil {
		t.Fatal(err)
	}
	h.engine.Revoker = &connector.Revoker{HTTP: fake.Client()}
	h.service.PurgeLater = h.engine.QueuePurge
	h.service.TeardownLater = h.engine.QueueTeardown
	return it, tok
}

func (h *harness) secretGone(it *integration.Integration) bool {
	_, err := h.service.Secrets.GetSecret(context.Background(), it.Credentials.SecretName, it.Credentials.VersionID)
	return integration.ErrorCode(err) == integration.ENOTFOUND
}

func (h *harness) eventsOf(it *integration.Integration) []integration.SyncEvent {
	evs, _, err := h.store.ListEvents(context.Background(), integration.EventQuery{IntegrationID: it.ID, Limit: 10})
	if err != nil {
		h.t.Fatal(err)
	}
	return evs
}

// Deleting an OAuth integration revokes its grant at the platform before
// its tokens are deleted, then purges, whether the revocation works at
// once or after a retry.
func TestDeleteRevokesTheGrantFirst(t *testing.T) {
	for _, c := range []struct {
		platform string
		failures int
	}{{"google_calendar", 0}, {"slack", 0}, {"slack", 1}, {"google_calendar", 2}} {
		t.Run(c.platform, func(t *testing.T) {
			h := newDirectHarness(t, newPlatform(1))
			fake := fakeplatforms.Start(t, c.platform, fakeplatforms.Options{})
			it, tok := oauthIntegration(t, h, fake, c.platform)
			if c.platform == "slack" {
				fake.FailAPI(503, c.failures)
			} else {
				fake.FailToken(503, c.failures)
			}
			if err := h.service.Delete(context.Background(), h.actor, it.ID, nil); err != nil {
				t.Fatal(err)
			}
			if h.secretGone(it) {
				t.Fatal("the tokens went before the revocation")
			}
			if _, err := h.service.Get(context.Background(), h.actor, it.ID); integration.ErrorCode(err) != integration.ENOTFOUND {
				t.Fatalf("the integration is still visible: %v", err)
			}
			errs := h.drive()
			if len(errs) != c.failures {
				t.Fatalf("failed deliveries: %v", errs)
			}
			if fake.Revocations() != 1 || fake.Valid(tok.RefreshToken) || fake.Valid(tok.AccessToken) {
				t.Fatalf("grant not revoked: %d revocations", fake.Revocations())
			}
			if !h.secretGone(it) {
				t.Fatal("the tokens outlived the teardown")
			}
			if evs := h.eventsOf(it); len(evs) != 0 {
				t.Fatalf("events left: %+v", evs)
			}
		})
	}
}

// A revocation failing on every attempt still deletes the tokens, and an
// event that survives the purge says what remains at the platform.
func TestDeleteWhenTheRevocationKeepsFailing(t *testing.T) {
	h := newDirectHarness(t, newPlatform(1))
	fake := fakeplatforms.Start(t, "slack", fakeplatforms.Options{})
	it, tok := oauthIntegration(t, h, fake, "slack")
	fake.FailAPI(503, 10)
	if err := h.service.Delete(context.Background(), h.actor, it.ID, nil); err != nil {
		t.Fatal(err)
	}
	errs := h.drive()
	if len(errs) != h.engine.MaxReceives-1 {
		t.Fatalf("failed deliveries: %v", errs)
	}
	if fake.Revocations() != 0 || !fake.Valid(tok.RefreshToken) {
		t.Fatal("the fake should have refused every revocation")
	}
	if !h.secretGone(it) {
		t.Fatal("the tokens were kept after the last attempt")
	}
	evs := h.eventsOf(it)
	if len(evs) != 1 || evs[0].Type != "connection" || evs[0].Status != "warning" ||
		!strings.Contains(evs[0].Message, "could not revoke its access at Slack after 3 attempts") ||
		!strings.Contains(evs[0].Message, "grant remains at Slack (Acme)") || !strings.Contains(evs[0].Message, "HTTP 503") {
		t.Fatalf("events: %+v", evs)
	}
	if strings.Contains(evs[0].Message, tok.AccessToken) || strings.Contains(evs[0].Message, tok.RefreshToken) {
		t.Fatal("the event shows a token")
	}
}

// A Slack token past its 12 hours cannot revoke on a later try either:
// the tokens go at once, and the event says the grant remains.
func TestDeleteWithAnExpiredSlackToken(t *testing.T) {
	h := newDirectHarness(t, newPlatform(1))
	fake := fakeplatforms.Start(t, "slack", fakeplatforms.Options{})
	it, _ := oauthIntegration(t, h, fake, "slack")
	fake.ExpireAccessTokens()
	if err := h.service.Delete(context.Background(), h.actor, it.ID, nil); err != nil {
		t.Fatal(err)
	}
	if errs := h.drive(); len(errs) != 0 {
		t.Fatalf("retried: %v", errs)
	}
	evs := h.eventsOf(it)
	if !h.secretGone(it) || len(evs) != 1 || !strings.Contains(evs[0].Message, "after 1 attempt (Slack refused auth.revoke (token_expired).)") {
		t.Fatalf("events: %+v", evs)
	}
}

// A platform with nothing to revoke loses its tokens at once, as before.
func TestDeleteWithoutRevocation(t *testing.T) {
	h := newDirectHarness(t, newPlatform(1))
	fake := fakeplatforms.Start(t, "jira", fakeplatforms.Options{})
	it, _ := oauthIntegration(t, h, fake, "jira")
	if err := h.service.Delete(context.Background(), h.actor, it.ID, nil); err != nil {
		t.Fatal(err)
	}
	if !h.secretGone(it) {
		t.Fatal("the tokens should go with the delete")
	}
	if errs := h.drive(); len(errs) != 0 {
		t.Fatal(errs)
	}
	if fake.Revocations() != 0 {
		t.Fatal("revoked on a platform without revocation")
	}
}
