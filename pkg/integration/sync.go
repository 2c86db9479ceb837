package integration

import (
	"context"
	"time"
)

// Direction is what a sync run moves.
type Direction string

const (
	DirectionMetadata     Direction = "metadata"      // the platform's structure only
	DirectionFromExternal Direction = "from_external" // pull
	DirectionToExternal   Direction = "to_external"   // push pending and failed pushes
	DirectionBoth         Direction = "both"
)

// RunStatus is where a sync run stands.
type RunStatus string

const (
	RunRunning   RunStatus = "running"
	RunCompleted RunStatus = "completed"
	RunError     RunStatus = "error"
)

// Progress counts a run's work. Counters only grow.
type Progress struct {
	PagesDone    int64
	PagesTotal   int64
	ItemsSeen    int64
	ItemsWritten int64
	ItemsFailed  int64
}

// Add returns p plus q.
func (p Progress) Add(q Progress) Progress {
	return Progress{p.PagesDone + q.PagesDone, p.PagesTotal + q.PagesTotal, p.ItemsSeen + q.ItemsSeen, p.ItemsWritten + q.ItemsWritten, p.ItemsFailed + q.ItemsFailed}
}

// Run is one sync run of an integration. Its work is split into jobs; the
// run is finished, once, by the job that completes last.
type Run struct {
	ID            string
	AccountID     string
	IntegrationID string
	Direction     Direction
	Models        []string
	Full          bool
	Status        RunStatus
	Progress      Progress
	// JobsTotal counts every job ever planned for the run (the plan job
	// included); JobsDone those completed. A job adds the jobs it spawns
	// before it completes itself, so JobsDone == JobsTotal only once all
	// the work is done.
	JobsTotal int64
	JobsDone  int64
	// Totals are what the platform reported, per model, when the run
	// listed its first page (-1: it does not say).
	Totals map[string]int64
	// Since is the incremental cursor each model is listed from (zero:
	// everything); ListedAt is when listing began, the next cursor if the
	// run succeeds.
	Since     map[string]time.Time
	ListedAt  time.Time
	Error     string
	StartedAt time.Time
	// FinishedAt is set when the run is finished.
	FinishedAt *time.Time
	// Finisher is the job that claimed the run's finish ("": none yet).
	Finisher string
	// Skipped are the models the run skipped, sorted (SkippedModels).
	Skipped []string
}

// Active reports whether the run is still under way.
func (r *Run) Active() bool { return r.Status == RunRunning }

// StoredRecord is a platform item as Joinery keeps it: the normalized
// record as JSON and a hash of it, so an unchanged item costs no write.
type StoredRecord struct {
	IntegrationID string
	Model         string
	ExternalID    string
	Hash          string
	Data          []byte // the normalized record, JSON
	Deleted       bool
	// ChangedAt is when Joinery last changed the record: the order of the
	// change feed.
	ChangedAt time.Time
	// ModifiedAt is the platform's modification time of the item (zero:
	// unknown). A write never replaces a stored record whose ModifiedAt is
	// newer; an equal one is replaced, so same-second edits land.
	ModifiedAt time.Time
	// Unreadable is set, with Data nil, on a record of a listing whose
	// stored data could not be read back (a part missing or corrupt): it
	// fails alone instead of failing the page.
	Unreadable string
	// LocalID is the host app's id of an item a push created. It is kept
	// beside Data, out of the Hash: a write without one (a sync) keeps
	// the stored one, and a write that only adds one is a change.
	LocalID string
}

// WriteScope says on whose behalf records are written. With a RunID the
// write is refused with ErrRunStopped once that run is no longer running
// (finished, taken over when stale, or its integration deleted), so the
// jobs of a stopped run write nothing. With a JobID the store keeps the
// job's count deltas until CompleteJob applies them, once; without one
// (a push) they are applied with the write. Every write is refused with ErrRunStopped once the
// integration's sync data has been purged.
type WriteScope struct {
	RunID string
	JobID string
	// AccountID is the integration's account, given by a write with no
	// run or push to name it (a webhook's): its notifications need it.
	AccountID string
	// Site, when set, is the site whose feed the records join (SiteFeed).
	Site *SiteRef
}

// PutResult is what PutRecords did.
type PutResult struct {
	// Written counts the records created, changed or deleted.
	Written int
	// Stale counts the records not written because the stored one is
	// newer (its ModifiedAt is after the record's).
	Stale int
}

// RecordChange is one entry of the outbox: a record created, updated or
// deleted. It is written in the same transaction as the record, keyed by
// integration, model, external id and ChangedAt, so a redelivered write
// emits nothing new and a crash loses nothing.
type RecordChange struct {
	IntegrationID string
	// AccountID is the WriteScope's, when it named one.
	AccountID  string `json:",omitempty"`
	Model      string
	ExternalID string
	Type       string // created | updated | deleted
	ChangedAt  time.Time
}

// Record change types.
const (
	ChangeCreated = "created"
	ChangeUpdated = "updated"
	ChangeDeleted = "deleted"
)

// Transition is what writing a record whose Deleted is deleted over the
// stored one does: its outbox change, and its change to the count of
// records not deleted. exists: a record is stored; oldDeleted: it is
// marked deleted; counted: it is in the counts (a record of an older
// storage format may not be yet, and counts as absent there).
func Transition(exists, oldDeleted, counted, deleted bool) (change string, delta int64) {
	switch {
	case !exists:
		change = ChangeCreated
	case deleted && !oldDeleted:
		change = ChangeDeleted
	default:
		change = ChangeUpdated
	}
	if !deleted {
		delta++
	}
	if exists && counted && !oldDeleted {
		delta--
	}
	return change, delta
}

// Supersede decides a write of a record version (modified at modified
// on the platform, stamped changed when Joinery read it) over the stored
// version: whether the write is stale, and the changed_at it is written
// with. A version modified earlier on the platform is stale; so is one
// of the same modification time stamped earlier (read earlier: two edits
// within the platform's clock resolution land in the order they were
// read). No modification time is older than any. A record's changed_at
// never goes back: a newer version stamped before the stored one (a
// slow writer) is written just after it, so the change feed and the
// outbox list a record's changes in the order they were stored.
func Supersede(storedModified, storedChanged, modified, changed time.Time) (stale bool, stamp time.Time) {
	switch {
	case !storedModified.IsZero() && (modified.IsZero() || storedModified.After(modified)):
		return true, changed
	case storedModified.Equal(modified) && storedChanged.After(changed):
		return true, changed
	case !changed.After(storedChanged):
		return false, storedChanged.Add(time.Microsecond)
	}
	return false, changed
}

// ErrRunStopped refuses a write on behalf of a run that is no longer
// running, or of an integration whose sync data was purged. A job that
// gets it is moot: it stops, and its message is done with.
var ErrRunStopped = &Error{Code: ECONFLICT, Message: "The run has stopped: its integration was deleted, or it finished or was taken over."}

// PageRead is what a job read of one page of a positional listing, kept
// with the job so the finishing job can tell whether the run's listing
// shifted under it.
type PageRead struct {
	Model string `json:"model"`
	// Offset is the position the page was read from; pages after the
	// first start one item early, so their first item (Overlap) must be
	// the previous page's last.
	Offset int `json:"offset"`
	// Limit is how many items the page asked for; Count how many it got.
	Limit int `json:"limit"`
	Count int `json:"count"`
	// FirstID and LastID are the first and last ids the page listed ("":
	// none).
	FirstID string `json:"first_id,omitempty"`
	LastID  string `json:"last_id,omitempty"`
	// IDs are all the ids the page listed, in order: a window whose first
	// item the previous window also listed (not only as its last) lost
	// nothing; items were only inserted before it.
	IDs []string `json:"ids,omitempty"`
	// Total is the listing's size the platform reported with the page (-1:
	// it did not say).
	Total int `json:"total"`
	// Doubt: the job itself saw the listing shift (its smaller re-reads
	// of a page too large to answer did not line up).
	Doubt bool `json:"doubt,omitempty"`
	// Seq orders the run's reads in time (the plan's reads come first).
	Seq int64 `json:"seq"`
}

// RecordQuery pages through one model's records in change order.
type RecordQuery struct {
	IntegrationID string
	Model         string
	ChangedAfter  time.Time // exclusive; zero: from the start
	Limit         int
	Cursor        string
	// Before, when set, leaves out records changed at or after it: the
	// change feed shows only records whose write has surely committed.
	Before time.Time
	// Take, when set, is asked about each record, in order, before it joins
	// the page: false ends the page before that record, with a cursor
	// that resumes at it (the caller's budget is spent). The first record
	// joins whatever Take says, so that paging always advances.
	Take func(*StoredRecord) bool
}

// SyncEvent is one entry of an integration's sync log.
type SyncEvent struct {
	ID            string // sortable by time (a ULID)
	IntegrationID string
	RunID         string
	Type          string // run_started, page, item_failed, run_finished, push, conflict…
	Status        string // ok | error | warning
	Model         string
	ExternalID    string
	Message       string
	At            time.Time
	Details       map[string]any
	// CountKey names the occurrence the health buckets count the event as
	// (HealthField): an event whose key was counted already, its own ID
	// when empty, is stored but not counted again, so a redelivered job
	// that logs the same failure anew does not count it twice.
	CountKey string `json:",omitempty"`
}

// EventQuery pages through an integration's events, newest first.
type EventQuery struct {
	IntegrationID string
	Type          string // optional
	Status        string // optional
	Limit         int
	Cursor        string
}

// JobResult is what a finished job reports when it completes.
type JobResult struct {
	Progress Progress
	// Seen are the external ids the job listed, per model, for deletion
	// detection at the end of a full run.
	Seen map[string][]string
	// Pages are the positional pages the job read.
	Pages []PageRead
	// Clock is the platform's clock per model at the job's first answer;
	// the earliest of the run's is its cursor if it succeeds.
	Clock map[string]time.Time
}

// PushStatus is where a push stands.
type PushStatus string

const (
	PushQueued   PushStatus = "queued"
	PushDone     PushStatus = "done"
	PushFailed   PushStatus = "failed"
	PushConflict PushStatus = "conflict"
)

// Push is a change the host app asked to make on the platform.
type Push struct {
	ID            string
	AccountID     string
	IntegrationID string
	Model         string
	LocalID       string
	// Seq orders the pushes of one local id: 1, 2, 3…
	Seq        int64
	Data       []byte // the record to push, JSON
	Status     PushStatus
	ExternalID string
	Error      string
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// Mapping ties a host app's local id to the platform's id and orders the
// local id's pushes.
type Mapping struct {
	IntegrationID string
	Model         string
	LocalID       string
	ExternalID    string
	// AppliedSeq is the last push applied (done, failed or in conflict).
	AppliedSeq int64
	// NextSeq is the last Seq handed out.
	NextSeq int64
	// RemoteModified is the platform's modification time of the item when
	// Joinery last wrote it: a newer one means someone else changed it.
	RemoteModified time.Time
	// ImageURL and ImageID are the featured image last uploaded for the
	// item, so pushing the same URL again reuses it instead of uploading
	// a copy.
	ImageURL string
	ImageID  string
}

// SyncStore keeps runs, their jobs' bookkeeping, records and events. Every
// method is idempotent or says how it is not: SQS delivers at least once.
type SyncStore interface {
	HealthStore
	RateBucket
	SyncPurger
	MappingReader
	PushConflicts
	SkippedModels
	SeenIndex
	SiteFeed
	// StartRun stores run as the integration's active run unless another
	// run is active (and not older than staleAfter): then it returns that
	// run and false. A stale run it takes over is finished as error in the
	// same step, so that run's jobs stop writing (ErrRunStopped), and the
	// count deltas of its jobs that did not complete are applied, as by
	// FinishRun.
	StartRun(ctx context.Context, run *Run, staleAfter time.Duration) (*Run, bool, error)
	// GetRun returns ENOTFOUND when there is no such run.
	GetRun(ctx context.Context, integrationID, runID string) (*Run, error)
	// LatestRun returns the integration's newest run; ENOTFOUND if none.
	LatestRun(ctx context.Context, integrationID string) (*Run, error)
	// ListRuns pages through the integration's runs, newest first, up to
	// limit a page, with one bounded read per page. The cursor is opaque
	// ("": from the newest); one it did not issue is EINVALID naming
	// cursor. The next cursor is "" on the last page.
	ListRuns(ctx context.Context, integrationID string, limit int, cursor string) ([]*Run, string, error)
	// AddJobs records the jobs a parent job spawns (their messages) and
	// adds them (as jobs and as pages) to the run's totals, once per parent:
	// a repeated call for the same parent changes nothing and returns the
	// children recorded the first time, which the parent sends again —
	// never a recomputed list that could differ. totals, when not nil, are
	// recorded as the run's Totals.
	AddJobs(ctx context.Context, integrationID, runID, parentJobID string, children []string, totals map[string]int64) ([]string, error)
	// CompleteJob counts a job done and adds its result, once: for a job
	// already completed it changes nothing and returns false. It returns
	// the run as it is afterwards. A job of a run that has stopped is
	// still counted, but applies no count deltas: the run's stop applied
	// them.
	CompleteJob(ctx context.Context, integrationID, runID, jobID string, res JobResult) (*Run, bool, error)
	// SeenIDs returns the union of the ids the run's jobs saw for a model.
	SeenIDs(ctx context.Context, integrationID, runID, model string) (map[string]bool, error)
	// RunReads returns every PageRead of the run's completed jobs and,
	// per model, the earliest Clock any of them reported: every read of
	// the run began at or after it, so nothing modified after it was
	// missed, whichever delivery of a job completed.
	RunReads(ctx context.Context, integrationID, runID string) ([]PageRead, map[string]time.Time, error)
	// ClaimFinish lets one job finalise a running run whose jobs are all
	// done: true for the first job to claim it and for that same job
	// again (a redelivery resumes a finalisation cut short), false for
	// any other job or a run no longer running.
	ClaimFinish(ctx context.Context, integrationID, runID, jobID string) (bool, error)
	// FinishRun sets a running run's final status, once, and frees the
	// integration for the next run; false if it was already finished.
	// It also applies the count deltas of the run's jobs that did not
	// complete (a failed, dead-lettered or stopped job's writes still
	// count), exactly once: called again on a finished run it finishes
	// what an earlier call cut short, and still returns false.
	FinishRun(ctx context.Context, integrationID, runID string, status RunStatus, message string, at time.Time) (bool, error)

	// Cursors returns the incremental cursor of each model (none: empty).
	Cursors(ctx context.Context, integrationID string) (map[string]time.Time, error)
	// SetCursors merges cursors into the integration's.
	SetCursors(ctx context.Context, integrationID string, cursors map[string]time.Time) error

	// PutRecords writes the records whose Hash differs from the stored one
	// (or that are new), unless the stored one's ModifiedAt is newer, each
	// with its outbox entry (RecordChange) in the same transaction. Large
	// data goes to content-addressed parts written before the record that
	// names them. A record's new not-deleted count delta is kept per scope
	// (see WriteScope). ErrRunStopped if the scope's run stopped.
	PutRecords(ctx context.Context, scope WriteScope, recs []StoredRecord) (PutResult, error)
	// GetRecord returns ENOTFOUND when there is no such record.
	GetRecord(ctx context.Context, integrationID, model, externalID string) (*StoredRecord, error)
	// ListRecords pages through a model's records by ChangedAt, oldest first.
	ListRecords(ctx context.Context, q RecordQuery) ([]StoredRecord, string, error)
	// CountRecords counts a model's records that are not deleted, from
	// counters kept by CompleteJob and scope-less writes (no query over
	// the records).
	CountRecords(ctx context.Context, integrationID, model string) (int64, error)
	// ListChanges pages through the outbox, oldest key first ("" cursor:
	// from the start).
	ListChanges(ctx context.Context, integrationID string, limit int, cursor string) ([]RecordChange, string, error)

	// AddRetries adds items to the integration's retry set (id → why): the
	// items a run could not read, which later runs read again one by one.
	AddRetries(ctx context.Context, integrationID, model string, items map[string]string) error
	// Retries returns up to limit ids of a model's retry set.
	Retries(ctx context.Context, integrationID, model string, limit int) (map[string]string, error)
	// RemoveRetries removes items from the retry set.
	RemoveRetries(ctx context.Context, integrationID, model string, ids []string) error

	// AddEvents stores events; they expire after the store's retention.
	AddEvents(ctx context.Context, evs []SyncEvent) error
	// ListEvents pages through events, newest first.
	ListEvents(ctx context.Context, q EventQuery) ([]SyncEvent, string, error)

	// CreatePush stores a queued push and gives it the next Seq of its
	// local id, atomically (creating the mapping if needed).
	CreatePush(ctx context.Context, p *Push) error
	// GetPush returns ENOTFOUND when there is no such push.
	GetPush(ctx context.Context, integrationID, pushID string) (*Push, error)
	// PushBySeq returns a local id's push by Seq; ENOTFOUND if none.
	PushBySeq(ctx context.Context, integrationID, model, localID string, seq int64) (*Push, error)
	// UpdatePush replaces a push's status, external id and error.
	UpdatePush(ctx context.Context, p *Push) error
	// ListPushes returns the integration's pushes in any of statuses.
	ListPushes(ctx context.Context, integrationID string, statuses ...PushStatus) ([]*Push, error)
	// PendingPushes counts queued pushes.
	PendingPushes(ctx context.Context, integrationID string) (int, error)
	// LeaseMapping takes a local id's mapping for owner until until, unless
	// another owner holds an unexpired lease: then false.
	LeaseMapping(ctx context.Context, integrationID, model, localID, owner string, until time.Time) (*Mapping, bool, error)
	// SaveMapping stores ExternalID, AppliedSeq and RemoteModified if owner
	// still holds the lease (EPRECONDITIONFAILED otherwise).
	SaveMapping(ctx context.Context, m *Mapping, owner string) error
	// ReleaseMapping ends owner's lease.
	ReleaseMapping(ctx context.Context, integrationID, model, localID, owner string) error

	// DeleteSyncData removes everything of an integration kept here. It
	// first stops the integration's runs and marks its sync data purged,
	// so a job still under way writes nothing afterwards (ErrRunStopped).
	DeleteSyncData(ctx context.Context, integrationID string) error
}
