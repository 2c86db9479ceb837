package syncer

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"

	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/integration"
	"github.com/oklog/ulid/v2"
)

// A "webhook" job is one verified inbound delivery. Where the platform
// can be asked, each object it names is read again in full and written
// through the same record path as a sync (ordered by modification time,
// unchanged → no write, outbox, change feed): a delivery processed late
// or twice writes the object as it is now, never an older state. Every
// delivery is one "webhook" event, whose id derives from the delivery,
// so processing the same message again adds none.

// maxWebhookObjects bounds the objects one delivery makes the worker read.
const maxWebhookObjects = 100

// webhookModels maps a WordPress post type to the model it syncs as; a
// type not named is its own model name.
var webhookModels = map[string]string{"attachment": "media"}

func (e *Engine) webhook(ctx context.Context, job Job, attempt int) error {
	w := job.Webhook
	if w == nil || w.Platform == "" || w.DeliveryID == "" {
		return nil // nothing to process: never retried
	}
	it, err := e.Integrations.Get(ctx, system(job.AccountID), job.IntegrationID)
	if integration.ErrorCode(err) == integration.ENOTFOUND {
		return nil
	}
	if err != nil {
		return err
	}
	if !it.IsActive || it.DeletingSince != nil || it.Platform != w.Platform {
		return nil
	}
	ev := integration.SyncEvent{ID: webhookEventID(w), IntegrationID: it.ID, Type: "webhook", Status: "ok", Model: w.Model,
		At: e.now(), Details: map[string]any{"platform": w.Platform, "delivery_id": w.DeliveryID, "event": w.Event}}
	if len(w.ObjectIDs) > 0 {
		ev.Details["object_ids"] = w.ObjectIDs
	}
	if len(w.ObjectIDs) == 1 {
		ev.ExternalID = w.ObjectIDs[0]
	}
	ev.Message = fmt.Sprintf("%s %s received", w.Platform, w.Event)
	if r, ok := e.Connectors[it.Platform].(WebhookRevoker); ok && r.Revoked(w.Event) {
		// The platform took the grant away (Shopify's app/uninstalled):
		// nothing works until the user connects again.
		e.lostConnection(ctx, it, "", integration.ConnectionReauthorizationNeeded, revokedMessage)
		ev.Status, ev.Message = "warning", fmt.Sprintf("%s %s: %s", w.Platform, w.Event, revokedMessage)
		return e.Store.AddEvents(ctx, []integration.SyncEvent{ev})
	}
	if g, model, ok := e.webhookGetter(it, w); ok {
		ids := webhookObjectIDs(g, model, w.ObjectIDs)
		if len(ids) == 1 {
			ev.ExternalID = ids[0]
		}
		written, stale, gone, err := e.webhookRecords(ctx, it, g, model, ids)
		if errors.Is(err, integration.ErrRunStopped) {
			return nil // the integration is being deleted
		}
		var ce *connector.Error
		if errors.As(err, &ce) {
			switch ce.Kind {
			case connector.ErrRateLimited, connector.ErrUnavailable:
				// Asked again later, as a push is.
				backoff := e.Backoff
				if backoff == nil {
					backoff = Backoff
				}
				return &Retry{After: backoff(attempt, ce.RetryAfter), Err: err}
			case connector.ErrAuth:
				e.lostConnection(ctx, it, "", integration.ConnectionReauthorizationNeeded, ce.Message)
			}
			// Asking again would get the same answer: the delivery is
			// recorded as failed, and the next sync reads the object.
			ev.Status, ev.Message = "error", fmt.Sprintf("%s %s: %s", w.Platform, w.Event, ce.Message)
			return e.Store.AddEvents(ctx, []integration.SyncEvent{ev})
		}
		if err != nil {
			return fmt.Errorf("webhook %s of %s: %w", w.DeliveryID, it.ID, err)
		}
		ev.Model = model
		ev.Details["written"], ev.Details["stale"], ev.Details["gone"] = written, stale, gone
		ev.Message = fmt.Sprintf("%s %s: %d %s records written, %d unchanged or newer, %d gone", w.Platform, w.Event, written, model, stale, gone)
	}
	return e.Store.AddEvents(ctx, []integration.SyncEvent{ev})
}

// webhookGetter is the connector's reader of the delivery's model, when
// the platform's deliveries map to records (WordPress, for a model it
// syncs; a WebhookMapper's, as it says); ok false: the delivery is only
// recorded.
func (e *Engine) webhookGetter(it *integration.Integration, w *WebhookJob) (connector.Getter, string, bool) {
	if len(w.ObjectIDs) == 0 {
		return nil, "", false
	}
	c, ok := e.Connectors[it.Platform]
	if !ok {
		return nil, "", false
	}
	g, ok := c.(connector.Getter)
	if !ok {
		return nil, "", false
	}
	model := w.Model
	switch m, mapper := c.(WebhookMapper); {
	case mapper:
		if model, ok = m.WebhookModel(w.Event, w.Model); !ok {
			return nil, "", false
		}
	case w.Platform != "wordpress":
		return nil, "", false
	default:
		if m, ok := webhookModels[model]; ok {
			model = m
		}
	}
	if !slices.Contains(c.Models(), model) {
		return nil, "", false
	}
	return g, model, true
}

// webhookRecords reads each object again and writes it; one that is gone
// marks its record deleted.
func (e *Engine) webhookRecords(ctx context.Context, it *integration.Integration, g connector.Getter, model string, ids []string) (written, stale, gone int, err error) {
	// One read an object: a rate batch no larger than that.
	conn, _, err := e.connFor(ctx, it, min(len(ids), maxWebhookObjects))
	if err != nil {
		return 0, 0, 0, err
	}
	var recs []integration.StoredRecord
	seen := map[string]bool{}
	for _, id := range ids[:min(len(ids), maxWebhookObjects)] {
		if id == "" || seen[id] {
			continue
		}
		seen[id] = true
		r, err := g.Get(ctx, conn, model, id)
		switch {
		case err == nil:
			r.Model, r.ExternalID = model, id
			data, hash, err := Encode(r)
			if err != nil {
				return 0, 0, 0, fmt.Errorf("encode %s %s: %w", model, id, err)
			}
			recs = append(recs, integration.StoredRecord{IntegrationID: it.ID, Model: model, ExternalID: id,
				Hash: hash, Data: data, Deleted: r.Deleted, ModifiedAt: r.ModifiedAt})
		case isKind(err, connector.ErrNotFound):
			gone++
			stored, err := e.Store.GetRecord(ctx, it.ID, model, id)
			if integration.ErrorCode(err) == integration.ENOTFOUND || (err == nil && (stored.Deleted || stored.Unreadable != "")) {
				continue
			}
			if err != nil {
				return 0, 0, 0, err
			}
			d, err := deletedVersion(*stored)
			if err != nil {
				return 0, 0, 0, err
			}
			recs = append(recs, d)
		default:
			return 0, 0, 0, err
		}
	}
	// No run: the records' counts change with the write, as for a push.
	put, err := e.put(ctx, integration.WriteScope{AccountID: it.AccountID}, recs)
	if err != nil {
		return 0, 0, 0, err
	}
	return put.Written, len(recs) - put.Written, gone, nil
}

// webhookEventID is a ULID of the delivery's receipt time whose random
// part derives from the platform and delivery id: the same message
// processed again writes the same event, not a second one.
func webhookEventID(w *WebhookJob) string {
	sum := sha256.Sum256([]byte(w.Platform + "#" + w.DeliveryID))
	var id ulid.ULID
	_ = id.SetTime(ulid.Timestamp(w.ReceivedAt))
	_ = id.SetEntropy(sum[:10])
	return id.String()
}
