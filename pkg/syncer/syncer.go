// Package syncer runs sync runs: it plans a run, fans its pages out as jobs
// through the queue, runs each job, and finishes the run exactly once.
//
// A run starts with one plan job. The plan job lists the first page of each
// model. A connector whose listings are positions (connector.Windowed) is
// read as windows: from the total the first page reports the plan fans out
// one job per window, which run in parallel, each window starting one item
// early so the finishing job can tell whether the listing shifted under the
// run. Other connectors' pages chain: each page job lists the next. Every
// job adds the jobs it spawns to the run's total before it counts itself
// done, so the run's done count reaches its total only when all the work is
// done, and the job that gets there claims the run and finishes it (a full
// run first checks its stored records for deleted items, in jobs counted
// the same way: deletions.go). Jobs,
// counts and record writes are all idempotent: a job delivered twice, or
// redone after a crash, changes nothing the first delivery did not.
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
	Kind          string `json:"kind"` // plan | page | deletions | push | revoke | purge | migrate | webhook
	AccountID     string `json:"account_id,omitempty"`
	IntegrationID string `json:"integration_id,omitempty"`
	RunID         string `json:"run_id,omitempty"` // plan and page jobs; push, purge and migrate jobs belong to no run
	JobID         string `json:"job_id,omitempty"`
	Model         string `json:"model,omitempty"`
	// Page is the page token of a page job, the backfill cursor of a
	// migrate job.
	Page string `json:"page,omitempty"`
	// LocalID is a push job's local id: the host's id of the record whose
	// queued pushes the job applies.
	LocalID string `json:"local_id,omitempty"`
	// Offset and Limit are a window job's positions in the listing
	// (Limit > 0: a window job): Limit items from Offset, the first of
	// them the previous window's last.
	Offset int `json:"offset,omitempty"`
	Limit  int `json:"limit,omitempty"`
	// Chain: this job lists the next page itself when done (a connector
	// paging by token; or the last window planned, which goes on while the
	// listing has grown past it).
	Chain bool `json:"chain,omitempty"`
	// Received is how many deliveries of this job earlier messages had:
	// a job re-sent for want of time keeps its count of attempts.
	Received int `json:"received,omitempty"`
	// Cursor is a deletion job's place in the store's listing of its
	// model's records ("": the start).
	Cursor string `json:"cursor,omitempty"`
	// NoClock: the run's listing of the deletion job's model gave no
	// platform clock, so its chain of deletion jobs carries the newest
	// modification time of the records the run saw (Newest, nil: none
	// yet), for the last to report as the cursor.
	NoClock bool       `json:"no_clock,omitempty"`
	Newest  *time.Time `json:"newest,omitempty"`
	// Before: a deletion job lists only the records changed before the
	// run's deletion check began; those changed since (marked deleted by
	// the check, or written by others after the listing) are left alone.
	Before *time.Time `json:"before,omitempty"`
	// Teardown is a revoke job's grant to revoke, and what a failed
	// revocation left for the purge jobs after it to record.
	Teardown *Teardown `json:"teardown,omitempty"`
	// Webhook is a webhook job's delivery.
	Webhook *WebhookJob `json:"webhook,omitempty"`
}

// ExistenceChecker is implemented by connectors that can tell whether one
// item still exists; a full run asks before it marks an item deleted.
type ExistenceChecker interface {
	Exists(ctx context.Context, c connector.Connection, model, externalID string) (bool, error)
}

// Engine starts and runs syncs.
type Engine struct {
	Integrations *integration.Service
	Store        integration.SyncStore
	Queue        integration.Queue
	WebhookQueue integration.Queue // where replayed webhook jobs go (nil: Queue)
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
	// Rates, when set, keeps each integration to its platform's rate
	// across every worker (rates.go).
	Rates *Rates
	// Backoff is the delay before a failed job's next delivery; nil: Backoff.
	Backoff func(attempt int, retryAfter time.Duration) time.Duration
	// FeedSafety is the change feed's safety window W: the feed shows a
	// record once its ChangedAt is at least W old, and a record write
	// must commit within W/2 of its stamp. 0: 10 s; negative: none (no
	// window, no deadline; JOINERY_FEED_SAFETY_SECONDS=0).
	FeedSafety time.Duration
	// MaxBodyBytes is the HTTP client's cap on an answer, named when an
	// item is too large to read (0: safehttp's default).
	MaxBodyBytes int64
	// SchedulerBudget is how long a scheduler tick goes on taking due
	// integrations (0: DefaultSchedulerBudget).
	SchedulerBudget time.Duration
	// PurgePage is how many stored items one purge job deletes (0: 1000).
	PurgePage int
	// DeletionPage is how many stored records one job of a full run's
	// deletion check examines (0: 200).
	DeletionPage int

	// Revoker, when set, revokes OAuth grants at the platforms before a
	// deleted integration's secret goes (QueueTeardown).
	Revoker Revoker
	// Tokens, when set, gives OAuth integrations' connectors a valid
	// access token (tokens.go); OAuthPlatform says which platforms those
	// are (nil: the catalog's OAuth platforms).
	Tokens        AccessTokens
	OAuthPlatform func(platform string) bool
	// WebhookURLs are the bases platforms post webhooks to, by platform
	// (JOINERY_WEBHOOK_URL_<PLATFORM>): a platform subscribed by API
	// (webhooksubs.go) is subscribed to <base>/webhooks/<platform>/<id>.
	WebhookURLs map[string]string

	migration migrationWatch
}

func (e *Engine) feedSafety() time.Duration {
	switch {
	case e.FeedSafety == 0:
		return 10 * time.Second
	case e.FeedSafety < 0:
		return 0
	}
	return e.FeedSafety
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
			if t, ok := cursors[CursorKey(c, m)]; ok {
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
		msgs[i] = integration.Message{Body: string(b), Group: queueGroup(j.AccountID)}
	}
	return e.Queue.Send(ctx, msgs)
}

// systemGroup is the queue group of jobs that belong to no account.
const systemGroup = "joinery"

// queueGroup is the queue group of an account's jobs: the tenant, so that
// on a fair queue one account's flood of jobs does not hold up the others'.
func queueGroup(accountID string) string {
	if accountID == "" {
		return systemGroup
	}
	return accountID
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
	case "revoke":
		// The integration is deleted: end its grant, then its secret.
		return e.revoke(ctx, job, attempt)
	case "purge":
		// The integration is deleted: remove what it synced, a page a job.
		return e.purge(ctx, job)
	case "migrate":
		return e.migrate(ctx, job)
	case "webhook":
		return e.webhook(ctx, job, attempt)
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
	if !it.IsActive {
		// Set inactive under the run: no further call to the platform.
		e.fail(ctx, it, run, inactiveMessage, "")
		return nil
	}
	var res integration.JobResult
	switch job.Kind {
	case "plan":
		res, err = e.plan(ctx, it, run, job)
	case "page":
		res, err = e.page(ctx, it, run, job)
		res, err = e.skipPage(ctx, run, job, res, err)
	case "deletions":
		res, err = e.deletions(ctx, it, run, job)
	default:
		return fmt.Errorf("unknown job kind %q", job.Kind)
	}
	if errors.Is(err, integration.ErrRunStopped) {
		return nil // the run finished, was taken over or purged under the job
	}
	if err != nil {
		return e.failed(ctx, it, run, job, attempt, err)
	}
	run, _, err = e.Store.CompleteJob(ctx, run.IntegrationID, run.ID, job.JobID, res)
	if errors.Is(err, integration.ErrRunStopped) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("complete job %s of run %s: %w", job.JobID, job.RunID, err)
	}
	if !run.Active() {
		return nil
	}
	// The job that claimed the finish, delivered again, resumes it even
	// while the deletion jobs it spawned are under way: it may have died
	// before it sent them.
	if run.JobsDone < run.JobsTotal && run.Finisher != job.JobID {
		return nil
	}
	// Every job is done. Several may see it (a redelivered job, one that
	// completed just before): only the one that claims the run finishes
	// it, and a redelivery of that one resumes a finish cut short. The
	// deletion jobs were spawned by the claiming job: the last of them
	// finishes the run in its name.
	claimer := job.JobID
	if job.Kind == "deletions" {
		claimer = run.Finisher
	}
	if claimer == "" {
		return nil
	}
	claimed, err := e.Store.ClaimFinish(ctx, run.IntegrationID, run.ID, claimer)
	if err != nil {
		return fmt.Errorf("claim the finish of run %s: %w", run.ID, err)
	}
	if !claimed {
		return nil
	}
	if err := e.finish(ctx, it, run, job.Kind == "deletions"); err != nil && !errors.Is(err, integration.ErrRunStopped) {
		return err
	}
	return nil
}

// failed decides what a job's failure means for its run.
func (e *Engine) failed(ctx context.Context, it *integration.Integration, run *integration.Run, job Job, attempt int, err error) error {
	ce := jobError(err)
	where := "planning"
	switch {
	case job.Kind == "page" && job.Limit > 0:
		where = fmt.Sprintf("%s items %d-%d", job.Model, job.Offset+1, job.Offset+job.Limit)
	case job.Kind == "page":
		where = fmt.Sprintf("%s page %s", job.Model, job.Page)
	case job.Kind == "deletions":
		where = fmt.Sprintf("checking %s for deleted items", job.Model)
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
	// Before the run is finished: whoever sees it finished sees why.
	if conn != "" && run.Active() {
		e.lostConnection(ctx, it, run.ID, conn, msg)
	}
	done, err := e.Store.FinishRun(ctx, run.IntegrationID, run.ID, integration.RunError, msg, e.now())
	if err != nil || !done {
		e.reconcile(ctx, it, run.ID)
		return
	}
	_ = e.event(ctx, run, "run_finished", "error", "", msg, nil)
}

func (e *Engine) conn(ctx context.Context, it *integration.Integration) (connector.Connection, connector.Connector, error) {
	return e.connFor(ctx, it, 0)
}

// connFor is conn for a job expecting to make about requests requests
// (0: a page's): it takes that many rate tokens a store call, so a job of
// one request does not take, and lose, a page's.
func (e *Engine) connFor(ctx context.Context, it *integration.Integration, requests int) (connector.Connection, connector.Connector, error) {
	c, ok := e.Connectors[it.Platform]
	if !ok {
		return connector.Connection{}, nil, &connector.Error{Kind: connector.ErrInvalid, Message: "Syncing " + it.Platform + " is not available."}
	}
	creds, err := e.credentials(ctx, it)
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
	hc = e.rateClient(it, hc, requests)
	return connector.Connection{SiteURL: it.ExternalSiteURL, Config: it.Config, Credentials: creds, HTTP: hc, Budget: e.costBudget(it)}, c, nil
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
	e.subscribeWebhooks(ctx, it, run, conn, c)
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
		if _, err := e.Integrations.Update(ctx, system(it.AccountID), it.ID, integration.PatchInput{ContentTypes: stored}); err != nil {
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
	res.Clock = map[string]time.Time{}
	for _, m := range run.Models {
		p, pending, err := e.retryItems(ctx, conn, c, run, job.JobID, m)
		if skip, serr := e.skipModel(ctx, run, m, err); skip {
			if serr != nil {
				return res, serr
			}
			continue
		}
		if err != nil {
			return res, err
		}
		res.Progress = res.Progress.Add(p)
		res.Seen[m] = append(res.Seen[m], pending...)
		if w, ok := c.(connector.Windowed); ok {
			size := e.windowSize(w)
			l := e.lister(run, job.JobID, m, conn, c, w)
			read, err := l.window(ctx, 0, size, false)
			if skip, serr := e.skipModel(ctx, run, m, err); skip {
				if serr != nil {
					return res, serr
				}
				continue
			}
			if err != nil {
				return res, err
			}
			res.Progress = res.Progress.Add(l.progress)
			res.Seen[m] = append(res.Seen[m], l.seen...)
			res.Pages = append(res.Pages, read)
			if !l.clock.IsZero() {
				res.Clock[m] = l.clock
			}
			totals[m] = int64(read.Total)
			// Windows 1..n cover the rest of what the platform counted;
			// the last goes on to the next while it comes back full
			// (items that entered the listing meanwhile).
			n := 0
			switch {
			case read.Total >= 0:
				n = (read.Total+size-1)/size - 1
			case read.Count >= size:
				n = 1
			}
			for k := 1; k <= n; k++ {
				children = append(children, windowJob(run, m, w, k*size-1, size, k == n))
			}
			continue
		}
		page, err := c.List(ctx, conn, connector.ListRequest{Model: m, ModifiedAfter: run.Since[m], PageSize: e.PageSize})
		if skip, serr := e.skipModel(ctx, run, m, err); skip {
			if serr != nil {
				return res, serr
			}
			continue
		}
		if err != nil {
			return res, err
		}
		if !page.ServerTime.IsZero() {
			res.Clock[m] = page.ServerTime
		}
		p, seen, err := e.tokenPage(ctx, run, job.JobID, m, page)
		if err != nil {
			return res, err
		}
		res.Progress = res.Progress.Add(p)
		res.Seen[m] = append(res.Seen[m], seen...)
		totals[m] = int64(page.Total)
		if page.NextPage != "" {
			children = append(children, Job{Kind: "page", AccountID: run.AccountID, IntegrationID: run.IntegrationID, RunID: run.ID,
				JobID: m + "/" + page.NextPage, Model: m, Page: page.NextPage, Chain: true})
		}
	}
	// The plan's own pages count as done pages: one per model.
	res.Progress.PagesTotal = int64(len(run.Models))
	return res, e.spawn(ctx, run, job.JobID, children, totals)
}

// windowJob is the job reading the window of size+1 items at offset (the
// first of them the previous window's last); its id names it by page
// number, counting the plan's as page 1.
func windowJob(run *integration.Run, model string, w connector.Windowed, offset, size int, chain bool) Job {
	return Job{Kind: "page", AccountID: run.AccountID, IntegrationID: run.IntegrationID, RunID: run.ID,
		JobID: fmt.Sprintf("%s/%d", model, (offset+1)/size+1), Model: model, Page: w.WindowToken(offset),
		Offset: offset, Limit: size + 1, Chain: chain}
}

// spawn records a job's children once and sends them. A replayed job
// sends the children recorded the first time, never a recomputed list
// (the platform may answer differently by then), so the run's job count
// and the jobs sent always agree.
func (e *Engine) spawn(ctx context.Context, run *integration.Run, parentJobID string, children []Job, totals map[string]int64) error {
	_, err := e.spawnRecorded(ctx, run, parentJobID, children, totals)
	return err
}

func (e *Engine) page(ctx context.Context, it *integration.Integration, run *integration.Run, job Job) (integration.JobResult, error) {
	conn, c, err := e.conn(ctx, it)
	if err != nil {
		return integration.JobResult{}, err
	}
	if job.Limit > 0 {
		return e.windowPage(ctx, conn, c, run, job)
	}
	page, err := c.List(ctx, conn, connector.ListRequest{Model: job.Model, Page: job.Page, ModifiedAfter: run.Since[job.Model], PageSize: e.PageSize})
	if err != nil {
		return integration.JobResult{}, err
	}
	p, seen, err := e.tokenPage(ctx, run, job.JobID, job.Model, page)
	if err != nil {
		return integration.JobResult{}, err
	}
	res := integration.JobResult{Progress: p, Seen: map[string][]string{job.Model: seen}}
	if !page.ServerTime.IsZero() {
		res.Clock = map[string]time.Time{job.Model: page.ServerTime}
	}
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

// windowPage reads a window job's window.
func (e *Engine) windowPage(ctx context.Context, conn connector.Connection, c connector.Connector, run *integration.Run, job Job) (integration.JobResult, error) {
	w, ok := c.(connector.Windowed)
	if !ok {
		return integration.JobResult{}, &connector.Error{Kind: connector.ErrInvalid, Message: "The connector no longer reads listings by position."}
	}
	l := e.lister(run, job.JobID, job.Model, conn, c, w)
	read, err := l.window(ctx, job.Offset, job.Limit, true)
	if err != nil {
		return integration.JobResult{}, err
	}
	res := integration.JobResult{Progress: l.progress, Seen: map[string][]string{job.Model: l.seen}, Pages: []integration.PageRead{read}}
	if !l.clock.IsZero() {
		res.Clock = map[string]time.Time{job.Model: l.clock}
	}
	if !job.Chain {
		return res, nil
	}
	var next []Job
	if size := job.Limit - 1; size > 0 && read.Count >= job.Limit {
		next = append(next, windowJob(run, job.Model, w, job.Offset+size, size, true))
	}
	// Recorded even when there is none: see page.
	return res, e.spawn(ctx, run, job.JobID, next, nil)
}

// tokenPage writes a page read by token and reports it.
func (e *Engine) tokenPage(ctx context.Context, run *integration.Run, jobID, model string, page connector.ListPage) (integration.Progress, []string, error) {
	st, err := e.storePage(ctx, run, jobID, model, page)
	if err != nil {
		return integration.Progress{}, nil, err
	}
	n := len(page.Records) + len(page.Failed)
	_ = e.event(ctx, run, "page", "ok", model, fmt.Sprintf("%s: %d items, %d written", model, n, st.written),
		map[string]any{"items_seen": n, "items_written": st.written})
	return integration.Progress{PagesDone: 1, ItemsSeen: int64(n), ItemsWritten: int64(st.written), ItemsFailed: int64(len(page.Failed))}, st.ids, nil
}

// stored is what storePage did with a page.
type stored struct {
	ids     []string // the page's ids, records first
	written int
}

// storePage writes the page's records that changed, on behalf of the job.
// An item that could not be read still exists: its id counts as seen, so
// it is never marked deleted; it gets an item_failed event saying why and
// goes to the retry set, which later runs read again.
func (e *Engine) storePage(ctx context.Context, run *integration.Run, jobID, model string, page connector.ListPage) (stored, error) {
	recs := make([]integration.StoredRecord, 0, len(page.Records))
	ids := make([]string, 0, len(page.Records)+len(page.Failed))
	dup := map[string]bool{}
	for _, r := range page.Records {
		r.Model = model
		ids = append(ids, r.ExternalID)
		if dup[r.ExternalID] {
			continue // one write per record: a transaction may not name an item twice
		}
		dup[r.ExternalID] = true
		data, hash, err := Encode(r)
		if err != nil {
			return stored{}, fmt.Errorf("encode %s %s: %w", model, r.ExternalID, err)
		}
		recs = append(recs, integration.StoredRecord{IntegrationID: run.IntegrationID, Model: model, ExternalID: r.ExternalID,
			Hash: hash, Data: data, Deleted: r.Deleted, ModifiedAt: r.ModifiedAt})
	}
	put, err := e.put(ctx, integration.WriteScope{RunID: run.ID, JobID: jobID}, recs)
	if err != nil {
		return stored{}, err
	}
	if len(page.Failed) > 0 {
		retry := map[string]string{}
		evs := make([]integration.SyncEvent, 0, len(page.Failed))
		for _, f := range page.Failed {
			if f.ExternalID != "" {
				ids = append(ids, f.ExternalID)
				retry[f.ExternalID] = f.Message
			}
			evs = append(evs, integration.SyncEvent{ID: e.newID(), IntegrationID: run.IntegrationID, RunID: run.ID, Type: "item_failed", Status: "error",
				Model: model, ExternalID: f.ExternalID, Message: f.Message, At: e.now(), CountKey: failedItemKey(run.ID, model, f.ExternalID)})
		}
		if len(retry) > 0 {
			if err := e.Store.AddRetries(ctx, run.IntegrationID, model, retry); err != nil {
				return stored{}, fmt.Errorf("add %d unreadable %s items to the retry set: %w", len(retry), model, err)
			}
		}
		if err := e.Store.AddEvents(ctx, evs); err != nil {
			return stored{}, err
		}
	}
	return stored{ids: ids, written: put.Written}, nil
}

// writeBatch is how many records one PutRecords takes: one store
// transaction's worth, so each write is small enough to commit well
// within its deadline.
const writeBatch = 25

// put writes records in batches. Each batch is stamped just before its
// write — the order of the change feed — and must commit within half the
// feed's safety window of its stamp, or it fails and the job, retried,
// stamps it again: so the feed, showing only records W old, never shows a
// stamp after one whose write is still under way.
func (e *Engine) put(ctx context.Context, scope integration.WriteScope, recs []integration.StoredRecord) (integration.PutResult, error) {
	var out integration.PutResult
	scope, err := e.withSite(ctx, scope, recs)
	if err != nil {
		return out, err
	}
	for len(recs) > 0 {
		batch := recs[:min(len(recs), writeBatch)]
		recs = recs[len(batch):]
		for i := range batch {
			batch[i].ChangedAt = e.now()
		}
		res, err := e.putBatch(ctx, scope, batch)
		if err != nil {
			return out, fmt.Errorf("write %d %s records: %w", len(batch), batch[0].Model, err)
		}
		out.Written += res.Written
		out.Stale += res.Stale
	}
	return out, nil
}

// putBatch makes one write, given until W/2 after its stamp. A timeout
// rather than a deadline at stamp+W/2: the same instant (the stamp was
// just taken), and right under a test's virtual clock too.
func (e *Engine) putBatch(ctx context.Context, scope integration.WriteScope, batch []integration.StoredRecord) (integration.PutResult, error) {
	if w := e.feedSafety(); w > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, w/2)
		defer cancel()
	}
	return e.Store.PutRecords(ctx, scope, batch)
}

// finish ends a run whose jobs are all done: cursors advance and deletions
// are marked only for models the run read completely and consistently.
// Of a full run, the first pass (checked: false) spawns the deletion jobs
// and returns while they are under way; the last of them finishes the run.
func (e *Engine) finish(ctx context.Context, it *integration.Integration, run *integration.Run, checked bool) error {
	now := e.now()
	cursors := map[string]time.Time{}
	type shift struct{ model, why string }
	var shifts []shift
	if run.Direction == integration.DirectionFromExternal || run.Direction == integration.DirectionBoth {
		reads, clock, err := e.Store.RunReads(ctx, run.IntegrationID, run.ID)
		if err != nil {
			return fmt.Errorf("read the page reads of run %s: %w", run.ID, err)
		}
		byModel := map[string][]integration.PageRead{}
		for _, r := range reads {
			byModel[r.Model] = append(byModel[r.Model], r)
		}
		var checks []Job
		seenOf := map[string]map[string]bool{}
		for _, m := range run.Models {
			if slices.Contains(run.Skipped, m) {
				continue // not read: its cursor stays, nothing of it is deleted
			}
			seen, err := e.Store.SeenIDs(ctx, run.IntegrationID, run.ID, m)
			if err != nil {
				return err
			}
			// Items that moved while the run read the listing may have
			// been missed: keep the cursor, so the next run reads this
			// stretch again (unchanged records cost no write), and mark
			// nothing deleted.
			var why string
			if rs := byModel[m]; len(rs) > 0 {
				why = shifted(rs)
			} else if total, ok := run.Totals[m]; ok && total >= 0 && int64(len(seen)) < total {
				why = fmt.Sprintf("%d of %d items seen", len(seen), total)
			}
			if why != "" {
				shifts = append(shifts, shift{m, why})
				continue
			}
			if run.Full {
				checks = append(checks, deletionJob(run, m, "", 1, clock[m].IsZero(), time.Time{}, now))
				seenOf[m] = seen
			}
			// The platform's clock when the run began listing the model:
			// nothing modified after it was missed, whatever Joinery's
			// clock says. Without it an incremental run keeps its cursor; a
			// full one, which read everything, goes by the newest item its
			// deletion jobs found (reported as their clock).
			if !clock[m].IsZero() {
				cursors[CursorKey(e.Connectors[it.Platform], m)] = clock[m]
			}
		}
		if len(checks) > 0 && !checked {
			if err := e.keepSeen(ctx, run, seenOf); err != nil {
				return err
			}
			pending, err := e.spawnDeletions(ctx, run, checks)
			if err != nil || pending {
				return err
			}
		}
		if len(cursors) > 0 {
			if err := e.Store.SetCursors(ctx, run.IntegrationID, cursors); err != nil {
				return err
			}
		}
	}
	// Warnings before the run is finished: whoever sees it finished sees
	// them too.
	for _, s := range shifts {
		_ = e.event(ctx, run, "listing_shifted", "warning", s.model,
			fmt.Sprintf("%s: the listing shifted while it was read (%s); the next run reads it again", s.model, s.why), nil)
	}
	// The integration first, then the run: a crash in between leaves the
	// run active, and the redelivered claimer finishes it again.
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
	p := run.Progress
	msg := fmt.Sprintf("completed: %d pages, %d items seen, %d written", p.PagesDone, p.ItemsSeen, p.ItemsWritten)
	details := map[string]any{"pages_done": p.PagesDone, "items_seen": p.ItemsSeen, "items_written": p.ItemsWritten}
	if len(run.Skipped) > 0 {
		msg += fmt.Sprintf("; skipped %v, which the user may not read", run.Skipped)
		details["skipped_models"] = run.Skipped
	}
	return e.event(ctx, run, "run_finished", "ok", "", msg, details)
}

// noClockOverlap is taken off the newest modification time a full run saw
// when the platform gave no clock to take the cursor from.
const noClockOverlap = 5 * time.Minute

// deletedVersion is a stored record marked deleted. It keeps the stored
// modification time, so the write is not refused as older than the record.
func deletedVersion(r integration.StoredRecord) (integration.StoredRecord, error) {
	var rec RecordJSON
	if err := json.Unmarshal(r.Data, &rec); err != nil {
		return integration.StoredRecord{}, fmt.Errorf("decode stored %s %s: %w", r.Model, r.ExternalID, err)
	}
	rec.Deleted = true
	data, hash, err := encodeJSON(rec)
	if err != nil {
		return integration.StoredRecord{}, err
	}
	return integration.StoredRecord{IntegrationID: r.IntegrationID, Model: r.Model, ExternalID: r.ExternalID,
		Hash: hash, Data: data, Deleted: true, ModifiedAt: r.ModifiedAt}, nil
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
	if job.Kind == "push" || job.Kind == "migrate" || job.Kind == "purge" || job.Kind == "revoke" {
		return // a push stays queued (a to_external run queues it again); the others have no run
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
	return e.send(ctx, []Job{{Kind: "purge", AccountID: it.AccountID, IntegrationID: it.ID, JobID: "purge"}})
}
