package integration

import (
	"context"
	"time"
)

// HealthCounts are an integration's failures over a window, summed from
// hourly buckets that the store keeps as it logs them (no query over the
// events).
type HealthCounts struct {
	FailedRuns     int64
	FailedItems    int64
	FailedPushes   int64
	ConflictPushes int64
	DeadLetters    int64
}

// Health bucket fields: what an event or a dead letter adds to.
const (
	HealthFailedRuns     = "failed_runs"
	HealthFailedItems    = "failed_items"
	HealthFailedPushes   = "failed_pushes"
	HealthConflictPushes = "conflict_pushes"
	HealthDeadLetters    = "dead_letters"
)

// HealthField is the bucket field an event counts in ("": none). Both
// stores count through it, so they cannot disagree.
func HealthField(ev SyncEvent) string {
	switch {
	case ev.Type == "run_finished" && ev.Status == "error":
		return HealthFailedRuns
	case ev.Type == "item_failed":
		return HealthFailedItems
	case ev.Type == "push" && ev.Status == "error":
		return HealthFailedPushes
	case ev.Type == "conflict":
		return HealthConflictPushes
	}
	return ""
}

// Add adds n to the count field names.
func (h *HealthCounts) Add(field string, n int64) {
	switch field {
	case HealthFailedRuns:
		h.FailedRuns += n
	case HealthFailedItems:
		h.FailedItems += n
	case HealthFailedPushes:
		h.FailedPushes += n
	case HealthConflictPushes:
		h.ConflictPushes += n
	case HealthDeadLetters:
		h.DeadLetters += n
	}
}

// HealthHour is the hourly bucket t counts in.
func HealthHour(t time.Time) time.Time { return t.UTC().Truncate(time.Hour) }

// HealthRetention is how long an hourly bucket is kept: longer than the
// 24 hours sync_health sums.
const HealthRetention = 48 * time.Hour

// DeadLetterRetention is how long a dead letter is kept for replay.
const DeadLetterRetention = 14 * 24 * time.Hour

// DeadLetter is a background job the queue gave up on after its last
// delivery, kept against its integration (and run) for replay.
type DeadLetter struct {
	// ID is the dead-letter queue's message id: recording the same
	// message again (the DLQ delivers at least once) changes nothing.
	ID            string
	AccountID     string
	IntegrationID string
	RunID         string
	JobID         string
	Kind          string
	// Body is the job's message, sent again as it was on replay.
	Body string
	// Receives is how many deliveries the job had before it was given up.
	Receives int
	At       time.Time
}

// HealthStore keeps the hourly health buckets and the dead letters.
type HealthStore interface {
	// HealthCounts sums the integration's hourly buckets from since's hour
	// on, with one bounded read. AddEvents counts each event HealthField
	// names in the bucket of its At, once per count key (its CountKey, or
	// its ID): an event added again is not counted again.
	HealthCounts(ctx context.Context, integrationID string, since time.Time) (HealthCounts, error)
	// KeepDeadLetter stores a dead letter for replay, once per ID: false
	// if it was stored already. counted: it also counts, in the same
	// write, in the dead_letters bucket of its At (a dead letter put back
	// after a failed replay is not counted again).
	KeepDeadLetter(ctx context.Context, d DeadLetter, counted bool) (bool, error)
	// DeadLetters returns up to limit of the integration's dead letters
	// kept for replay, with one bounded read.
	DeadLetters(ctx context.Context, integrationID string, limit int) ([]DeadLetter, error)
	// TakeDeadLetter removes a dead letter to replay it: false if it is
	// gone already (another replay took it), so no dead letter is sent
	// twice.
	TakeDeadLetter(ctx context.Context, integrationID, id string) (bool, error)
}
