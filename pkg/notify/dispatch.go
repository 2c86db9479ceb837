package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/joinery/joinery/pkg/integration"
)

// Message is one delivery attempt waiting on the notifications queue.
// Each retry is a new message, so the queue's receive count never limits
// the attempts.
type Message struct {
	DeliveryID string `json:"delivery_id"`
	EndpointID string `json:"endpoint_id"`
	AccountID  string `json:"account_id"`
	// Attempt is the number of this attempt, from 1.
	Attempt int `json:"attempt"`
	// NotBefore holds back an attempt due later than the queue can delay
	// a message (15 minutes): the worker sends it on again until then.
	NotBefore time.Time `json:"not_before,omitzero"`
	// Manual is a re-send asked for by a user: one attempt, no retries.
	Manual bool `json:"manual,omitempty"`
	// Waits counts the times the attempt found its endpoint busy: each
	// wait is longer, so a backlog behind a slow endpoint asks less often.
	Waits int `json:"waits,omitempty"`
}

// maxQueueDelay is the longest delay SQS gives a message.
const maxQueueDelay = 15 * time.Minute

func (m Message) queued(delay time.Duration) (integration.Message, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return integration.Message{}, err
	}
	// Grouped by endpoint: on a fair queue one slow host's backlog does
	// not hold up the others'.
	return integration.Message{Body: string(b), Delay: min(max(delay, 0), maxQueueDelay), Group: m.EndpointID}, nil
}

// IntegrationReader finds an event's integration (its site and platform).
type IntegrationReader interface {
	GetIntegration(ctx context.Context, accountID, id string) (*integration.Integration, error)
}

// OwnerReader finds the account of an integration known by id alone (an
// outbox entry): from its latest run, or else its pushes — records are
// written by one or the other.
type OwnerReader interface {
	LatestRun(ctx context.Context, integrationID string) (*integration.Run, error)
	ListPushes(ctx context.Context, integrationID string, statuses ...integration.PushStatus) ([]*integration.Push, error)
}

// Bus is the event bus every event is also put on (EventBridge in AWS).
type Bus interface {
	// PutEvents puts up to 10 events; it returns how many were not put.
	PutEvents(ctx context.Context, evs []BusEvent) (failed int, err error)
}

// BusEvent is one entry for the bus: its detail-type is the event type.
type BusEvent struct {
	Type   string
	Detail string // the event's JSON body
}

// BusBatch is how many events one PutEvents carries.
const BusBatch = 10

// Dispatcher fans pending events out: one delivery per endpoint that
// wants it, on the notifications queue, and every event on the bus.
type Dispatcher struct {
	Store        integration.NotifyStore
	Integrations IntegrationReader
	Owners       OwnerReader
	Queue        integration.Queue
	Bus          Bus // nil: no bus
	Log          *slog.Logger
	Now          func() time.Time
	// BusFailures counts events the bus did not take.
	BusFailures atomic.Int64
}

func (d *Dispatcher) now() time.Time {
	if d.Now != nil {
		return d.Now().UTC()
	}
	return time.Now().UTC()
}

func (d *Dispatcher) log() *slog.Logger {
	if d.Log != nil {
		return d.Log
	}
	return slog.Default()
}

// drainBatch is how many pending events one pass reads.
const drainBatch = 200

// Drain fans out pending events until none are left; it returns how many
// it fanned out.
func (d *Dispatcher) Drain(ctx context.Context) (int, error) {
	total := 0
	for {
		n, err := d.drainOnce(ctx)
		total += n
		if err != nil || n == 0 {
			return total, err
		}
	}
}

func (d *Dispatcher) drainOnce(ctx context.Context) (int, error) {
	pend, err := d.Store.PendingEvents(ctx, drainBatch)
	if err != nil || len(pend) == 0 {
		return 0, err
	}
	ints := map[string]*integration.Integration{} // integration id → it (nil: gone)
	eps := map[string][]*integration.Endpoint{}   // account → its endpoints
	var dls []*integration.NotifyDelivery
	var msgs []integration.Message
	var bus []BusEvent
	keys := make([]string, 0, len(pend))
	for _, p := range pend {
		ev, err := d.event(ctx, p, ints)
		if err != nil {
			return 0, err
		}
		keys = append(keys, p.Key)
		if ev == nil {
			continue // its integration is gone: nobody to tell
		}
		list, ok := eps[ev.AccountID]
		if !ok {
			if list, err = d.Store.ListEndpoints(ctx, ev.AccountID); err != nil {
				return 0, fmt.Errorf("list endpoints of %s: %w", ev.AccountID, err)
			}
			eps[ev.AccountID] = list
		}
		body, err := Body(ev)
		if err != nil {
			return 0, err
		}
		for _, e := range list {
			if !e.Wants(ev) {
				continue
			}
			dl, m, err := pendingDelivery(e, ev, body, d.now())
			if err != nil {
				return 0, err
			}
			dls, msgs = append(dls, dl), append(msgs, m)
		}
		bus = append(bus, BusEvent{Type: ev.Type, Detail: string(body)})
	}
	if len(msgs) > 0 {
		// Logged before queued: an attempt reads its delivery.
		if err := d.Store.PutNotifyDeliveries(ctx, dls); err != nil {
			return 0, fmt.Errorf("log deliveries: %w", err)
		}
		if err := d.Queue.Send(ctx, msgs); err != nil {
			return 0, fmt.Errorf("queue deliveries: %w", err)
		}
	}
	d.putOnBus(ctx, bus)
	if err := d.Store.AckEvents(ctx, keys); err != nil {
		return 0, err
	}
	return len(pend), nil
}

// event builds a pending change's event, with its integration's site and
// platform; nil when the integration is gone.
func (d *Dispatcher) event(ctx context.Context, p integration.PendingEvent, ints map[string]*integration.Integration) (*integration.NotifyEvent, error) {
	switch {
	case p.Change != nil:
		in, err := d.integration(ctx, p.Change.AccountID, p.Change.IntegrationID, ints)
		if err != nil || in == nil {
			return nil, err
		}
		return recordEvent(p.Change, in), nil
	case p.Event != nil:
		ev := *p.Event
		if ev.IntegrationID == "" || (ev.SiteID != "" && ev.Platform != "") {
			return &ev, nil
		}
		in, err := d.integration(ctx, ev.AccountID, ev.IntegrationID, ints)
		if err != nil || in == nil {
			return nil, err
		}
		ev.SiteID, ev.Platform = in.SiteID, in.Platform
		return &ev, nil
	}
	return nil, nil
}

func (d *Dispatcher) integration(ctx context.Context, accountID, id string, ints map[string]*integration.Integration) (*integration.Integration, error) {
	if in, ok := ints[id]; ok {
		return in, nil
	}
	if accountID == "" {
		run, err := d.Owners.LatestRun(ctx, id)
		switch {
		case err == nil:
			accountID = run.AccountID
		case integration.ErrorCode(err) != integration.ENOTFOUND:
			return nil, fmt.Errorf("find the account of integration %s: %w", id, err)
		default:
			pushes, err := d.Owners.ListPushes(ctx, id, integration.PushQueued, integration.PushDone, integration.PushFailed, integration.PushConflict)
			if err != nil {
				return nil, fmt.Errorf("find the account of integration %s: %w", id, err)
			}
			if len(pushes) > 0 {
				accountID = pushes[0].AccountID
			}
		}
	}
	if accountID == "" {
		ints[id] = nil
		return nil, nil
	}
	in, err := d.Integrations.GetIntegration(ctx, accountID, id)
	if integration.ErrorCode(err) == integration.ENOTFOUND {
		ints[id] = nil
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read integration %s: %w", id, err)
	}
	ints[id] = in
	return in, nil
}

// newDelivery logs a delivery of ev to e as pending and returns it with
// the message of its first attempt.
func newDelivery(ctx context.Context, store integration.NotifyStore, e *integration.Endpoint, ev *integration.NotifyEvent, body []byte, now time.Time) (*integration.NotifyDelivery, integration.Message, error) {
	dl, msg, err := pendingDelivery(e, ev, body, now)
	if err != nil {
		return nil, integration.Message{}, err
	}
	if err := store.PutNotifyDelivery(ctx, dl); err != nil {
		return nil, integration.Message{}, err
	}
	return dl, msg, nil
}

// pendingDelivery is a new delivery of ev to e, not yet logged, and the
// message of its first attempt.
func pendingDelivery(e *integration.Endpoint, ev *integration.NotifyEvent, body []byte, now time.Time) (*integration.NotifyDelivery, integration.Message, error) {
	dl := &integration.NotifyDelivery{ID: "dlv_" + integration.NewID(), AccountID: e.AccountID, EndpointID: e.ID, EventID: ev.ID, EventType: ev.Type,
		Event: string(body), Status: integration.NotifyPending, CreatedAt: now, UpdatedAt: now, NextAttemptAt: now}
	msg, err := Message{DeliveryID: dl.ID, EndpointID: e.ID, AccountID: e.AccountID, Attempt: 1}.queued(0)
	return dl, msg, err
}

// putOnBus puts events on the bus in batches; what it cannot put is
// logged and counted, never held against the webhooks.
func (d *Dispatcher) putOnBus(ctx context.Context, evs []BusEvent) {
	if d.Bus == nil {
		return
	}
	for i := 0; i < len(evs); i += BusBatch {
		batch := evs[i:min(i+BusBatch, len(evs))]
		failed, err := d.Bus.PutEvents(ctx, batch)
		if err != nil {
			failed = len(batch)
		}
		if failed > 0 {
			d.BusFailures.Add(int64(failed))
			d.log().ErrorContext(ctx, "events not put on the bus", "failed", failed, "of", len(batch), "err", err)
		}
	}
}

// Run drains whenever there may be something pending: every poll, until
// ctx ends.
func (d *Dispatcher) Run(ctx context.Context, poll time.Duration) {
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		if _, err := d.Drain(ctx); err != nil && ctx.Err() == nil {
			d.log().ErrorContext(ctx, "fan out events", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// tickMargin is how long before its deadline a tick stops polling.
const tickMargin = 5 * time.Second

// Tick is one invocation of the scheduled dispatcher: it fans out what is
// pending, then keeps polling every poll until shortly before ctx's
// deadline (none: it returns after the first pass), so that events are
// fanned out within about poll of their commit between schedule ticks.
func (d *Dispatcher) Tick(ctx context.Context, poll time.Duration) error {
	for {
		if _, err := d.Drain(ctx); err != nil {
			return err
		}
		dl, ok := ctx.Deadline()
		if !ok || time.Until(dl) < tickMargin+poll {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(poll):
		}
	}
}
