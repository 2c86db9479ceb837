package syncer

import (
	"context"
	"fmt"
)

// defaultPurgePage is how many stored items one purge job deletes.
const defaultPurgePage = 1000

func (e *Engine) purgePage() int {
	if e.PurgePage > 0 {
		return e.PurgePage
	}
	return defaultPurgePage
}

// purge removes one page of a deleted integration's sync data and, if
// anything may be left, queues its own continuation: any amount of data
// goes in jobs of bounded work. The first page marks the data purged,
// which stops every job still under way. A delivery cut short is simply
// delivered again: it reads what is left and deletes it. A duplicate
// continuation (sent, then the job retried) only makes two chains that
// both end when nothing is left.
func (e *Engine) purge(ctx context.Context, job Job) error {
	more, err := e.Store.PurgeSyncData(ctx, job.IntegrationID, e.purgePage())
	if err != nil {
		return fmt.Errorf("purge sync data of %s: %w", job.IntegrationID, err)
	}
	if !more {
		e.recordRemains(ctx, job)
		return nil
	}
	return e.send(ctx, []Job{job})
}
