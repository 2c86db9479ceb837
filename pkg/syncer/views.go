package syncer

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/joinery/joinery/pkg/integration"
)

// Status is where an integration's sync stands, with its latest run.
type Status struct {
	Integration *integration.Integration
	Run         *integration.Run // nil before the first run
}

// Status returns an integration's sync status.
func (e *Engine) Status(ctx context.Context, actor integration.Actor, id string) (Status, error) {
	it, err := e.Integrations.Get(ctx, actor, id)
	if err != nil {
		return Status{}, err
	}
	run, err := e.Store.LatestRun(ctx, it.ID)
	if integration.ErrorCode(err) == integration.ENOTFOUND {
		return Status{Integration: it}, nil
	}
	if err != nil {
		return Status{}, err
	}
	// A run that finished while the integration still says pending or
	// syncing was overtaken by a newer write; its outcome stands.
	if !run.Active() && (it.SyncStatus == integration.SyncPending || it.SyncStatus == integration.SyncSyncing) {
		shown := *it
		shown.SyncStatus, shown.SyncError = integration.SyncCompleted, ""
		if run.Status == integration.RunError {
			shown.SyncStatus, shown.SyncError = integration.SyncError, run.Error
		}
		it = &shown
	}
	return Status{Integration: it, Run: run}, nil
}

// RecordPage is a page of the change feed.
type RecordPage struct {
	Items      []integration.StoredRecord
	NextCursor string
}

// ParseFeedSafety reads the change feed's safety window W from its
// setting (JOINERY_FEED_SAFETY_SECONDS: whole seconds, 0 to 3600) as the
// Engine's FeedSafety: "" is the default (0), "0" no window (negative).
func ParseFeedSafety(raw string) (time.Duration, error) {
	if raw == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 0 || n > 3600 {
		return 0, fmt.Errorf("JOINERY_FEED_SAFETY_SECONDS must be whole seconds from 0 to 3600, not %q", raw)
	}
	if n == 0 {
		return -1, nil
	}
	return time.Duration(n) * time.Second, nil
}

// Records pages through a model's records in the order Joinery changed
// them: a host app polls it with the time of the last change it saw.
//
// The feed shows a record only once its ChangedAt is at least W old
// (feedSafety): every write is stamped just before it is made and fails
// unless it commits within W/2 of its stamp, so by then it has either
// committed, and the feed index has caught up, or it never will with that
// stamp. A poller's cursor therefore never moves past a change it missed.
//
// take, when not nil, may end the page early (see RecordQuery.Take).
func (e *Engine) Records(ctx context.Context, actor integration.Actor, id, model string, changedAfter time.Time, limit int, cursor string, take func(*integration.StoredRecord) bool) (RecordPage, error) {
	it, err := e.Integrations.Get(ctx, actor, id)
	if err != nil {
		return RecordPage{}, err
	}
	fields := map[string]string{}
	if c, ok := e.Connectors[it.Platform]; ok {
		if model == "" {
			fields["model"] = fmt.Sprintf("required: one of %v", c.Models())
		} else if !slices.Contains(c.Models(), model) {
			fields["model"] = fmt.Sprintf("must be one of %v", c.Models())
		}
	} else if model == "" {
		fields["model"] = "required"
	}
	limit = integration.CheckLimit(fields, limit)
	if len(fields) > 0 {
		return RecordPage{}, integration.Invalid(fields)
	}
	q := integration.RecordQuery{IntegrationID: it.ID, Model: model, ChangedAfter: changedAfter, Limit: limit, Cursor: cursor, Take: take}
	if w := e.feedSafety(); w > 0 {
		q.Before = e.now().Add(-w)
	}
	recs, next, err := e.Store.ListRecords(ctx, q)
	if err != nil {
		return RecordPage{}, err
	}
	return RecordPage{Items: recs, NextCursor: next}, nil
}

// maxExternalIDBytes bounds the external ids looked up: no platform's id
// is longer, and a longer one cannot be a store key.
const maxExternalIDBytes = 512

// Record returns one record as stored now, read strongly consistent (not
// through the feed): a host app told of a change reads it at once. A model
// the platform does not have is not found, like an unknown record.
func (e *Engine) Record(ctx context.Context, actor integration.Actor, id, model, externalID string) (*integration.StoredRecord, error) {
	it, err := e.Integrations.Get(ctx, actor, id)
	if err != nil {
		return nil, err
	}
	c, ok := e.Connectors[it.Platform]
	if !ok || !slices.Contains(c.Models(), model) || externalID == "" || len(externalID) > maxExternalIDBytes {
		return nil, integration.Errorf(integration.ENOTFOUND, "Record not found.")
	}
	r, err := e.Store.GetRecord(ctx, it.ID, model, externalID)
	if err != nil {
		return nil, fmt.Errorf("get record %s %s: %w", model, externalID, err)
	}
	return r, nil
}

// EventPage is a page of sync events, newest first.
type EventPage struct {
	Items      []integration.SyncEvent
	NextCursor string
}

// Events pages through an integration's sync events.
func (e *Engine) Events(ctx context.Context, actor integration.Actor, id, status, typ string, limit int, cursor string) (EventPage, error) {
	it, err := e.Integrations.Get(ctx, actor, id)
	if err != nil {
		return EventPage{}, err
	}
	fields := map[string]string{}
	if status != "" && status != "ok" && status != "warning" && status != "error" {
		fields["status"] = "must be ok, warning or error"
	}
	if len(typ) > 64 {
		fields["type"] = "must be at most 64 characters"
	}
	limit = integration.CheckLimit(fields, limit)
	if len(fields) > 0 {
		return EventPage{}, integration.Invalid(fields)
	}
	evs, next, err := e.Store.ListEvents(ctx, integration.EventQuery{IntegrationID: it.ID, Status: status, Type: typ, Limit: limit, Cursor: cursor})
	if err != nil {
		return EventPage{}, err
	}
	return EventPage{Items: evs, NextCursor: next}, nil
}

// Health sums up an integration's sync. The 24-hour counts are the last
// 24 hourly buckets, the current hour included.
type Health struct {
	Records           map[string]int64
	LastSuccessAt     *time.Time
	FailedRuns24h     int64
	FailedItems24h    int64
	FailedPushes24h   int64
	ConflictPushes24h int64
	DeadLetters24h    int64
	PendingPushes     int
	LastRun           *integration.Run
	SyncStatus        integration.SyncStatus
	ConnectionStatus  integration.ConnectionStatus
	ConnectionMessage string
	// SkippedModels are the models the latest run skipped: the platform
	// does not let the integration's user read them.
	SkippedModels []string
}

// Health returns totals and recent failures, from counters and hourly
// buckets the store keeps as it writes: a bounded number of reads,
// whatever the number of records, pushes or events.
func (e *Engine) Health(ctx context.Context, actor integration.Actor, id string) (Health, error) {
	it, err := e.Integrations.Get(ctx, actor, id)
	if err != nil {
		return Health{}, err
	}
	h := Health{Records: map[string]int64{}, SyncStatus: it.SyncStatus, ConnectionStatus: it.ConnectionStatus,
		ConnectionMessage: it.ConnectionMessage, LastSuccessAt: it.LastSyncAt}
	if c, ok := e.Connectors[it.Platform]; ok {
		for _, m := range c.Models() {
			n, err := e.Store.CountRecords(ctx, it.ID, m)
			if err != nil {
				return Health{}, err
			}
			h.Records[m] = n
		}
	}
	if h.PendingPushes, err = e.Store.PendingPushes(ctx, it.ID); err != nil {
		return Health{}, err
	}
	if run, err := e.Store.LatestRun(ctx, it.ID); err == nil {
		h.LastRun, h.SkippedModels = run, run.Skipped
	} else if integration.ErrorCode(err) != integration.ENOTFOUND {
		return Health{}, err
	}
	counts, err := e.Store.HealthCounts(ctx, it.ID, e.now().Add(-23*time.Hour))
	if err != nil {
		return Health{}, err
	}
	h.FailedRuns24h, h.FailedItems24h, h.FailedPushes24h = counts.FailedRuns, counts.FailedItems, counts.FailedPushes
	h.ConflictPushes24h, h.DeadLetters24h = counts.ConflictPushes, counts.DeadLetters
	return h, nil
}
