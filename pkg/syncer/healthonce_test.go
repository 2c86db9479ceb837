package syncer_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/joinery/joinery/pkg/integration"
)

// completeOnceFails fails each job's first CompleteJob, after the job
// wrote its page and logged its failures: every job is redelivered and
// does it all again.
type completeOnceFails struct {
	integration.SyncStore
	mu   sync.Mutex
	seen map[string]bool
}

func (s *completeOnceFails) CompleteJob(ctx context.Context, integrationID, runID, jobID string, res integration.JobResult) (*integration.Run, bool, error) {
	s.mu.Lock()
	first := !s.seen[jobID]
	s.seen[jobID] = true
	s.mu.Unlock()
	if first {
		return nil, false, errors.New("the worker stopped before the job completed")
	}
	return s.SyncStore.CompleteJob(ctx, integrationID, runID, jobID, res)
}

// An item that fails in a job that is redelivered is logged again, but
// sync_health counts it once: its failure's count key is the run's, the
// model's and the item's, whatever the delivery.
func TestARedeliveredJobCountsItsFailedItemsOnce(t *testing.T) {
	h := newDirectHarness(t, newPlatform(12))
	h.platform.broken = 7
	h.engine.Store = &completeOnceFails{SyncStore: h.store, seen: map[string]bool{}}
	run := h.runNow(full)
	if run.Status != integration.RunCompleted {
		t.Fatalf("run: %s %q", run.Status, run.Error)
	}
	if evs := h.events("item_failed"); len(evs) < 2 {
		t.Fatalf("%d item_failed events: the job was not run twice", len(evs))
	}
	if hl := h.health(); hl.FailedItems24h != 1 {
		t.Fatalf("failed items in 24 hours: %d, want 1", hl.FailedItems24h)
	}
}
