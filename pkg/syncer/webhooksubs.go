package syncer

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/integration"
)

// Platforms that post one app's webhooks for every account (Shopify) are
// subscribed by API: on connect (the OAuth callback), and at the start
// of each run of an integration, which makes sure the platform has its
// subscriptions, to <base>/webhooks/<platform>/<id>
// (Engine.WebhookURLs), and that the deliveries, which name the account,
// route to it. Subscribing is idempotent and costs one listing when
// nothing is missing, so it also mends subscriptions the platform dropped
// (an uninstall and a reconnect). A deleted integration's subscriptions
// are removed in its teardown, before its tokens go.

// WebhookSubscriber is implemented by connectors that subscribe their
// platform's webhooks by API.
type WebhookSubscriber interface {
	// Subscribe subscribes the platform's topics to callbackURL (once:
	// topics already subscribed to it are kept) and returns the ids.
	Subscribe(ctx context.Context, c connector.Connection, callbackURL string) ([]string, error)
	// Unsubscribe removes the subscriptions whose URL ends with hookPath.
	Unsubscribe(ctx context.Context, c connector.Connection, hookPath string) error
}

// hookPath is the path an integration's deliveries come to.
func hookPath(platform, integrationID string) string {
	return "/webhooks/" + platform + "/" + integrationID
}

// subscribeWebhooks makes sure the integration's platform posts its
// webhooks to Joinery and that they route to it. A failure is a warning
// on the run, never its end: the run's own calls say what is wrong.
func (e *Engine) subscribeWebhooks(ctx context.Context, it *integration.Integration, run *integration.Run, conn connector.Connection, c connector.Connector) {
	if err := e.subscribe(ctx, it, conn, c); err != nil {
		msg := "Subscribing to the platform's webhooks failed, the next run tries again: " + err.Error()
		if errors.Is(err, errRoute) {
			msg = "The webhook route could not be stored: deliveries wait for the next run."
		}
		_ = e.event(ctx, run, "webhooks", "warning", "", msg, nil)
	}
}

// SubscribeOnConnect subscribes a just connected integration's platform
// to post its webhooks to Joinery, with the tokens just granted, so that
// they come before its first run; each run checks them again. Nothing to
// do (nil) for a platform not subscribed by API. The error says what
// failed and is safe to log: it carries no credentials.
func (e *Engine) SubscribeOnConnect(ctx context.Context, it *integration.Integration, tokens map[string]string) error {
	c, ok := e.Connectors[it.Platform]
	if !ok || len(tokens) == 0 {
		return nil
	}
	// The integration's cost budget, shared with its runs' workers: a
	// reconnect during a run does not overdraw the store's points. The
	// few calls of a subscription never wait long for them.
	conn := connector.Connection{SiteURL: it.ExternalSiteURL, Config: it.Config, Credentials: tokens, HTTP: e.HTTP, Budget: e.costBudget(it)}
	return e.subscribe(ctx, it, conn, c)
}

// errRoute is a failure to store an integration's webhook route.
var errRoute = errors.New("the webhook route could not be stored")

// subscribe stores the route the platform's deliveries for it take and
// subscribes the platform's topics; nil when the platform is not
// subscribed by API or has no webhook base. Its errors are errRoute or
// the connector's message (never its credentials).
func (e *Engine) subscribe(ctx context.Context, it *integration.Integration, conn connector.Connection, c connector.Connector) error {
	s, ok := c.(WebhookSubscriber)
	base := e.WebhookURLs[it.Platform]
	if !ok || base == "" {
		return nil
	}
	key := routeKey(it)
	if key == "" {
		return nil
	}
	if err := e.Integrations.Store.PutWebhookRoute(ctx, integration.WebhookRoute{Platform: it.Platform, Key: key, AccountID: it.AccountID, IntegrationID: it.ID}); err != nil {
		return errRoute
	}
	if _, err := s.Subscribe(ctx, conn, connector.WebhookURL(base, it.Platform, it.ID)); err != nil {
		msg := "an internal error"
		var ce *connector.Error
		if errors.As(err, &ce) {
			msg = ce.Message
		}
		return errors.New(msg)
	}
	return nil
}

// routeKey is what the platform's deliveries name the integration's
// account by: Shopify's shop domain (the account the grant is for, else
// the site URL's host).
func routeKey(it *integration.Integration) string {
	if it.OAuth != nil && it.OAuth.ExternalAccountID != "" {
		return strings.ToLower(it.OAuth.ExternalAccountID)
	}
	u, err := url.Parse(it.ExternalSiteURL)
	if err != nil {
		return ""
	}
	return strings.ToLower(u.Hostname())
}

// subscribes says whether a deleted integration of platform has webhook
// subscriptions to remove at its platform.
func (e *Engine) subscribes(platform string) bool {
	_, ok := e.Connectors[platform].(WebhookSubscriber)
	return ok
}

// unsubscribeWebhooks removes a deleted integration's subscriptions with
// its stored tokens. Best effort: the platform's later deliveries for it
// find no route and are answered 200 all the same.
func (e *Engine) unsubscribeWebhooks(ctx context.Context, job Job, td *Teardown, tokens map[string]string) error {
	s, ok := e.Connectors[td.Platform].(WebhookSubscriber)
	if !ok || td.SiteURL == "" || tokens == nil {
		return nil
	}
	conn := connector.Connection{SiteURL: td.SiteURL, Credentials: tokens, HTTP: e.HTTP,
		Budget: e.costBudget(&integration.Integration{ID: job.IntegrationID, Platform: td.Platform})}
	if err := s.Unsubscribe(ctx, conn, hookPath(td.Platform, job.IntegrationID)); err != nil {
		return fmt.Errorf("remove the webhook subscriptions of %s: %w", job.IntegrationID, err)
	}
	return nil
}
