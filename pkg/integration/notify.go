package integration

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"slices"
	"strings"
	"time"
)

// Outbound event types: what the host app can subscribe its endpoints to.
const (
	EventRecordCreated          = "record.created"
	EventRecordUpdated          = "record.updated"
	EventRecordDeleted          = "record.deleted"
	EventSyncCompleted          = "sync.completed"
	EventSyncFailed             = "sync.failed"
	EventPushDone               = "push.done"
	EventPushFailed             = "push.failed"
	EventPushConflict           = "push.conflict"
	EventConnectionConnected    = "connection.connected"
	EventConnectionError        = "connection.error"
	EventConnectionReauthorize  = "connection.reauthorization_required"
	EventPing                   = "ping"
	EventEndpointDisabledNotice = "endpoint.disabled"
)

// EventTypes are every outbound event type, in a stable order.
var EventTypes = []string{EventRecordCreated, EventRecordUpdated, EventRecordDeleted, EventSyncCompleted, EventSyncFailed,
	EventPushDone, EventPushFailed, EventPushConflict, EventConnectionConnected, EventConnectionError,
	EventConnectionReauthorize, EventPing, EventEndpointDisabledNotice}

// ValidEventPattern reports whether p is an exact event type or a
// "<prefix>.*" that matches at least one.
func ValidEventPattern(p string) bool {
	if prefix, ok := strings.CutSuffix(p, ".*"); ok {
		for _, t := range EventTypes {
			if strings.HasPrefix(t, prefix+".") {
				return true
			}
		}
		return false
	}
	return slices.Contains(EventTypes, p)
}

// MatchEvent reports whether an event of type t is wanted by patterns
// (empty: every event).
func MatchEvent(patterns []string, t string) bool {
	if len(patterns) == 0 {
		return true
	}
	for _, p := range patterns {
		if p == t {
			return true
		}
		if prefix, ok := strings.CutSuffix(p, ".*"); ok && strings.HasPrefix(t, prefix+".") {
			return true
		}
	}
	return false
}

// NotifyEvent is one change told to the host app. It never holds
// credentials or a record's body: the host reads a record through the API.
type NotifyEvent struct {
	ID            string
	Type          string
	At            time.Time
	AccountID     string
	SiteID        string
	IntegrationID string
	Platform      string
	Data          map[string]any
}

// EventID derives an event's id from what identifies the change, so a
// change written again (a redelivered job) yields the same id, and the
// same item: nothing new is emitted.
func EventID(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return "evt_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:16]))
}

// RecordEventID is the id of the event of one outbox entry.
func RecordEventID(c RecordChange) string {
	return EventID("record", c.IntegrationID, c.Model, c.ExternalID, c.ChangedAt.UTC().Format(time.RFC3339Nano))
}

// RunEvent is the event a finished run emits, or nil for a status the
// host is not told of (cancelled).
func RunEvent(run *Run, status RunStatus, message string, at time.Time) *NotifyEvent {
	typ := ""
	switch status {
	case RunCompleted:
		typ = EventSyncCompleted
	case RunError:
		typ = EventSyncFailed
	default:
		return nil
	}
	data := map[string]any{"run_id": run.ID, "status": string(status), "direction": string(run.Direction)}
	if status == RunError && message != "" {
		data["error"] = message
	}
	return &NotifyEvent{ID: EventID("run", run.IntegrationID, run.ID), Type: typ, At: at.UTC(),
		AccountID: run.AccountID, IntegrationID: run.IntegrationID, Data: data}
}

// PendingEvent is a change the dispatcher has not yet fanned out: either
// an outbox entry (Change, from a record write) or an event written whole
// (Event). Key is what AckEvents takes.
type PendingEvent struct {
	Key    string
	Change *RecordChange
	Event  *NotifyEvent
}

// EndpointSecret signs deliveries; one with an Until is a previous secret
// that keeps signing until then (a rotation's overlap).
type EndpointSecret struct {
	Value string
	Until time.Time
}

// Endpoint is a URL of the host app's that receives events.
type Endpoint struct {
	ID          string
	AccountID   string
	URL         string
	Description string
	EventTypes  []string
	SiteIDs     []string
	Disabled    bool
	// DisabledReason says why the endpoint was disabled by Joinery ("":
	// by a user, or enabled).
	DisabledReason string
	Secrets        []EndpointSecret
	// Failures counts the attempts that failed in a row (a success resets
	// it), since FailingSince; BackoffUntil holds back every attempt to
	// the endpoint once they are many.
	Failures     int
	FailingSince time.Time
	BackoffUntil time.Time
	CreatedAt    time.Time
	UpdatedAt    time.Time
	Version      int64
}

// Wants reports whether the endpoint takes ev.
func (e *Endpoint) Wants(ev *NotifyEvent) bool {
	if e.Disabled && ev.Type != EventPing {
		return false
	}
	if len(e.SiteIDs) > 0 && !slices.Contains(e.SiteIDs, ev.SiteID) {
		return false
	}
	return MatchEvent(e.EventTypes, ev.Type)
}

// ActiveSecrets are the secrets that sign at now, newest first.
func (e *Endpoint) ActiveSecrets(now time.Time) []string {
	var out []string
	for _, s := range e.Secrets {
		if s.Until.IsZero() || now.Before(s.Until) {
			out = append(out, s.Value)
		}
	}
	return out
}

// Outbound delivery statuses.
const (
	NotifyPending   = "pending"
	NotifySucceeded = "succeeded"
	NotifyFailed    = "failed"
)

// NotifyDelivery is one event's delivery to one endpoint: its last attempt, and
// where it stands.
type NotifyDelivery struct {
	ID         string
	AccountID  string
	EndpointID string
	EventID    string
	EventType  string
	// Event is the signed body, kept so a delivery can be sent again.
	Event  string
	Status string
	// Attempts counts every attempt made; Scheduled those of the retry
	// schedule (a manual re-send is not one of them).
	Attempts   int
	Scheduled  int
	StatusCode int
	DurationMS int64
	Error      string
	// Response is the start of the endpoint's answer (at most 1 KiB).
	Response  string
	CreatedAt time.Time
	UpdatedAt time.Time
	// NextAttemptAt is when a failed delivery is tried again (zero: not).
	NextAttemptAt time.Time
}

// NotifyDeliveryQuery pages through an endpoint's deliveries, newest first.
type NotifyDeliveryQuery struct {
	AccountID  string
	EndpointID string
	Status     string // optional
	Limit      int
	Cursor     string
}

// NotifyStore keeps the outbound events not yet fanned out, the host's
// endpoints, their deliveries and their in-flight slots.
type NotifyStore interface {
	NotifyDeliveriesWriter
	// PendingEvents returns up to limit changes not yet acknowledged, in no
	// particular order.
	PendingEvents(ctx context.Context, limit int) ([]PendingEvent, error)
	// AckEvents marks pending changes fanned out; unknown keys are no-ops.
	AckEvents(ctx context.Context, keys []string) error
	// AddNotifyEvents stores whole events as pending, once per id: an id
	// stored already (pending or not) is left alone.
	AddNotifyEvents(ctx context.Context, evs []NotifyEvent) error

	// CreateEndpoint stores a new endpoint (ECONFLICT if its id is taken).
	CreateEndpoint(ctx context.Context, e *Endpoint) error
	// GetEndpoint returns ENOTFOUND when the account has no such endpoint.
	GetEndpoint(ctx context.Context, accountID, id string) (*Endpoint, error)
	// ListEndpoints returns all of an account's endpoints, oldest first.
	ListEndpoints(ctx context.Context, accountID string) ([]*Endpoint, error)
	// UpdateEndpoint replaces an endpoint stored at prevVersion
	// (EPRECONDITIONFAILED otherwise, ENOTFOUND if gone) and stores it at
	// prevVersion+1.
	UpdateEndpoint(ctx context.Context, e *Endpoint, prevVersion int64) error
	// DeleteEndpoint removes an endpoint; ENOTFOUND if there is none.
	DeleteEndpoint(ctx context.Context, accountID, id string) error

	// PutNotifyDelivery stores a delivery as it now stands (it expires after the
	// store's retention).
	PutNotifyDelivery(ctx context.Context, d *NotifyDelivery) error
	// GetNotifyDelivery returns ENOTFOUND when there is no such delivery.
	GetNotifyDelivery(ctx context.Context, accountID, endpointID, id string) (*NotifyDelivery, error)
	// ListNotifyDeliveries pages through an endpoint's deliveries, newest first;
	// a cursor it did not issue is EINVALID naming cursor.
	ListNotifyDeliveries(ctx context.Context, q NotifyDeliveryQuery) ([]*NotifyDelivery, string, error)

	// TakeEndpointSlot takes one of an endpoint's slots slots for holder
	// until until, if one is free or expired at now or already holder's.
	// When none is, freeAt is the soonest a busy one's lease ends (zero
	// if the store cannot tell).
	TakeEndpointSlot(ctx context.Context, endpointID, holder string, slots int, now, until time.Time) (ok bool, freeAt time.Time, err error)
	// ReleaseEndpointSlot frees holder's slot; another's is left alone.
	ReleaseEndpointSlot(ctx context.Context, endpointID, holder string) error
}

// NotifyRetention is how long a delivery is kept in the log.
const NotifyRetention = 30 * 24 * time.Hour

// ConnectionEvent is the event of a write that changes an integration's
// connection status to connected, error or reauthorization_required; nil
// for any other write. Its id derives from the integration, the status
// and when it was checked, so a retried write emits nothing new.
func ConnectionEvent(cur, next *Integration) *NotifyEvent {
	if cur.ConnectionStatus == next.ConnectionStatus {
		return nil
	}
	typ := ""
	switch next.ConnectionStatus {
	case ConnectionConnected:
		typ = EventConnectionConnected
	case ConnectionError:
		typ = EventConnectionError
	case ConnectionReauthorizationNeeded:
		typ = EventConnectionReauthorize
	default:
		return nil
	}
	at := next.UpdatedAt
	if next.ConnectionCheckedAt != nil {
		at = *next.ConnectionCheckedAt
	}
	data := map[string]any{"status": string(next.ConnectionStatus), "previous_status": string(cur.ConnectionStatus)}
	if next.ConnectionMessage != "" {
		data["message"] = next.ConnectionMessage
	}
	return &NotifyEvent{ID: EventID("connection", next.ID, string(next.ConnectionStatus), at.UTC().Format(time.RFC3339Nano)), Type: typ, At: at.UTC(),
		AccountID: next.AccountID, SiteID: next.SiteID, IntegrationID: next.ID, Platform: next.Platform, Data: data}
}

// PushEvent is the event of a push whose status changes from old to
// done, failed or conflict; nil otherwise.
func PushEvent(p *Push, old PushStatus) *NotifyEvent {
	if p.Status == old {
		return nil
	}
	typ := ""
	switch p.Status {
	case PushDone:
		typ = EventPushDone
	case PushFailed:
		typ = EventPushFailed
	case PushConflict:
		typ = EventPushConflict
	default:
		return nil
	}
	data := map[string]any{"push_id": p.ID, "model": p.Model, "local_id": p.LocalID, "external_id": p.ExternalID, "status": string(p.Status)}
	if p.Error != "" {
		data["error"] = p.Error
	}
	at := p.UpdatedAt.UTC()
	return &NotifyEvent{ID: EventID("push", p.IntegrationID, p.ID, string(p.Status), at.Format(time.RFC3339Nano)), Type: typ, At: at,
		AccountID: p.AccountID, IntegrationID: p.IntegrationID, Data: data}
}
