package syncer

import (
	"context"
	"errors"
	"time"

	"github.com/joinery/joinery/pkg/integration"
)

// SchedulerBatch is how many due integrations one tick takes on; the rest
// wait for the next tick.
const SchedulerBatch = 200

// Tick starts a pull for every integration whose scheduled sync is due and
// sets its next one. An integration whose run is still under way is not
// started again; one that can't sync (no credentials, say) is rescheduled
// all the same, with the reason in an event. It also queues the store's
// records backfill while the store says one is pending. It returns how
// many runs it started.
func (e *Engine) Tick(ctx context.Context) (int, error) {
	now := e.now()
	due, err := e.Integrations.Due(ctx, now, SchedulerBatch)
	if err != nil {
		return 0, err
	}
	started := 0
	var errs []error
	if err := e.queueMigration(ctx); err != nil {
		errs = append(errs, err)
	}
	for _, it := range due {
		_, ok, err := e.start(ctx, it, StartInput{Direction: integration.DirectionFromExternal})
		switch {
		case err != nil && integration.ErrorCode(err) != integration.EINTERNAL:
			_ = e.Store.AddEvents(ctx, []integration.SyncEvent{{ID: e.newID(), IntegrationID: it.ID, Type: "schedule", Status: "warning",
				Message: "The scheduled sync did not start: " + integration.ErrorMessage(err), At: now}})
		case err != nil:
			errs = append(errs, err)
			continue // try again next tick
		case ok:
			started++
		}
		if err := e.Integrations.Reschedule(ctx, it.AccountID, it.ID, now); err != nil && integration.ErrorCode(err) != integration.ENOTFOUND {
			errs = append(errs, err)
		}
	}
	return started, errors.Join(errs...)
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
