package syncer_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/joinery/joinery/pkg/integration"
)

// seenReads counts the reads of every id a run saw.
type seenReads struct {
	integration.SyncStore
	all atomic.Int32
}

func (s *seenReads) SeenIDs(ctx context.Context, integrationID, runID, model string) (map[string]bool, error) {
	s.all.Add(1)
	return s.SyncStore.SeenIDs(ctx, integrationID, runID, model)
}

// A deletion job reads the ids the run saw of its own page of records
// only: every id the run saw is read by the job finishing the listing
// and by the last deletion job's finish, not by each of the deletion
// jobs, so their reads stay bounded however many items the site has.
func TestDeletionJobsReadOnlyTheSeenIDsOfTheirPage(t *testing.T) {
	const posts, page = 60, 5
	h := newDirectHarness(t, newPlatform(posts))
	h.engine.DeletionPage = page
	h.runNow(full)
	gone := map[string]bool{}
	h.platform.mu.Lock()
	for id := 2; id <= posts; id += 7 {
		delete(h.platform.posts, id)
		gone[strconv.Itoa(id)] = true
	}
	h.platform.mu.Unlock()

	reads := &seenReads{SyncStore: h.store}
	h.engine.Store = reads
	run := h.runNow(full)
	if run.Status != integration.RunCompleted {
		t.Fatalf("run: %s %q", run.Status, run.Error)
	}
	if n := reads.all.Load(); int(n) > 2*len(run.Models) {
		t.Fatalf("every id the run saw was read %d times for %d model(s), in %d pages: the deletion jobs read them too", n, len(run.Models), posts/page)
	}
	recs := h.records()
	for id, r := range recs {
		if r.Deleted != gone[id] {
			t.Fatalf("record %s deleted=%v, want %v", id, r.Deleted, gone[id])
		}
	}
	if len(recs) != posts {
		t.Fatalf("%d records, want %d", len(recs), posts)
	}
}

// keptNothing is a store whose finishing job kept no ids in order, as
// before this release.
type keptNothing struct{ integration.SyncStore }

func (keptNothing) KeepSeen(context.Context, string, string, string, map[string]bool) error {
	return nil
}

// Deletion jobs of a run whose ids were not kept in order (queued by the
// previous release) read every id the run saw, as that release did, and
// mark the same records deleted.
func TestDeletionJobsQueuedBeforeTheUpgradeReadEveryID(t *testing.T) {
	const posts = 30
	h := newDirectHarness(t, newPlatform(posts))
	h.engine.DeletionPage = 4
	h.runNow(full)
	h.platform.mu.Lock()
	delete(h.platform.posts, 5)
	delete(h.platform.posts, 17)
	h.platform.mu.Unlock()
	reads := &seenReads{SyncStore: keptNothing{h.store}}
	h.engine.Store = reads
	if run := h.runNow(full); run.Status != integration.RunCompleted {
		t.Fatalf("run: %s %q", run.Status, run.Error)
	}
	if n := reads.all.Load(); n < posts/4 {
		t.Fatalf("every id the run saw was read %d times: the deletion jobs did not read them", n)
	}
	for id, r := range h.records() {
		if r.Deleted != (id == "5" || id == "17") {
			t.Fatalf("record %s deleted=%v", id, r.Deleted)
		}
	}
}
