package syncer

import "time"

// WebhookJob is what a "webhook" job carries of one verified inbound
// delivery: enough to process it, never the delivery's body (a queued
// message stays well under SQS's limits and holds no tenant content).
type WebhookJob struct {
	Platform string `json:"platform"`
	// DeliveryID is the platform's delivery id; processing is idempotent
	// per delivery id.
	DeliveryID string    `json:"delivery_id"`
	Event      string    `json:"event,omitempty"`
	Model      string    `json:"model,omitempty"`
	ObjectIDs  []string  `json:"object_ids,omitempty"`
	ReceivedAt time.Time `json:"received_at"`
}
