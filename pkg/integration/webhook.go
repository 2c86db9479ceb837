package integration

import (
	"context"
	"time"
)

// WebhookRoute ties a platform's webhook deliveries to one integration: by
// the platform account they name (Shopify shop domain, Slack team id,
// TikTok open_id, Google channel id) or by the hook id in the URL the
// integration registered (WordPress: its integration id; Jira and Trello:
// a random 128-bit id).
type WebhookRoute struct {
	Platform string
	// Key is the account or hook id the deliveries carry. Hook ids that
	// are secrets (Jira, Trello) are stored as their SHA-256 (hex), so a
	// lookup's timing tells nothing of them.
	Key           string
	AccountID     string
	IntegrationID string
	// TokenHash is the SHA-256 (hex) of a Google channel's token;
	// CallbackURL a Trello webhook's callback URL exactly as registered;
	// Expires when a Google channel stops (zero: never).
	TokenHash   string
	CallbackURL string
	Expires     time.Time
}

// WebhookRoutes is the routing index of inbound webhooks: a delivery finds
// its integrations with one bounded read, never a scan.
type WebhookRoutes interface {
	// PutWebhookRoute stores a route, replacing one of the same platform,
	// key and integration.
	PutWebhookRoute(ctx context.Context, r WebhookRoute) error
	// WebhookRoutes returns up to limit routes of platform and key, with
	// one bounded read.
	WebhookRoutes(ctx context.Context, platform, key string, limit int) ([]WebhookRoute, error)
	// DeleteWebhookRoutes removes every route of the integration (when it
	// is deleted); removing none is not an error.
	DeleteWebhookRoutes(ctx context.Context, accountID, integrationID string) error
}

// Delivery marker states.
const (
	DeliveryPending = "pending" // written before the message is sent
	DeliveryQueued  = "queued"  // its message is on the queue
)

// DeliveryMarker is the dedupe record of one inbound delivery.
type DeliveryMarker struct {
	Key     string // platform + "#" + the platform's delivery id
	State   string
	At      time.Time // when State was set
	Expires time.Time // the marker may go after this (outlasts the platform's retries)
	// First is when the delivery was first claimed, kept when a stale
	// claim is taken over: the delivery's processing is stamped with it,
	// so a takeover's job is the same job, not a second one.
	First time.Time
}

// WebhookDeliveries dedupes inbound deliveries without losing one: the
// marker is claimed pending, the message sent, then the marker set queued.
type WebhookDeliveries interface {
	// ClaimDelivery writes m as pending unless a marker of its key exists
	// that is queued, or pending and newer than staleAfter; it returns
	// that marker and false then. A pending marker older than staleAfter
	// (its enqueue was lost) is taken over: true, with the marker taken
	// over (its First is when the delivery was first claimed). A new
	// claim returns nil and true.
	ClaimDelivery(ctx context.Context, m DeliveryMarker, staleAfter time.Duration) (*DeliveryMarker, bool, error)
	// MarkDeliveryQueued sets the marker of key queued.
	MarkDeliveryQueued(ctx context.Context, key string, at time.Time) error
}

// WebhookStats are an integration's inbound webhook counts.
type WebhookStats struct {
	LastReceivedAt *time.Time
	Received24h    int64
	Rejected24h    int64
}

// WebhookCounters counts an integration's inbound deliveries in hourly
// buckets that expire, read with one bounded query.
type WebhookCounters interface {
	// CountWebhook adds one received (rejected false) or rejected delivery
	// to the integration's bucket of at; received ones also set
	// LastReceivedAt.
	CountWebhook(ctx context.Context, accountID, integrationID string, rejected bool, at time.Time) error
	// WebhookStats sums the buckets from since's hour on.
	WebhookStats(ctx context.Context, accountID, integrationID string, since time.Time) (WebhookStats, error)
}

// WebhookStore is what the inbound webhook path keeps.
type WebhookStore interface {
	WebhookRoutes
	WebhookDeliveries
	WebhookCounters
}
