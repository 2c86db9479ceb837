package integration

import (
	"context"
	"time"
)

// DueIndex is the scheduler's index of integrations with a next sync,
// which a store may spread over shards so that no one partition is hot.
type DueIndex interface {
	// DueShards names the index's shards; the names mean nothing to the
	// caller but DuePage.
	DueShards() []string
	// DuePage returns a shard's integrations of every account due (DueAt:
	// a next sync, or a grant to renew) at or before t, earliest first, at most limit, and
	// the cursor of the next page ("" on the last). Integrations being
	// deleted are not in it. An unusable cursor or shard is EINVALID.
	DuePage(ctx context.Context, shard string, t time.Time, limit int, cursor string) ([]*Integration, string, error)
}

// DueShards names the shards of the scheduler's index.
func (s *Service) DueShards() []string { return s.Store.DueShards() }

// DuePage returns a page of one shard of the scheduler's index: the
// integrations due at t, earliest first.
func (s *Service) DuePage(ctx context.Context, shard string, t time.Time, limit int, cursor string) ([]*Integration, string, error) {
	return s.Store.DuePage(ctx, shard, t, limit, cursor)
}
