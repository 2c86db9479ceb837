package integration

import "context"

// SkippedModels keeps the models a run skipped because the platform does
// not let the integration's user read them: the run goes on with the
// others, and sync_health lists them.
type SkippedModels interface {
	// SkipModel adds model to the run's Skipped models, once however often
	// it is called (a redelivered job calls it again, perhaps at the same
	// time): added is true for the one call that added it. ENOTFOUND when
	// there is no such run.
	SkipModel(ctx context.Context, integrationID, runID, model string) (added bool, err error)
}
