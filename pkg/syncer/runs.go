package syncer

import (
	"context"
	"fmt"

	"github.com/joinery/joinery/pkg/integration"
)

// RunPage is a page of an integration's runs, newest first.
type RunPage struct {
	Items      []*integration.Run
	NextCursor string
}

// Runs pages through an integration's runs, newest first.
func (e *Engine) Runs(ctx context.Context, actor integration.Actor, id string, limit int, cursor string) (RunPage, error) {
	it, err := e.Integrations.Get(ctx, actor, id)
	if err != nil {
		return RunPage{}, err
	}
	fields := map[string]string{}
	limit = integration.CheckLimit(fields, limit)
	if len(fields) > 0 {
		return RunPage{}, integration.Invalid(fields)
	}
	runs, next, err := e.Store.ListRuns(ctx, it.ID, limit, cursor)
	if err != nil {
		return RunPage{}, err
	}
	return RunPage{Items: runs, NextCursor: next}, nil
}

// cancelledMessage is the error of a run cancelled on request.
const cancelledMessage = "Cancelled."

// Cancel finishes a running run as error, as a failed run is finished, and
// returns it. Its jobs then stop on their own: writes on behalf of a
// finished run are refused (ErrRunStopped), and Handle skips the jobs of
// a run no longer active. A run already finished is ECONFLICT.
func (e *Engine) Cancel(ctx context.Context, actor integration.Actor, id, runID string) (*integration.Run, error) {
	if err := actor.Require(integration.RoleEditor); err != nil {
		return nil, err
	}
	it, err := e.Integrations.Get(ctx, actor, id)
	if err != nil {
		return nil, err
	}
	notFound := integration.Errorf(integration.ENOTFOUND, "Run %q not found.", runID)
	if runID == "" || len(runID) > 128 {
		return nil, notFound
	}
	run, err := e.Store.GetRun(ctx, it.ID, runID)
	if integration.ErrorCode(err) == integration.ENOTFOUND {
		return nil, notFound
	}
	if err != nil {
		return nil, fmt.Errorf("get run %s: %w", runID, err)
	}
	finished := integration.Errorf(integration.ECONFLICT, "The run has already finished.")
	if !run.Active() {
		return nil, finished
	}
	// Once the run is finished the request's end must not cut the rest
	// short: the integration's status and the event go with it.
	ctx = context.WithoutCancel(ctx)
	at := e.now()
	done, err := e.Store.FinishRun(ctx, it.ID, run.ID, integration.RunError, cancelledMessage, at)
	if err != nil {
		return nil, fmt.Errorf("cancel run %s: %w", run.ID, err)
	}
	if !done {
		// It finished meanwhile, by its last job or a failure.
		e.reconcile(ctx, it, run.ID)
		return nil, finished
	}
	// Shown only (Status reconciles a status left behind): the run is
	// cancelled either way.
	_ = e.setStatus(ctx, it.AccountID, it.ID, integration.SyncError, nil, cancelledMessage)
	_ = e.event(ctx, run, "run_finished", "error", "", cancelledMessage, nil)
	if got, err := e.Store.GetRun(ctx, it.ID, run.ID); err == nil {
		return got, nil
	}
	// The run is cancelled: show it as it was, finished.
	run.Status, run.Error, run.FinishedAt = integration.RunError, cancelledMessage, &at
	return run, nil
}
