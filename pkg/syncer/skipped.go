package syncer

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/integration"
)

// A model the platform does not let the integration's user read (the
// connector says ErrForbidden: an Author's pages, categories and tags on
// WordPress) is skipped: the run goes on with the others and completes,
// the model is kept on the run (sync_health.skipped_models) and a
// model_skipped warning says why. Its cursor stays and nothing of it is
// marked deleted.

// skipModel reports whether err is the platform refusing the user model,
// and if so records the skip. Only the first time a run skips a model is
// it logged: a redelivered job finds it on the run already.
func (e *Engine) skipModel(ctx context.Context, run *integration.Run, model string, err error) (bool, error) {
	var ce *connector.Error
	if !errors.As(err, &ce) || ce.Kind != connector.ErrForbidden {
		return false, nil
	}
	if slices.Contains(run.Skipped, model) {
		return true, nil
	}
	added, err := e.Store.SkipModel(ctx, run.IntegrationID, run.ID, model)
	if err != nil {
		return true, fmt.Errorf("skip %s in run %s: %w", model, run.ID, err)
	}
	run.Skipped = append(run.Skipped, model)
	if !added {
		return true, nil
	}
	details := map[string]any{}
	if ce.Status != 0 {
		details["http_status"] = ce.Status
	}
	if ce.Code != "" {
		details["platform_code"] = ce.Code
	}
	_ = e.event(ctx, run, "model_skipped", "warning", model, fmt.Sprintf("%s skipped: %s", model, ce.Message), details)
	return true, nil
}

// skipPage turns the failure of a page job whose model the platform
// refuses into a job done without items, the model skipped.
func (e *Engine) skipPage(ctx context.Context, run *integration.Run, job Job, res integration.JobResult, err error) (integration.JobResult, error) {
	if err == nil || job.Kind != "page" {
		return res, err
	}
	skip, serr := e.skipModel(ctx, run, job.Model, err)
	if !skip {
		return res, err
	}
	return integration.JobResult{}, serr
}

// lostConnection records that the platform no longer accepts the
// integration's credentials: its connection_status, and a connection
// event (runID "": not in a run, as for a push) — once: not again while
// the status already says so (a token refresh that found the grant gone
// recorded it first).
func (e *Engine) lostConnection(ctx context.Context, it *integration.Integration, runID string, status integration.ConnectionStatus, msg string) {
	if lost, err := e.Integrations.RecordConnectionLost(ctx, system(it.AccountID), it.ID, status, msg, e.now()); err != nil || !lost {
		return
	}
	_ = e.Store.AddEvents(ctx, []integration.SyncEvent{{ID: e.newID(), IntegrationID: it.ID, RunID: runID, Type: "connection", Status: "error",
		Message: msg, At: e.now(), Details: map[string]any{"connection_status": string(status)}}})
}
