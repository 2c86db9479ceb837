package syncer

// What a connector says of its platform's webhook deliveries, beside
// WordPress's (whose post types are models, webhook.go).

// WebhookMapper is implemented by connectors whose deliveries name records
// to read again: WebhookModel is the model a delivery's objects are
// records of (event: the platform's event type, model: what the delivery
// named); false: the delivery maps to no record and is only recorded.
type WebhookMapper interface {
	WebhookModel(event, model string) (string, bool)
}

// WebhookIDMapper is implemented by connectors whose deliveries name
// objects by another id than the records' (Shopify: numeric REST ids, the
// records' GraphQL GIDs).
type WebhookIDMapper interface {
	WebhookObjectID(model, id string) string
}

// WebhookRevoker is implemented by connectors whose platform says by
// webhook that it took the grant away (Shopify's app/uninstalled).
type WebhookRevoker interface {
	Revoked(event string) bool
}

// revokedMessage is the connection's message after such a delivery.
const revokedMessage = "The app was removed from the account on the platform (uninstalled): connect the integration again."

// webhookObjectIDs are a delivery's object ids as the records name them.
func webhookObjectIDs(c any, model string, ids []string) []string {
	m, ok := c.(WebhookIDMapper)
	if !ok {
		return ids
	}
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = m.WebhookObjectID(model, id)
	}
	return out
}
