package notify

import (
	"encoding/json"
	"time"

	"github.com/joinery/joinery/pkg/integration"
)

// eventJSON is an event as the host receives it, on its endpoints and on
// the bus.
type eventJSON struct {
	ID            string         `json:"id"`
	Type          string         `json:"type"`
	Timestamp     string         `json:"timestamp"`
	AccountID     string         `json:"account_id"`
	SiteID        string         `json:"site_id"`
	IntegrationID string         `json:"integration_id"`
	Platform      string         `json:"platform"`
	Data          map[string]any `json:"data"`
}

// Body renders an event as the JSON body of its deliveries.
func Body(ev *integration.NotifyEvent) ([]byte, error) {
	data := ev.Data
	if data == nil {
		data = map[string]any{}
	}
	return json.Marshal(eventJSON{ID: ev.ID, Type: ev.Type, Timestamp: ev.At.UTC().Format(time.RFC3339Nano), AccountID: ev.AccountID,
		SiteID: ev.SiteID, IntegrationID: ev.IntegrationID, Platform: ev.Platform, Data: data})
}

// recordEvent is the event of an outbox entry: which record changed and
// when, never its body (the host reads it with GET
// …/records/{model}/{external_id}).
func recordEvent(c *integration.RecordChange, in *integration.Integration) *integration.NotifyEvent {
	typ := integration.EventRecordUpdated
	switch c.Type {
	case integration.ChangeCreated:
		typ = integration.EventRecordCreated
	case integration.ChangeDeleted:
		typ = integration.EventRecordDeleted
	}
	return &integration.NotifyEvent{ID: integration.RecordEventID(*c), Type: typ, At: c.ChangedAt.UTC(), AccountID: in.AccountID,
		SiteID: in.SiteID, IntegrationID: in.ID, Platform: in.Platform,
		Data: map[string]any{"model": c.Model, "external_id": c.ExternalID, "changed_at": c.ChangedAt.UTC().Format(time.RFC3339Nano)}}
}
