package syncer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/joinery/joinery/pkg/integration"
)

const (
	// schedulerPage is how many due integrations one read of a shard of
	// the scheduler's index takes.
	schedulerPage = 100
	// schedulerWorkers start that many due integrations at once.
	schedulerWorkers = 8
	// DefaultSchedulerBudget is how long a tick goes on taking due
	// integrations when Engine.SchedulerBudget is unset.
	DefaultSchedulerBudget = 40 * time.Second
	// schedulerMargin is kept back from the invocation's deadline.
	schedulerMargin = 10 * time.Second
)

// TickResult says what one scheduler tick did.
type TickResult struct {
	Due     int // due integrations taken from the index
	Started int // runs started
	// Skipped were no longer due when read again: started, rescheduled,
	// made inactive or deleted since the index was written.
	Skipped int
	// More: the budget ran out with due integrations left; the next tick
	// goes on with them (the earliest due first).
	More bool
	// Failures are integrations (or shards of the index) that failed; the
	// next tick tries them again.
	Failures []error
}

// Tick is Schedule with the failures joined into its error: the local
// runner's ticker reports them.
func (e *Engine) Tick(ctx context.Context) (int, error) {
	res, err := e.Schedule(ctx)
	if err == nil {
		err = errors.Join(res.Failures...)
	}
	return res.Started, err
}

func (e *Engine) schedulerBudget() time.Duration {
	if e.SchedulerBudget > 0 {
		return e.SchedulerBudget
	}
	return DefaultSchedulerBudget
}

// Schedule starts a pull for every integration whose scheduled sync is
// due and sets its next one. It pages through every shard of the
// scheduler's index, earliest due first, until none is left or its budget
// has run out, and reads each integration again before it starts it (the
// index may lag). An integration whose run is still under way is not
// started again; one that can't sync (no credentials, say) is rescheduled
// all the same, with the reason in an event. It also queues the store's
// records backfill while the store says one is pending. A failure of one
// integration or one shard is in the result, and the tick goes on; the
// error says only that no shard of the index could be read.
func (e *Engine) Schedule(ctx context.Context) (TickResult, error) {
	var res TickResult
	now := e.now()
	stop := now.Add(e.schedulerBudget())
	if d, ok := ctx.Deadline(); ok {
		if left := time.Until(d) - schedulerMargin; left < stop.Sub(now) {
			stop = now.Add(left)
		}
	}
	if err := e.queueMigration(ctx); err != nil {
		res.Failures = append(res.Failures, err)
	}
	idx := &dueMerge{e: e, at: now}
	for _, name := range e.Integrations.DueShards() {
		idx.shards = append(idx.shards, &dueShard{name: name, more: true})
	}
	if err := idx.fill(ctx); err != nil {
		return res, err
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	due := make(chan *integration.Integration)
	for range schedulerWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range due {
				outcome, err := e.scheduleOne(ctx, it, now)
				mu.Lock()
				switch {
				case err != nil:
					res.Failures = append(res.Failures, fmt.Errorf("integration %s: %w", it.ID, err))
				case outcome == scheduleStarted:
					res.Started++
				case outcome == scheduleSkipped:
					res.Skipped++
				}
				mu.Unlock()
			}
		}()
	}
	for {
		it := idx.next(ctx)
		if it == nil {
			break
		}
		if ctx.Err() != nil || !e.now().Before(stop) {
			res.More = true
			break
		}
		res.Due++
		due <- it
	}
	close(due)
	wg.Wait()
	res.Failures = append(res.Failures, idx.failures...)
	return res, nil
}

type scheduleOutcome int

const (
	scheduleStarted scheduleOutcome = iota
	scheduleSkipped
	scheduleRescheduled // not started (already running, or can't sync), next one set
)

// scheduleOne starts one due integration, as it is now, and sets its
// next sync.
func (e *Engine) scheduleOne(ctx context.Context, indexed *integration.Integration, now time.Time) (scheduleOutcome, error) {
	it, err := e.Integrations.Get(ctx, system(indexed.AccountID), indexed.ID)
	if integration.ErrorCode(err) == integration.ENOTFOUND {
		return scheduleSkipped, nil // deleted meanwhile
	}
	if err != nil {
		return 0, err
	}
	if it.NextSyncAt == nil || it.NextSyncAt.After(now) {
		// Not due any more: started by another tick, or is_active,
		// sync_enabled or the interval changed since the index was read;
		// or in the index for its grant's renewal only (oauth.RenewDue).
		return scheduleSkipped, nil
	}
	_, ok, err := e.start(ctx, it, StartInput{Direction: integration.DirectionFromExternal})
	outcome := scheduleRescheduled
	switch {
	case err != nil && integration.ErrorCode(err) != integration.EINTERNAL:
		_ = e.Store.AddEvents(ctx, []integration.SyncEvent{{ID: e.newID(), IntegrationID: it.ID, Type: "schedule", Status: "warning",
			Message: "The scheduled sync did not start: " + integration.ErrorMessage(err), At: now}})
	case err != nil:
		return 0, err // not rescheduled: the next tick tries again
	case ok:
		outcome = scheduleStarted
	}
	if err := e.Integrations.Reschedule(ctx, it.AccountID, it.ID, now); err != nil && integration.ErrorCode(err) != integration.ENOTFOUND {
		return 0, fmt.Errorf("reschedule: %w", err)
	}
	return outcome, nil
}

// dueMerge reads the shards of the scheduler's index a page at a time and
// hands out their integrations earliest due first.
type dueMerge struct {
	e        *Engine
	at       time.Time
	shards   []*dueShard
	failures []error
}

type dueShard struct {
	name   string
	items  []*integration.Integration
	cursor string
	more   bool // a page is still to be read
}

// fill reads a page of every shard that has none buffered and has more.
// A shard that fails is left out of this tick. It fails only if no
// shard could be read at all.
func (m *dueMerge) fill(ctx context.Context) error {
	read, failed := 0, 0
	var errs []error
	for _, s := range m.shards {
		if len(s.items) > 0 || !s.more {
			continue
		}
		items, next, err := m.e.Integrations.DuePage(ctx, s.name, m.at, schedulerPage, s.cursor)
		if err != nil {
			s.more = false
			failed++
			err = fmt.Errorf("due index shard %s: %w", s.name, err)
			errs = append(errs, err)
			m.failures = append(m.failures, err)
			continue
		}
		read++
		s.items, s.cursor, s.more = items, next, next != ""
	}
	if failed > 0 && read == 0 && failed == len(m.shards) {
		m.failures = nil
		return fmt.Errorf("read the due index: %w", errors.Join(errs...))
	}
	return nil
}

// next is the earliest due integration left, or nil.
func (m *dueMerge) next(ctx context.Context) *integration.Integration {
	_ = m.fill(ctx) // an empty shard's next page; failures are kept
	var best *dueShard
	for _, s := range m.shards {
		if len(s.items) == 0 {
			continue
		}
		if best == nil || integration.DueAt(s.items[0]).Before(*integration.DueAt(best.items[0])) {
			best = s
		}
	}
	if best == nil {
		return nil
	}
	it := best.items[0]
	best.items = best.items[1:]
	return it
}

// Every calls Tick every d until ctx ends, as the local runner's stand-in
// for the EventBridge schedule.
func (e *Engine) Every(ctx context.Context, d time.Duration, onErr func(error)) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := e.Tick(ctx); err != nil && onErr != nil {
				onErr(err)
			}
		}
	}
}
