package syncer

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Backfiller is implemented by a store that rewrites records kept by an
// earlier release into its current format, one bounded page at a time:
// next is the cursor of the following page; done, that there is none.
// Each page is idempotent, so a redelivered migrate job is harmless.
type Backfiller interface {
	BackfillRecords(ctx context.Context, cursor string, limit int) (next string, done bool, err error)
}

// BackfillTracker is implemented by a store that says where its backfill
// stands: the cursor to carry on from, and whether it has finished. The
// scheduler starts (or restarts) the migrate jobs from it.
type BackfillTracker interface {
	BackfillState(ctx context.Context) (cursor string, done bool, err error)
}

// MigrationChecker is implemented by a store that can only say whether
// its records still need the backfill: the scheduler then starts the
// migrate jobs from the beginning, at most once per migrationRestart.
type MigrationChecker interface {
	MigrationPending(ctx context.Context) (bool, error)
}

// migrationWatch is what the scheduler last saw of the backfill, so that
// it queues a migrate job only when none is making progress: the jobs
// chain themselves, and one chain is enough.
type migrationWatch struct {
	mu     sync.Mutex
	seen   bool
	cursor string
	queued time.Time
}

// migrationRestart is how long the scheduler leaves a backfill it can't
// watch progress of before it queues a migrate job again.
const migrationRestart = 30 * time.Minute

// migratePage is how many records one migrate job rewrites.
const migratePage = 200

// migrate runs one page of the store's backfill and queues the next.
func (e *Engine) migrate(ctx context.Context, job Job) error {
	b, ok := e.Store.(Backfiller)
	if !ok {
		return nil // nothing to migrate in this store
	}
	next, done, err := b.BackfillRecords(ctx, job.Page, migratePage)
	if err != nil {
		return fmt.Errorf("backfill records from %q: %w", job.Page, err)
	}
	if done {
		return nil
	}
	// If this send fails the job is retried and redoes its page, which
	// changes nothing the first time did not.
	if err := e.send(ctx, []Job{migrateJob(next)}); err != nil {
		return fmt.Errorf("queue the next backfill page: %w", err)
	}
	return nil
}

func migrateJob(cursor string) Job {
	return Job{Kind: "migrate", JobID: "migrate", Page: cursor}
}

// queueMigration starts the store's records backfill, or restarts it
// where it stands if its migrate jobs stopped (a job that went to the
// DLQ): when the backfill's cursor did not move since the last tick this
// process saw (a page takes well under a tick), no chain is running.
func (e *Engine) queueMigration(ctx context.Context) error {
	w := &e.migration
	if t, ok := e.Store.(BackfillTracker); ok {
		cursor, done, err := t.BackfillState(ctx)
		if err != nil {
			return fmt.Errorf("read where the records backfill stands: %w", err)
		}
		w.mu.Lock()
		stalled := w.seen && w.cursor == cursor
		w.seen, w.cursor = !done, cursor
		w.mu.Unlock()
		if done || !stalled {
			return nil
		}
		if err := e.send(ctx, []Job{migrateJob(cursor)}); err != nil {
			return fmt.Errorf("queue the records backfill: %w", err)
		}
		return nil
	}
	mc, ok := e.Store.(MigrationChecker)
	if !ok {
		return nil
	}
	pending, err := mc.MigrationPending(ctx)
	if err != nil {
		return fmt.Errorf("ask whether records need the backfill: %w", err)
	}
	now := e.now()
	w.mu.Lock()
	due := pending && (w.queued.IsZero() || now.Sub(w.queued) >= migrationRestart)
	if due {
		w.queued = now
	}
	w.mu.Unlock()
	if !due {
		return nil
	}
	if err := e.send(ctx, []Job{migrateJob("")}); err != nil {
		return fmt.Errorf("queue the records backfill: %w", err)
	}
	return nil
}
