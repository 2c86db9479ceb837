// Package scheduler is the scheduler Lambda's handler: one tick of the
// schedule each invocation.
package scheduler

import (
	"context"
	"encoding/json"
	"log/slog"

	"github.com/joinery/joinery/pkg/oauth"
	"github.com/joinery/joinery/pkg/syncer"
)

// Scheduler starts the syncs that are due (syncer.Engine).
type Scheduler interface {
	Schedule(ctx context.Context) (syncer.TickResult, error)
}

// Handler runs a tick. One integration that fails is logged and tried
// again next tick; it does not fail the others, nor the invocation (which
// EventBridge would retry whole). Only an index it cannot read at all
// fails the tick.
type Handler struct {
	Scheduler Scheduler
	// Tokens, when set, refreshes ahead the OAuth tokens of integrations
	// due within the next minutes (oauth.Tokens).
	Tokens interface {
		RenewDue(ctx context.Context) (oauth.RenewResult, error)
	}
	Log *slog.Logger
}

// Handle is the Lambda handler of the scheduled event.
func (h Handler) Handle(ctx context.Context, _ json.RawMessage) error {
	log := h.Log
	if log == nil {
		log = slog.Default()
	}
	res, err := h.Scheduler.Schedule(ctx)
	if err != nil {
		log.ErrorContext(ctx, "scheduler tick failed", "err", err)
		return err
	}
	for _, f := range res.Failures {
		log.WarnContext(ctx, "scheduled sync not started; the next tick tries again", "err", f)
	}
	log.InfoContext(ctx, "scheduler tick", "due", res.Due, "started", res.Started, "skipped", res.Skipped, "failed", len(res.Failures), "more", res.More)
	if h.Tokens != nil {
		rr, err := h.Tokens.RenewDue(ctx)
		if err != nil {
			// The runs are started; their jobs refresh on demand.
			log.WarnContext(ctx, "token renewal failed", "err", err)
		}
		for _, f := range rr.Failures {
			log.WarnContext(ctx, "token not renewed; the next tick or the run tries again", "err", f)
		}
		log.InfoContext(ctx, "token renewal", "checked", rr.Checked, "renewed", rr.Renewed, "failed", len(rr.Failures))
	}
	return nil
}
