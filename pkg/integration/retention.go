package integration

import (
	"context"
	"time"
)

// How long finished things are kept. Stores expire them (DynamoDB: the
// table's TTL attribute expires_at); nothing an integration accumulates
// grows without bound.
const (
	// RunRetention: a run is kept this long after it finished (or, if it
	// never finishes, after it started). Its jobs' bookkeeping is kept
	// only as long as a run can be under way, and goes before it.
	RunRetention = 90 * 24 * time.Hour
	// PushDoneRetention and PushFailedRetention: a push is kept this long
	// after it was applied (or its conflict settled), or after it failed. A queued push, or one in
	// conflict, is kept until it is applied or the conflict resolved.
	PushDoneRetention   = 7 * 24 * time.Hour
	PushFailedRetention = 30 * 24 * time.Hour
)

// ExpiresAt is when the push may be forgotten; zero: not while it stands.
func (p *Push) ExpiresAt() time.Time {
	switch p.Status {
	case PushDone, PushResolved:
		return p.UpdatedAt.Add(PushDoneRetention)
	case PushFailed:
		return p.UpdatedAt.Add(PushFailedRetention)
	}
	return time.Time{}
}

// Expired reports whether the push may be forgotten at now.
func (p *Push) Expired(now time.Time) bool {
	at := p.ExpiresAt()
	return !at.IsZero() && !now.Before(at)
}

// ExpiresAt is when the run may be forgotten: RunRetention after it
// finished, or after it started while it has not.
func (r *Run) ExpiresAt() time.Time {
	if r.FinishedAt != nil {
		return r.FinishedAt.Add(RunRetention)
	}
	return r.StartedAt.Add(RunRetention)
}

// MappingReader reads a local id's mapping without taking its lease.
type MappingReader interface {
	// GetMapping returns the mapping of a local id; ENOTFOUND if it has
	// none (it was never pushed).
	GetMapping(ctx context.Context, integrationID, model, localID string) (*Mapping, error)
}
