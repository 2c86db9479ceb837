// Package syncer runs sync runs: it plans a run, fans its pages out as jobs
// through the queue, runs each job, and finishes the run exactly once.
//
// A run starts with one plan job. The plan job lists the first page of each
// model; when the platform says how many pages there are and lets pages be
// addressed directly, it plans one job per remaining page, which run in
// parallel; otherwise each page job chains the next. Every job adds the jobs
// it spawns to the run's total before it counts itself done, so the run's
// done count reaches its total only when all the work is done, and the job
// that gets there finishes the run. Jobs, counts and record writes are all
// idempotent: a job delivered twice, or redone after a crash, changes
// nothing the first delivery did not.
package syncer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/integration"
)

// Job is one message on the sync queue.
type Job struct {
	Kind          string `json:"kind"` // plan | page | push | purge
	AccountID     string `json:"account_id"`
	IntegrationID string `json:"integration_id"`
	RunID         string `json:"run_id"`
	JobID         string `json:"job_id"`
	Model         string `json:"model,omitempty"`
	// Page is the page token of a page job, the local id of a push job.
	Page string `json:"page,omitempty"`
	// Chain: this job lists the next page itself when done (the platform
	// gave no page count, or pages can't be addressed directly).
	Chain bool `json:"chain,omitempty"`
}

// ExistenceChecker is implemented by connectors that can tell whether one
// item still exists; a full run asks before it marks an item deleted.
type ExistenceChecker interface {
	Exists(ctx context.Context, c connector.Connection, model, externalID string) (bool, error)
}

// PageAddresser is implemented by connectors whose page tokens can be
// made up front from a page number, so a run's pages can be fanned out.
type PageAddresser interface {
	PageToken(n int) string
}

// Engine starts and runs syncs.
type Engine struct {
	Integrations *integration.Service
	Store        integration.SyncStore
	Queue        integration.Queue
	Connectors   map[string]connector.Connector
	HTTP         *http.Client // the SSRF-safe client
	// MaxReceives is the queue's maxReceiveCount: a job failing on its
	// last delivery finishes its run as error before it goes to the DLQ.
	MaxReceives int
	// StaleAfter: a run still active after this long no longer blocks a
	// new one (its messages were lost). Default 6 hours.
	StaleAfter time.Duration
	// PageSize is the page size asked of connectors (0: theirs).
	PageSize int
	Now      func() time.Time
	NewID    func() string
	// Limits bounds requests in flight per integration.
	Limits *Limits
	// Backoff is the delay before a failed job's next delivery; nil: Backoff.
	Backoff func(attempt int, retryAfter time.Duration) time.Duration
}

func (e *Engine) now() time.Time {
	if e.Now == nil {
		return time.Now().UTC()
	}
	return e.Now().UTC()
}

func (e *Engine) newID() string {
	if e.NewID == nil {
		return integration.NewID()
	}
	return e.NewID()
}

func (e *Engine) staleAfter() time.Duration {
	if e.StaleAfter <= 0 {
		return 6 * time.Hour
	}
	return e.StaleAfter
}

// StartInput asks for a run.
type StartInput struct {
	Direction integration.Direction
	Models    []string
	Full      bool
}

// Start starts a run unless one is active, in which case it returns that
// one and false.
func (e *Engine) Start(ctx context.Context, actor integration.Actor, id string, in StartInput) (*integration.Run, bool, error) {
	if err := actor.Require(integration.RoleEditor); err != nil {
		return nil, false, err
	}
	it, err := e.Integrations.Get(ctx, actor, id)
	if err != nil {
		return nil, false, err
	}
	return e.start(ctx, it, in)
}

func (e *Engine) start(ctx context.Context, it *integration.Integration, in StartInput) (*integration.Run, bool, error) {
	c, ok := e.Connectors[it.Platform]
	fields := map[string]string{}
	switch in.Direction {
	case integration.DirectionMetadata, integration.DirectionFromExternal, integration.DirectionBoth, integration.DirectionToExternal:
	case "":
		fields["direction"] = "required: metadata, from_external, to_external or both"
	default:
		fields["direction"] = "must be metadata, from_external, to_external or both"
	}
	if ok {
		for i, m := range in.Models {
			if !slices.Contains(c.Models(), m) {
				fields[fmt.Sprintf("models[%d]", i)] = fmt.Sprintf("%s has no model %q; it has %v", it.Platform, m, c.Models())
			}
		}
	}
	if len(fields) > 0 {
		return nil, false, integration.Invalid(fields)
	}
	if !ok {
		return nil, false, integration.Errorf(integration.EUNPROCESSABLE, "Syncing %s is not available yet.", it.Platform)
	}
	if !it.IsActive {
		return nil, false, integration.Errorf(integration.EUNPROCESSABLE, "The integration is not active; set is_active first.")
	}
	if !it.Credentials.HasCredentials() {
		return nil, false, integration.Errorf(integration.EUNPROCESSABLE, "The integration has no credentials yet; set them first.")
	}
	models := in.Models
	if len(models) == 0 {
		models = c.Models()
	}
	since := map[string]time.Time{}
	if !in.Full {
		cursors, err := e.Store.Cursors(ctx, it.ID)
		if err != nil {
			return nil, false, err
		}
		for _, m := range models {
			if t, ok := cursors[m]; ok {
				since[m] = t
			}
		}
	}
	now := e.now()
	run := &integration.Run{
		ID: e.newID(), AccountID: it.AccountID, IntegrationID: it.ID, Direction: in.Direction, Models: models, Full: in.Full,
		Status: integration.RunRunning, JobsTotal: 1,
		Since: since, ListedAt: now, StartedAt: now,
	}
	active, started, err := e.Store.StartRun(ctx, run, e.staleAfter())
	if err != nil || !started {
		return active, false, err
	}
	// The pending status is only shown; the run goes ahead without it.
	_ = e.setStatus(ctx, it.AccountID, it.ID, integration.SyncPending, nil, "")
	if err := e.send(ctx, []Job{{Kind: "plan", AccountID: it.AccountID, IntegrationID: it.ID, RunID: run.ID, JobID: "plan"}}); err != nil {
		// Nothing will run it: finish it now, so the next request can start one.
		_, _ = e.Store.FinishRun(context.WithoutCancel(ctx), it.ID, run.ID, integration.RunError, "The run could not be queued.", e.now())
		_ = e.setStatus(context.WithoutCancel(ctx), it.AccountID, it.ID, integration.SyncError, nil, "The run could not be queued.")
		return nil, false, fmt.Errorf("queue plan job of run %s: %w", run.ID, err)
	}
	_ = e.event(ctx, run, "run_started", "ok", "", fmt.Sprintf("%s run of %v started", run.Direction, run.Models), nil)
	return run, true, nil
}

func (e *Engine) send(ctx context.Context, jobs []Job) error {
	msgs := make([]integration.Message, len(jobs))
	for i, j := range jobs {
		b, err := json.Marshal(j)
		if err != nil {
			return err
		}
		msgs[i] = integration.Message{Body: string(b)}
	}
	return e.Queue.Send(ctx, msgs)
}

// system is the actor the engine acts as on an integration's account.
func system(accountID string) integration.Actor {
	return integration.Actor{Subject: "joinery:sync", AccountID: accountID, Role: integration.RoleOwner}
}

func (e *Engine) setStatus(ctx context.Context, accountID, id string, status integration.SyncStatus, lastSync *time.Time, syncErr string) error {
	return e.Integrations.RecordSync(ctx, system(accountID), id, status, lastSync, syncErr)
}

func (e *Engine) event(ctx context.Context, run *integration.Run, typ, status, model, msg string, details map[string]any) error {
	return e.Store.AddEvents(ctx, []integration.SyncEvent{{ID: e.newID(), IntegrationID: run.IntegrationID, RunID: run.ID,
		Type: typ, Status: status, Model: model, Message: msg, At: e.now(), Details: details}})
}

// Retry asks for the job to be delivered again after At least After.
type Retry struct {
	After time.Duration
	Err   error
}

func (r *Retry) Error() string { return fmt.Sprintf("retry in %s: %v", r.After, r.Err) }
func (r *Retry) Unwrap() error { return r.Err }

// Backoff is the delay before delivery attempt+1 of a failed job: 2s,
// 4s, 8s… up to 5 minutes, or the platform's Retry-After if longer.
func Backoff(attempt int, retryAfter time.Duration) time.Duration {
	d := time.Duration(math.Min(float64(2*time.Second)*math.Pow(2, float64(max(attempt-1, 0))), float64(5*time.Minute)))
	return max(d, retryAfter)
}

// Handle runs one job; attempt is its delivery count (1 on the first).
// nil: the job is done (or is moot: its run has finished). *Retry: deliver
// it again later. Any other error is a failure to retry as the queue will.
func (e *Engine) Handle(ctx context.Context, job Job, attempt int) error {
	switch job.Kind {
	case "push":
		return e.handlePush(ctx, job, attempt)
	case "purge":
		// The integration is deleted: remove what it synced. Resumable:
		// a retry goes on where this one stopped.
		return e.Store.DeleteSyncData(ctx, job.IntegrationID)
	}
	run, err := e.Store.GetRun(ctx, job.IntegrationID, job.RunID)
	if integration.ErrorCode(err) == integration.ENOTFOUND {
		return nil // the integration was deleted with its runs
	}
	if err != nil {
		return err
	}
	if !run.Active() {
		return nil
	}
	it, err := e.Integrations.Get(ctx, system(run.AccountID), run.IntegrationID)
	if integration.ErrorCode(err) == integration.ENOTFOUND {
		_, _ = e.Store.FinishRun(ctx, run.IntegrationID, run.ID, integration.RunError, "The integration was deleted.", e.now())
		return nil
	}
	if err != nil {
		return err
	}
	var res integration.JobResult
	switch job.Kind {
	case "plan":
		res, err = e.plan(ctx, it, run, job)
	case "page":
		res, err = e.page(ctx, it, run, job)
	default:
		return fmt.Errorf("unknown job kind %q", job.Kind)
	}
	if err != nil {
		return e.failed(ctx, it, run, job, attempt, err)
	}
	run, _, err = e.Store.CompleteJob(ctx, run.IntegrationID, run.ID, job.JobID, res)
	if err != nil {
		return err
	}
	// Whoever sees the last job done finishes the run; a redelivered last
	// job finishes it too if the first delivery died before it could.
	if run.Active() && run.JobsDone >= run.JobsTotal {
		return e.finish(ctx, it, run)
	}
	return nil
}

// failed decides what a job's failure means for its run.
func (e *Engine) failed(ctx context.Context, it *integration.Integration, run *integration.Run, job Job, attempt int, err error) error {
	var ce *connector.Error
	if !errors.As(err, &ce) {
		ce = &connector.Error{Kind: connector.ErrUnavailable, Message: "an internal error", Err: err}
	}
	where := "planning"
	if job.Kind == "page" {
		where = fmt.Sprintf("%s page %s", job.Model, job.Page)
	}
	switch ce.Kind {
	case connector.ErrRateLimited, connector.ErrUnavailable:
		if e.MaxReceives > 0 && attempt >= e.MaxReceives {
			msg := fmt.Sprintf("%s failed %d times, the last time with: %s", where, attempt, ce.Message)
			e.fail(ctx, it, run, msg, "")
			// Still a failure: the queue moves the job to its DLQ.
			return &Retry{After: 0, Err: err}
		}
		_ = e.event(ctx, run, "job_retry", "warning", job.Model, fmt.Sprintf("%s: %s (attempt %d)", where, ce.Message, attempt), nil)
		backoff := e.Backoff
		if backoff == nil {
			backoff = Backoff
		}
		return &Retry{After: backoff(attempt, ce.RetryAfter), Err: err}
	case connector.ErrAuth:
		e.fail(ctx, it, run, fmt.Sprintf("%s: %s", where, ce.Message), integration.ConnectionReauthorizationNeeded)
		return nil
	default:
		e.fail(ctx, it, run, fmt.Sprintf("%s: %s", where, ce.Message), "")
		return nil
	}
}

// fail finishes a run as error, once, and says so on the integration.
func (e *Engine) fail(ctx context.Context, it *integration.Integration, run *integration.Run, msg string, conn integration.ConnectionStatus) {
	ctx = context.WithoutCancel(ctx)
	_ = e.setStatus(ctx, it.AccountID, it.ID, integration.SyncError, nil, msg)
	done, err := e.Store.FinishRun(ctx, run.IntegrationID, run.ID, integration.RunError, msg, e.now())
	if err != nil || !done {
		e.reconcile(ctx, it, run.ID)
		return
	}
	if conn != "" {
		_ = e.Integrations.RecordConnection(ctx, system(it.AccountID), it.ID, conn, msg, e.now())
	}
	_ = e.event(ctx, run, "run_finished", "error", "", msg, nil)
}

func (e *Engine) conn(ctx context.Context, it *integration.Integration) (connector.Connection, connector.Connector, error) {
	c, ok := e.Connectors[it.Platform]
	if !ok {
		return connector.Connection{}, nil, &connector.Error{Kind: connector.ErrInvalid, Message: "Syncing " + it.Platform + " is not available."}
	}
	creds, err := e.Integrations.Credentials(ctx, it)
	if err != nil {
		if integration.ErrorCode(err) == integration.EUNPROCESSABLE {
			return connector.Connection{}, nil, &connector.Error{Kind: connector.ErrAuth, Message: "The integration has no credentials."}
		}
		return connector.Connection{}, nil, err
	}
	hc := e.HTTP
	if e.Limits != nil {
		hc = e.Limits.Client(it.ID, e.HTTP, maxInFlight(it))
	}
	return connector.Connection{SiteURL: it.ExternalSiteURL, Config: it.Config, Credentials: creds, HTTP: hc}, c, nil
}

// maxInFlight is config.max_concurrency, or 4.
func maxInFlight(it *integration.Integration) int {
	switch v := it.Config["max_concurrency"].(type) {
	case float64:
		if v >= 1 && v <= 32 {
			return int(v)
		}
	case string:
		if n, err := strconv.Atoi(v); err == nil && n >= 1 && n <= 32 {
			return n
		}
	}
	return 4
}

func (e *Engine) plan(ctx context.Context, it *integration.Integration, run *integration.Run, job Job) (integration.JobResult, error) {
	_ = e.setStatus(ctx, it.AccountID, it.ID, integration.SyncSyncing, nil, "")
	conn, c, err := e.conn(ctx, it)
	if err != nil {
		return integration.JobResult{}, err
	}
	var res integration.JobResult
	if run.Direction == integration.DirectionMetadata || run.Direction == integration.DirectionBoth {
		s, err := c.Structure(ctx, conn)
		if err != nil {
			return res, err
		}
		stored, err := connector.StoredStructure(s, "platform", "", e.now())
		if err != nil {
			return res, err
		}
		if _, err := e.Integrations.Update(ctx, system(it.AccountID), it.ID, integration.PatchInput{ConfigSet: map[string]any{"content_types": stored}}); err != nil {
			return res, err
		}
	}
	if run.Direction == integration.DirectionToExternal || run.Direction == integration.DirectionBoth {
		n, err := e.repush(ctx, it, run)
		if err != nil {
			return res, err
		}
		res.Progress.ItemsSeen += int64(n)
	}
	if run.Direction == integration.DirectionMetadata || run.Direction == integration.DirectionToExternal {
		res.Progress.PagesDone, res.Progress.PagesTotal = 1, 1
		return res, e.spawn(ctx, run, job.JobID, nil, nil)
	}
	var children []Job
	totals := map[string]int64{}
	res.Seen = map[string][]string{}
	for _, m := range run.Models {
		page, err := c.List(ctx, conn, connector.ListRequest{Model: m, ModifiedAfter: run.Since[m], PageSize: e.PageSize})
		if err != nil {
			return res, err
		}
		p, seen, err := e.store(ctx, run, m, page)
		if err != nil {
			return res, err
		}
		res.Progress = res.Progress.Add(p)
		res.Seen[m] = seen
		totals[m] = int64(page.Total)
		if page.NextPage == "" {
			continue
		}
		addr, ok := c.(PageAddresser)
		if ok && page.TotalPages > 1 {
			for n := 2; n <= page.TotalPages; n++ {
				children = append(children, Job{Kind: "page", AccountID: run.AccountID, IntegrationID: run.IntegrationID, RunID: run.ID,
					JobID: fmt.Sprintf("%s/%d", m, n), Model: m, Page: addr.PageToken(n),
					// Items that enter the listing while the run reads it
					// push later ones past the planned last page: that
					// page goes on to the next while there is one.
					Chain: n == page.TotalPages})
			}
		} else {
			children = append(children, Job{Kind: "page", AccountID: run.AccountID, IntegrationID: run.IntegrationID, RunID: run.ID,
				JobID: m + "/" + page.NextPage, Model: m, Page: page.NextPage, Chain: true})
		}
	}
	// The plan's own pages count as done pages: one per model.
	res.Progress.PagesTotal = int64(len(run.Models))
	return res, e.spawn(ctx, run, job.JobID, children, totals)
}

// spawn records a job's children once and sends them. A replayed job
// sends the children recorded the first time, never a recomputed list
// (the platform may answer differently by then), so the run's job count
// and the jobs sent always agree.
func (e *Engine) spawn(ctx context.Context, run *integration.Run, parentJobID string, children []Job, totals map[string]int64) error {
	bodies := make([]string, len(children))
	for i, j := range children {
		b, err := json.Marshal(j)
		if err != nil {
			return err
		}
		bodies[i] = string(b)
	}
	recorded, err := e.Store.AddJobs(ctx, run.IntegrationID, run.ID, parentJobID, bodies, totals)
	if err != nil || len(recorded) == 0 {
		return err
	}
	msgs := make([]integration.Message, len(recorded))
	for i, b := range recorded {
		msgs[i] = integration.Message{Body: b}
	}
	return e.Queue.Send(ctx, msgs)
}

func (e *Engine) page(ctx context.Context, it *integration.Integration, run *integration.Run, job Job) (integration.JobResult, error) {
	conn, c, err := e.conn(ctx, it)
	if err != nil {
		return integration.JobResult{}, err
	}
	page, err := c.List(ctx, conn, connector.ListRequest{Model: job.Model, Page: job.Page, ModifiedAfter: run.Since[job.Model], PageSize: e.PageSize})
	if err != nil {
		return integration.JobResult{}, err
	}
	p, seen, err := e.store(ctx, run, job.Model, page)
	if err != nil {
		return integration.JobResult{}, err
	}
	res := integration.JobResult{Progress: p, Seen: map[string][]string{job.Model: seen}}
	var next []Job
	if job.Chain && page.NextPage != "" {
		next = append(next, Job{Kind: "page", AccountID: run.AccountID, IntegrationID: run.IntegrationID, RunID: run.ID,
			JobID: job.Model + "/" + page.NextPage, Model: job.Model, Page: page.NextPage, Chain: true})
	}
	if job.Chain {
		// Recorded even when there is no next page, so a replay that
		// finds one (the listing grew) does not add a job the count
		// never expected.
		return res, e.spawn(ctx, run, job.JobID, next, nil)
	}
	return res, nil
}

// store writes a page's records that changed and reports the page.
func (e *Engine) store(ctx context.Context, run *integration.Run, model string, page connector.ListPage) (integration.Progress, []string, error) {
	now := e.now()
	recs := make([]integration.StoredRecord, 0, len(page.Records))
	seen := make([]string, 0, len(page.Records))
	for _, r := range page.Records {
		r.Model = model
		data, hash, err := Encode(r)
		if err != nil {
			return integration.Progress{}, nil, err
		}
		recs = append(recs, integration.StoredRecord{IntegrationID: run.IntegrationID, Model: model, ExternalID: r.ExternalID,
			Hash: hash, Data: data, Deleted: r.Deleted})
		seen = append(seen, r.ExternalID)
	}
	// Stamped just before the write: the change feed's order.
	for i := range recs {
		recs[i].ChangedAt = e.now()
	}
	put, err := e.Store.PutRecords(ctx, integration.WriteScope{RunID: run.ID}, recs)
	written := put.Written
	if err != nil {
		return integration.Progress{}, nil, err
	}
	// An item that could not be read still exists: it counts as seen, so
	// it is never marked deleted, and as failed, with an event saying why.
	var evs []integration.SyncEvent
	for _, f := range page.Failed {
		seen = append(seen, f.ExternalID)
		evs = append(evs, integration.SyncEvent{ID: e.newID(), IntegrationID: run.IntegrationID, RunID: run.ID, Type: "item_failed", Status: "error",
			Model: model, ExternalID: f.ExternalID, Message: f.Message, At: now})
	}
	if len(evs) > 0 {
		if err := e.Store.AddEvents(ctx, evs); err != nil {
			return integration.Progress{}, nil, err
		}
	}
	p := integration.Progress{PagesDone: 1, ItemsSeen: int64(len(recs) + len(page.Failed)), ItemsWritten: int64(written), ItemsFailed: int64(len(page.Failed))}
	_ = e.event(ctx, run, "page", "ok", model, fmt.Sprintf("%s: %d items, %d written", model, len(recs), written),
		map[string]any{"items_seen": len(recs), "items_written": written})
	return p, seen, nil
}

// finish ends a run whose jobs are all done: cursors advance and deletions
// are marked only for models the run read completely and consistently.
func (e *Engine) finish(ctx context.Context, it *integration.Integration, run *integration.Run) error {
	now := e.now()
	cursors := map[string]time.Time{}
	var warnings []string
	if run.Direction == integration.DirectionFromExternal || run.Direction == integration.DirectionBoth {
		for _, m := range run.Models {
			seen, err := e.Store.SeenIDs(ctx, run.IntegrationID, run.ID, m)
			if err != nil {
				return err
			}
			// Items permanently deleted while the run paged shift later
			// items onto pages already read. Then some were not seen:
			// keep the cursor, so the next run reads this window again,
			// and mark nothing deleted.
			if total, ok := run.Totals[m]; ok && total >= 0 && int64(len(seen)) < total {
				warnings = append(warnings, fmt.Sprintf("%s: %d of %d items seen; the listing shifted while it was read, the next run reads it again", m, len(seen), total))
				continue
			}
			cursors[m] = run.ListedAt
			if run.Full {
				if err := e.markDeleted(ctx, it, run, m, seen); err != nil {
					return err
				}
			}
		}
		if err := e.Store.SetCursors(ctx, run.IntegrationID, cursors); err != nil {
			return err
		}
	}
	// The integration first, then the run: a crash in between leaves the
	// run active, and the redelivered last job finishes it again.
	if err := e.setStatus(ctx, it.AccountID, it.ID, integration.SyncCompleted, &now, ""); err != nil {
		return err
	}
	done, err := e.Store.FinishRun(ctx, run.IntegrationID, run.ID, integration.RunCompleted, "", now)
	if err != nil {
		return err
	}
	if !done {
		e.reconcile(ctx, it, run.ID)
		return nil
	}
	run, err = e.Store.GetRun(ctx, run.IntegrationID, run.ID)
	if err != nil {
		return err
	}
	for _, w := range warnings {
		_ = e.event(ctx, run, "listing_shifted", "warning", "", w, nil)
	}
	p := run.Progress
	return e.event(ctx, run, "run_finished", "ok", "", fmt.Sprintf("completed: %d pages, %d items seen, %d written", p.PagesDone, p.ItemsSeen, p.ItemsWritten),
		map[string]any{"pages_done": p.PagesDone, "items_seen": p.ItemsSeen, "items_written": p.ItemsWritten})
}

// markDeleted marks the model's records a complete run did not see.
//
// A listing read page by page can miss an item when others are deleted
// while it reads (later items move onto pages already read). So when the
// connector can tell, each item is checked before it is marked: one that
// still exists is left as it is.
func (e *Engine) markDeleted(ctx context.Context, it *integration.Integration, run *integration.Run, model string, seen map[string]bool) error {
	var check ExistenceChecker
	var conn connector.Connection
	if c, ok := e.Connectors[it.Platform].(ExistenceChecker); ok {
		var err error
		if conn, _, err = e.conn(ctx, it); err != nil {
			return err
		}
		check = c
	}
	cursor := ""
	for {
		recs, next, err := e.Store.ListRecords(ctx, integration.RecordQuery{IntegrationID: run.IntegrationID, Model: model, Limit: 100, Cursor: cursor})
		if err != nil {
			return err
		}
		var gone []integration.StoredRecord
		for _, r := range recs {
			if r.Deleted || seen[r.ExternalID] || r.ChangedAt.After(run.ListedAt) {
				continue
			}
			if check != nil {
				exists, err := check.Exists(ctx, conn, model, r.ExternalID)
				if err != nil {
					return err
				}
				if exists {
					continue
				}
			}
			var rec RecordJSON
			if err := json.Unmarshal(r.Data, &rec); err != nil {
				return err
			}
			rec.Deleted = true
			data, hash, err := encodeJSON(rec)
			if err != nil {
				return err
			}
			gone = append(gone, integration.StoredRecord{IntegrationID: r.IntegrationID, Model: model, ExternalID: r.ExternalID,
				Hash: hash, Data: data, Deleted: true})
		}
		if len(gone) > 0 {
			for i := range gone {
				gone[i].ChangedAt = e.now() // just before the write: the feed's order
			}
			if _, err := e.Store.PutRecords(ctx, integration.WriteScope{RunID: run.ID}, gone); err != nil {
				return err
			}
			_ = e.event(ctx, run, "deleted", "ok", model, fmt.Sprintf("%s: %d items gone from the platform marked deleted", model, len(gone)), nil)
		}
		if next == "" {
			return nil
		}
		cursor = next
	}
}

// Encode returns a record's stored JSON and its hash.
func Encode(r integration.Record) ([]byte, string, error) {
	return encodeJSON(ToJSON(r))
}

func encodeJSON(r RecordJSON) ([]byte, string, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, "", err
	}
	sum := sha256.Sum256(b)
	return b, hex.EncodeToString(sum[:]), nil
}

// Abandon ends a job's run as error when the job is about to go to the
// DLQ for a reason the engine did not see (a panic, a store failure), so
// the run does not stay "running" until it goes stale.
func (e *Engine) Abandon(ctx context.Context, job Job, reason string) {
	if job.Kind == "push" {
		return // the push stays queued; a to_external run queues it again
	}
	run, err := e.Store.GetRun(ctx, job.IntegrationID, job.RunID)
	if err != nil || !run.Active() {
		return
	}
	it, err := e.Integrations.Get(ctx, system(run.AccountID), run.IntegrationID)
	if err != nil {
		return
	}
	e.fail(ctx, it, run, fmt.Sprintf("job %s could not be run: %s", job.JobID, reason), "")
}

// reconcile makes the integration's sync status say what its run's did,
// after another job finished the run first.
func (e *Engine) reconcile(ctx context.Context, it *integration.Integration, runID string) {
	run, err := e.Store.GetRun(ctx, it.ID, runID)
	if err != nil || run.Active() {
		return
	}
	if run.Status == integration.RunError {
		_ = e.setStatus(ctx, it.AccountID, it.ID, integration.SyncError, nil, run.Error)
		return
	}
	_ = e.setStatus(ctx, it.AccountID, it.ID, integration.SyncCompleted, run.FinishedAt, "")
}

// QueuePurge queues the removal of a deleted integration's runs, records,
// events, pushes and mappings (Service.PurgeLater).
func (e *Engine) QueuePurge(ctx context.Context, it *integration.Integration) error {
	return e.send(ctx, []Job{{Kind: "purge", AccountID: it.AccountID, IntegrationID: it.ID, RunID: "purge", JobID: "purge"}})
}
