package syncer

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/integration"
)

// A full run marks deleted the records of the items it did not see. That
// check walks every stored record of a model, so it runs as jobs of its
// own: once every listing job is done, the job that claims the run's
// finish spawns, for each model read completely and consistently, a
// deletion job over the first page of the model's stored records; each
// such job checks one page and spawns the next. They are counted in the
// run's jobs like any other, so the run is finished only by the last of
// them to complete, in the claiming job's name.

// deletionsParent is the spawn under which the claiming job records the
// first deletion job of each model (no listing job has this id).
const deletionsParent = "deletions"

// defaultDeletionPage is how many stored records one deletion job checks.
const defaultDeletionPage = 200

func (e *Engine) deletionPage() int {
	if e.DeletionPage > 0 {
		return e.DeletionPage
	}
	return defaultDeletionPage
}

// deletionJob is the job checking the page of a model's stored records
// that starts at cursor; n numbers it in its model's chain.
func deletionJob(run *integration.Run, model, cursor string, n int, noClock bool, newest, before time.Time) Job {
	j := Job{Kind: "deletions", AccountID: run.AccountID, IntegrationID: run.IntegrationID, RunID: run.ID,
		JobID: fmt.Sprintf("%s/%s/%d", deletionsParent, model, n), Model: model, Cursor: cursor, NoClock: noClock, Before: &before}
	if noClock && !newest.IsZero() {
		j.Newest = &newest
	}
	return j
}

// spawnDeletions records the run's first deletion jobs, once, and sends
// them unless all the run's jobs are done already (a claiming job
// delivered again after they all completed). It reports whether they are
// still under way. Sent again when the claiming job is delivered again:
// it may have died between recording them and sending them.
func (e *Engine) spawnDeletions(ctx context.Context, run *integration.Run, jobs []Job) (bool, error) {
	bodies, err := bodiesOf(jobs)
	if err != nil {
		return false, err
	}
	recorded, err := e.Store.AddJobs(ctx, run.IntegrationID, run.ID, deletionsParent, bodies, nil)
	if err != nil {
		return false, fmt.Errorf("record the deletion checks of run %s: %w", run.ID, err)
	}
	cur, err := e.Store.GetRun(ctx, run.IntegrationID, run.ID)
	if err != nil {
		return false, err
	}
	if cur.JobsDone >= cur.JobsTotal {
		return false, nil
	}
	return true, e.sendBodies(ctx, run.AccountID, recorded)
}

// deletions checks one page of a model's stored records against the ids
// the run saw: a record the run did not see, not marked deleted already,
// not changed since the listing began, not waiting in the retry set and
// (when the connector can tell) gone from the platform is marked deleted.
// Its writes count with the job, applied once when it completes; a job
// delivered again checks its page again and finds those marked already.
func (e *Engine) deletions(ctx context.Context, it *integration.Integration, run *integration.Run, job Job) (integration.JobResult, error) {
	model := job.Model
	q := integration.RecordQuery{IntegrationID: run.IntegrationID, Model: model, Limit: e.deletionPage(), Cursor: job.Cursor}
	if job.Before != nil {
		q.Before = *job.Before
	}
	recs, next, err := e.Store.ListRecords(ctx, q)
	if err != nil {
		return integration.JobResult{}, err
	}
	seen, err := e.seenAmong(ctx, run, model, recs)
	if err != nil {
		return integration.JobResult{}, err
	}
	// Items waiting to be read again still exist.
	retry, err := e.Store.Retries(ctx, run.IntegrationID, model, maxRetrySet)
	if err != nil {
		return integration.JobResult{}, fmt.Errorf("read the %s retry set: %w", model, err)
	}
	for id := range retry {
		seen[id] = true
	}
	var check ExistenceChecker
	var conn connector.Connection
	if c, ok := e.Connectors[it.Platform].(ExistenceChecker); ok {
		if conn, _, err = e.conn(ctx, it); err != nil {
			return integration.JobResult{}, err
		}
		check = c
	}
	var newest time.Time
	if job.Newest != nil {
		newest = *job.Newest
	}
	var gone []integration.StoredRecord
	for _, r := range recs {
		if seen[r.ExternalID] {
			if r.ModifiedAt.After(newest) {
				newest = r.ModifiedAt
			}
			continue
		}
		// Changed by someone else since the listing began (a push), or
		// unreadable here: left as it is.
		if r.Deleted || r.ChangedAt.After(run.ListedAt) || r.Unreadable != "" {
			continue
		}
		if check != nil {
			exists, err := check.Exists(ctx, conn, model, r.ExternalID)
			if err != nil {
				return integration.JobResult{}, err
			}
			if exists {
				continue
			}
		}
		d, err := deletedVersion(r)
		if err != nil {
			return integration.JobResult{}, err
		}
		gone = append(gone, d)
	}
	if len(gone) > 0 {
		if _, err := e.put(ctx, integration.WriteScope{RunID: run.ID, JobID: job.JobID}, gone); err != nil {
			return integration.JobResult{}, err
		}
		_ = e.event(ctx, run, "deleted", "ok", model, fmt.Sprintf("%s: %d items gone from the platform marked deleted", model, len(gone)), nil)
	}
	// A page of its own: the spawn counted it in the run's pages.
	res := integration.JobResult{Progress: integration.Progress{PagesDone: 1}}
	var more []Job
	if next != "" {
		n, _ := strconv.Atoi(job.JobID[strings.LastIndex(job.JobID, "/")+1:])
		more = append(more, deletionJob(run, model, next, n+1, job.NoClock, newest, q.Before))
	}
	// Recorded even when there is no next page: see page. Whether this
	// is the model's last page is what was recorded, not what a delivery
	// cut short and repeated finds (the records it marked deleted moved
	// to the end of the listing).
	recorded, err := e.spawnRecorded(ctx, run, job.JobID, more, nil)
	if err != nil {
		return res, err
	}
	if len(recorded) == 0 && job.NoClock && !newest.IsZero() {
		// The listing gave no clock: the cursor goes by the newest item
		// the run saw, less an overlap.
		res.Clock = map[string]time.Time{model: newest.Add(-noClockOverlap)}
	}
	return res, nil
}

func bodiesOf(jobs []Job) ([]string, error) {
	bodies := make([]string, len(jobs))
	for i, j := range jobs {
		b, err := json.Marshal(j)
		if err != nil {
			return nil, err
		}
		bodies[i] = string(b)
	}
	return bodies, nil
}

func (e *Engine) sendBodies(ctx context.Context, accountID string, bodies []string) error {
	if len(bodies) == 0 {
		return nil
	}
	msgs := make([]integration.Message, len(bodies))
	for i, b := range bodies {
		msgs[i] = integration.Message{Body: b, Group: queueGroup(accountID)}
	}
	return e.Queue.Send(ctx, msgs)
}

// spawnRecorded is spawn, returning the children recorded.
func (e *Engine) spawnRecorded(ctx context.Context, run *integration.Run, parentJobID string, children []Job, totals map[string]int64) ([]string, error) {
	bodies, err := bodiesOf(children)
	if err != nil {
		return nil, err
	}
	recorded, err := e.Store.AddJobs(ctx, run.IntegrationID, run.ID, parentJobID, bodies, totals)
	if err != nil {
		return nil, fmt.Errorf("record the jobs job %s spawns: %w", parentJobID, err)
	}
	return recorded, e.sendBodies(ctx, run.AccountID, recorded)
}

// keepSeen stores, before the deletion jobs that read them are sent, the
// ids the run saw of each model they check, in order.
func (e *Engine) keepSeen(ctx context.Context, run *integration.Run, seenOf map[string]map[string]bool) error {
	for m, seen := range seenOf {
		if err := e.Store.KeepSeen(ctx, run.IntegrationID, run.ID, m, seen); err != nil {
			return err
		}
	}
	return nil
}

// seenAmong is which of a deletion job's records the run saw: read for
// their span of ids alone, or, for a job an earlier release queued
// (nothing kept in order), from every id the run saw.
func (e *Engine) seenAmong(ctx context.Context, run *integration.Run, model string, recs []integration.StoredRecord) (map[string]bool, error) {
	if len(recs) == 0 {
		return map[string]bool{}, nil
	}
	from, to := recs[0].ExternalID, recs[0].ExternalID
	for _, r := range recs[1:] {
		from, to = min(from, r.ExternalID), max(to, r.ExternalID)
	}
	seen, kept, err := e.Store.SeenBetween(ctx, run.IntegrationID, run.ID, model, from, to)
	if err != nil {
		return nil, err
	}
	if kept {
		return seen, nil
	}
	return e.Store.SeenIDs(ctx, run.IntegrationID, run.ID, model)
}
