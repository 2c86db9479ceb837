package syncer_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/joinery/joinery/pkg/integration"
)

// purgeCounter counts purge pages and can fail one after doing its work,
// as a worker dying before it queued the next page would.
type purgeCounter struct {
	integration.SyncStore
	calls  int
	failAt int
}

func (p *purgeCounter) PurgeSyncData(ctx context.Context, integrationID string, limit int) (bool, error) {
	p.calls++
	more, err := p.SyncStore.PurgeSyncData(ctx, integrationID, limit)
	if err == nil && p.calls == p.failAt {
		return false, fmt.Errorf("worker died")
	}
	return more, err
}

func TestADeletedIntegrationIsPurgedPageByPage(t *testing.T) {
	for _, crash := range []bool{false, true} {
		t.Run(fmt.Sprintf("crash=%v", crash), func(t *testing.T) {
			const posts, page = 120, 50
			h := newDirectHarness(t, newPlatform(posts))
			h.engine.PurgePage = page
			run := h.runNow(full)
			if run.Status != integration.RunCompleted {
				t.Fatalf("run: %+v", run)
			}
			pc := &purgeCounter{SyncStore: h.store}
			if crash {
				pc.failAt = 3
			}
			h.engine.Store = pc
			h.service.PurgeLater = h.engine.QueuePurge
			if err := h.service.Delete(context.Background(), h.actor, h.it.ID, nil); err != nil {
				t.Fatal(err)
			}
			errs := h.drive()
			if crash != (len(errs) == 1) {
				t.Fatalf("failed deliveries: %v", errs)
			}
			// A record is three keys in the embedded store (record, feed,
			// outbox); the run's bookkeeping and events take a page more.
			want := (3*posts + page - 1) / page
			extra := 0
			if crash {
				extra = 1 // the page that crashed is delivered again
			}
			if pc.calls < want+extra || pc.calls > want+extra+2 {
				t.Fatalf("%d purge jobs for %d records in pages of %d, want %d-%d", pc.calls, posts, page, want+extra, want+extra+2)
			}
			if recs := h.records(); len(recs) != 0 {
				t.Fatalf("%d records left", len(recs))
			}
			if _, err := h.store.LatestRun(context.Background(), h.it.ID); integration.ErrorCode(err) != integration.ENOTFOUND {
				t.Fatalf("a run left: %v", err)
			}
			if evs, _, _ := h.store.ListEvents(context.Background(), integration.EventQuery{IntegrationID: h.it.ID, Limit: 10}); len(evs) != 0 {
				t.Fatalf("%d events left", len(evs))
			}
		})
	}
}
