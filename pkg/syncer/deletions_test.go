package syncer_test

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/integration"
	"github.com/joinery/joinery/pkg/syncer"
)

// finishWatch notes, when the run is finished, which deletion jobs had
// completed by then, and the largest page of records any job listed.
type finishWatch struct {
	integration.SyncStore
	mu        sync.Mutex
	completed map[string]bool // deletion jobs counted done
	atFinish  map[string]bool
	finished  *integration.Run
	maxList   int
}

func (f *finishWatch) CompleteJob(ctx context.Context, integrationID, runID, jobID string, res integration.JobResult) (*integration.Run, bool, error) {
	run, first, err := f.SyncStore.CompleteJob(ctx, integrationID, runID, jobID, res)
	if err == nil && first && strings.HasPrefix(jobID, "deletions/") {
		f.mu.Lock()
		f.completed[jobID] = true
		f.mu.Unlock()
	}
	return run, first, err
}

func (f *finishWatch) ListRecords(ctx context.Context, q integration.RecordQuery) ([]integration.StoredRecord, string, error) {
	f.mu.Lock()
	f.maxList = max(f.maxList, q.Limit)
	f.mu.Unlock()
	return f.SyncStore.ListRecords(ctx, q)
}

func (f *finishWatch) FinishRun(ctx context.Context, integrationID, runID string, status integration.RunStatus, message string, at time.Time) (bool, error) {
	f.mu.Lock()
	if f.atFinish == nil {
		f.atFinish = map[string]bool{}
		for id := range f.completed {
			f.atFinish[id] = true
		}
		f.finished, _ = f.SyncStore.GetRun(ctx, integrationID, runID)
	}
	f.mu.Unlock()
	return f.SyncStore.FinishRun(ctx, integrationID, runID, status, message, at)
}

// sentJobs records the jobs sent, by id, and sends those named in dup
// twice.
type sentJobs struct {
	integration.Queue
	mu   sync.Mutex
	jobs map[string]syncer.Job
	dup  map[string]bool
}

func (q *sentJobs) Send(ctx context.Context, msgs []integration.Message) error {
	q.mu.Lock()
	var out []integration.Message
	for _, m := range msgs {
		var j syncer.Job
		_ = json.Unmarshal([]byte(m.Body), &j)
		q.jobs[j.JobID] = j
		out = append(out, m)
		if q.dup[j.JobID] {
			out = append(out, m)
		}
	}
	q.mu.Unlock()
	return q.Queue.Send(ctx, out)
}

func TestAFullRunChecksForDeletedItemsInJobsCountedBeforeItFinishes(t *testing.T) {
	const posts, page = 120, 10
	h := newDirectHarness(t, newPlatform(posts))
	h.engine.DeletionPage = page
	h.runNow(full)
	// 23 posts go from the platform.
	gone := map[string]bool{}
	h.platform.mu.Lock()
	for id := 3; id <= posts; id += 5 {
		delete(h.platform.posts, id)
		gone[strconv.Itoa(id)] = true
	}
	h.platform.mu.Unlock()

	fw := &finishWatch{SyncStore: h.store, completed: map[string]bool{}}
	// Some jobs are delivered twice: a listing page, deletion jobs at the
	// start, in the middle and at the end of the chain.
	sent := &sentJobs{Queue: h.mem, jobs: map[string]syncer.Job{},
		dup: map[string]bool{"post/3": true, "deletions/post/1": true, "deletions/post/6": true, "deletions/post/12": true, "deletions/post/13": true}}
	h.engine.Store, h.engine.Queue = fw, sent
	run := h.runNow(full)
	if run.Status != integration.RunCompleted || run.JobsDone != run.JobsTotal {
		t.Fatalf("run: %+v", run)
	}
	var deletionJobs []string
	for id, j := range sent.jobs {
		if j.Kind == "deletions" {
			deletionJobs = append(deletionJobs, id)
		}
	}
	sort.Strings(deletionJobs)
	// One job per page of the 120 stored records (a last, empty page at most).
	if n := len(deletionJobs); n < posts/page || n > posts/page+1 {
		t.Fatalf("%d deletion jobs for %d records in pages of %d: %v", n, posts, page, deletionJobs)
	}
	if fw.maxList > page {
		t.Fatalf("a job listed %d stored records, more than its page of %d", fw.maxList, page)
	}
	// Counted in the run's jobs, and all done, before the run finished.
	if fw.finished == nil || fw.finished.JobsTotal != run.JobsTotal || fw.finished.JobsDone != fw.finished.JobsTotal {
		t.Fatalf("at its finish the run was %+v; finished %+v", fw.finished, run)
	}
	for _, id := range deletionJobs {
		if !fw.atFinish[id] {
			t.Fatalf("deletion job %s had not completed when the run finished", id)
		}
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
	// Each job's count deltas applied once, duplicates and all.
	if n, err := h.store.CountRecords(context.Background(), h.it.ID, "post"); err != nil || n != int64(posts-len(gone)) {
		t.Fatalf("count %d (%v), want %d", n, err, posts-len(gone))
	}
	if n := len(h.events("run_finished")); n != 2 {
		t.Fatalf("%d run_finished events over two runs, want 2", n)
	}
}

// failDeletionSend fails the first send of deletion jobs: the job that
// claimed the finish dies after recording them, before they are sent.
type failDeletionSend struct {
	integration.Queue
	failed bool
}

func (q *failDeletionSend) Send(ctx context.Context, msgs []integration.Message) error {
	if !q.failed && len(msgs) > 0 && strings.Contains(msgs[0].Body, `"kind":"deletions"`) {
		q.failed = true
		return errors.New("worker died")
	}
	return q.Queue.Send(ctx, msgs)
}

func TestAClaimerThatDiedBeforeSendingTheDeletionJobsSendsThemWhenDeliveredAgain(t *testing.T) {
	h := newDirectHarness(t, newPlatform(30))
	h.engine.DeletionPage = 10
	h.runNow(full)
	h.platform.mu.Lock()
	delete(h.platform.posts, 7)
	h.platform.mu.Unlock()
	q := &failDeletionSend{Queue: h.mem}
	h.engine.Queue = q
	run := h.runNow(full)
	if !q.failed || run.Status != integration.RunCompleted || run.JobsDone != run.JobsTotal {
		t.Fatalf("send failed %v; run %+v", q.failed, run)
	}
	if r := h.records()["7"]; !r.Deleted {
		t.Fatalf("post 7, gone, is not marked deleted: %+v", r)
	}
}
