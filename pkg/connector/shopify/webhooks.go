package shopify

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"

	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/integration"
)

// Topics are the webhook topics Joinery subscribes a store to on connect.
// The mandatory compliance topics (customers/data_request,
// customers/redact, shop/redact) are not subscribed by API: they are set
// in the app's configuration (Partner Dashboard or shopify.app.toml).
var Topics = []string{"PRODUCTS_CREATE", "PRODUCTS_UPDATE", "PRODUCTS_DELETE", "APP_UNINSTALLED"}

// includeFields keeps product deliveries small: Joinery reads the product
// again in full, so the id and the time are all it needs of the body.
var includeFields = []string{"id", "updated_at"}

// Webhook events, as deliveries name them (X-Shopify-Topic).
const (
	EventUninstalled = "app/uninstalled"
)

// WebhookModel says which model a delivery's objects are records of:
// products/create, products/update and products/delete are products
// (read again by id; a deleted one is gone). Other topics map to no
// record.
func (c *Connector) WebhookModel(event, _ string) (string, bool) {
	switch event {
	case "products/create", "products/update", "products/delete":
		return integration.ModelProduct, true
	}
	return "", false
}

// WebhookObjectID is the GraphQL id of a delivery's object id (the REST
// payload's numeric id).
func (c *Connector) WebhookObjectID(model, id string) string {
	if model == integration.ModelProduct {
		if gid := ProductGID(id); gid != "" {
			return gid
		}
	}
	return id
}

// Revoked says a delivery means the store took Joinery's access away.
func (c *Connector) Revoked(event string) bool { return event == EventUninstalled }

const subscriptionsQuery = `query Subscriptions($first: Int!, $uri: String) {
webhookSubscriptions(first: $first, uri: $uri) { nodes { id topic uri } } }`

const subscribeMutation = `mutation Subscribe($topic: WebhookSubscriptionTopic!, $sub: WebhookSubscriptionInput!) {
webhookSubscriptionCreate(topic: $topic, webhookSubscription: $sub) { webhookSubscription { id } userErrors { field message } } }`

const unsubscribeMutation = `mutation Unsubscribe($id: ID!) {
webhookSubscriptionDelete(id: $id) { deletedWebhookSubscriptionId userErrors { field message } } }`

type subscription struct {
	ID    string `json:"id"`
	Topic string `json:"topic"`
	URI   string `json:"uri"`
}

// subscriptions lists the app's subscriptions to uri on the store; ok
// false when the store would not list them.
func (c *Connector) subscriptions(ctx context.Context, conn connector.Connection, uri string) ([]subscription, bool, error) {
	vars := map[string]any{"first": 100}
	if uri != "" {
		vars["uri"] = uri
	}
	res, err := c.call(ctx, conn, subscriptionsQuery, vars, 2+100)
	var ce *connector.Error
	if errors.As(err, &ce) && ce.Kind == connector.ErrInvalid {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	var d struct {
		WebhookSubscriptions struct {
			Nodes []subscription `json:"nodes"`
		} `json:"webhookSubscriptions"`
	}
	if err := json.Unmarshal(res.data, &d); err != nil {
		return nil, false, nil
	}
	return d.WebhookSubscriptions.Nodes, true, nil
}

// Subscribe subscribes the store's Topics to callbackURL and returns the
// subscriptions' ids. Idempotent: a topic already subscribed to the URL
// (an earlier attempt) is kept, not subscribed twice.
func (c *Connector) Subscribe(ctx context.Context, conn connector.Connection, callbackURL string) ([]string, error) {
	existing, listed, err := c.subscriptions(ctx, conn, callbackURL)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, topic := range Topics {
		i := slices.IndexFunc(existing, func(s subscription) bool { return s.Topic == topic && s.URI == callbackURL })
		if i >= 0 {
			ids = append(ids, existing[i].ID)
			continue
		}
		sub := map[string]any{"uri": callbackURL, "format": "JSON"}
		if strings.HasPrefix(topic, "PRODUCTS_") {
			sub["includeFields"] = includeFields
		}
		res, err := c.call(ctx, conn, subscribeMutation, map[string]any{"topic": topic, "sub": sub}, mutationCost)
		if err != nil {
			return ids, err
		}
		var d struct {
			Create *struct {
				WebhookSubscription *struct {
					ID string `json:"id"`
				} `json:"webhookSubscription"`
				UserErrors []userError `json:"userErrors"`
			} `json:"webhookSubscriptionCreate"`
		}
		if err := json.Unmarshal(res.data, &d); err != nil || d.Create == nil {
			return ids, &connector.Error{Kind: connector.ErrUnavailable, Message: "Shopify answered webhookSubscriptionCreate with data Joinery could not read.", Err: err}
		}
		if len(d.Create.UserErrors) > 0 {
			// Taken: subscribed by an attempt the store would not list.
			if !listed && strings.Contains(strings.ToLower(d.Create.UserErrors[0].Message), "taken") {
				continue
			}
			return ids, userErrors("webhook subscription", d.Create.UserErrors)
		}
		if d.Create.WebhookSubscription != nil {
			ids = append(ids, d.Create.WebhookSubscription.ID)
		}
	}
	return ids, nil
}

// Unsubscribe deletes the app's subscriptions whose URL ends with
// hookPath (an integration's /webhooks/shopify/<id>, whatever host it
// was registered on); one already gone is not an error.
func (c *Connector) Unsubscribe(ctx context.Context, conn connector.Connection, hookPath string) error {
	subs, listed, err := c.subscriptions(ctx, conn, "")
	if err != nil {
		return err
	}
	if !listed {
		return &connector.Error{Kind: connector.ErrUnavailable, Message: "Shopify would not list the app's webhook subscriptions."}
	}
	for _, sub := range subs {
		if hookPath == "" || !strings.HasSuffix(sub.URI, hookPath) {
			continue
		}
		res, err := c.call(ctx, conn, unsubscribeMutation, map[string]any{"id": sub.ID}, mutationCost)
		if err != nil {
			return err
		}
		var d struct {
			Delete *struct {
				UserErrors []userError `json:"userErrors"`
			} `json:"webhookSubscriptionDelete"`
		}
		if err := json.Unmarshal(res.data, &d); err != nil || d.Delete == nil {
			return &connector.Error{Kind: connector.ErrUnavailable, Message: "Shopify answered webhookSubscriptionDelete with data Joinery could not read.", Err: err}
		}
		if errs := d.Delete.UserErrors; len(errs) > 0 {
			m := strings.ToLower(errs[0].Message)
			if strings.Contains(m, "not exist") || strings.Contains(m, "not found") {
				continue
			}
			return userErrors("webhook subscription deletion", errs)
		}
	}
	return nil
}
