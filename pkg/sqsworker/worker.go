// Package sqsworker turns SQS event batches into sync jobs, as the sync
// worker Lambda receives them (ReportBatchItemFailures).
package sqsworker

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/joinery/joinery/pkg/integration"
	"github.com/joinery/joinery/pkg/syncer"
)

// Visibility changes when a received message comes back; SQS's
// ChangeMessageVisibility, or the embedded queue's.
type Visibility interface {
	ChangeVisibility(ctx context.Context, receiptHandle string, d time.Duration) error
}

// Worker runs the jobs of a batch.
type Worker struct {
	Engine     *syncer.Engine
	Visibility Visibility
	Log        *slog.Logger
	// Now is the clock the time left before the deadline is read on
	// (default time.Now).
	Now func() time.Time
	// Parallel, if set, runs at most that many jobs of a batch at once:
	// for tests that replay a schedule. Deployed, it is unset: every job
	// of the batch starts at once.
	Parallel int
}

// BatchSize is the sync worker's batch size, its event source's BatchSize
// in template.yaml: every job of a batch starts at once, so none waits
// out another's time in the invocation (a test holds the two together).
const BatchSize = 10

// jobMargin is kept back from the invocation's deadline to report.
const jobMargin = 5 * time.Second

// MinTimeLeft is the least time left in the invocation a job is started
// with. With less, it is sent again as a new message and this one
// acknowledged: the delivery costs the job none of its attempts.
const MinTimeLeft = 15 * time.Second

// maxVisibility is SQS's limit on a message's visibility timeout.
const maxVisibility = 12 * time.Hour

// Handle is the Lambda handler. Each failed message is reported in
// BatchItemFailures, so only it comes back; one that should come back
// later has its visibility changed to the delay first.
func (w *Worker) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	n := w.Parallel
	if n <= 0 {
		n = max(len(ev.Records), 1) // a batch is at most BatchSize jobs: all start at once
	}
	var (
		mu     sync.Mutex
		resp   events.SQSEventResponse
		wg     sync.WaitGroup
		tokens = make(chan struct{}, n)
	)
	for _, m := range ev.Records {
		wg.Add(1)
		tokens <- struct{}{}
		go func() {
			defer func() { <-tokens; wg.Done() }()
			if !w.one(ctx, m) {
				mu.Lock()
				resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return resp, nil
}

// one runs a message's job and reports whether it is done with.
func (w *Worker) one(ctx context.Context, m events.SQSMessage) (ok bool) {
	log := w.log()
	var job syncer.Job
	received, _ := strconv.Atoi(m.Attributes["ApproximateReceiveCount"])
	attempt := max(received, 1)
	lastTry := false
	defer func() {
		if p := recover(); p != nil {
			log.ErrorContext(ctx, "sync job panicked", "message_id", m.MessageId, "panic", p, "stack", string(debug.Stack()))
			if lastTry {
				w.Engine.Abandon(context.WithoutCancel(ctx), job, "an internal error")
			}
			ok = false
		}
	}()
	if err := json.Unmarshal([]byte(m.Body), &job); err != nil || !valid(job) {
		// Not a job: let it reach the DLQ, where it can be looked at.
		log.ErrorContext(ctx, "not a sync job", "message_id", m.MessageId)
		return false
	}
	// Deliveries of the job on earlier messages count too: the limit on
	// attempts holds across re-sends.
	attempt += max(job.Received, 0)
	lastTry = w.Engine.MaxReceives > 0 && attempt >= w.Engine.MaxReceives
	if deadline, ok := ctx.Deadline(); ok && deadline.Sub(w.now()) < MinTimeLeft {
		// Too little time to do the job justice: send it again, and this
		// delivery was not an attempt.
		again := job
		again.Received = attempt - 1
		if err := w.Engine.Resend(ctx, again); err != nil {
			log.WarnContext(ctx, "re-send a sync job short of time", "message_id", m.MessageId, "err", err)
			return false // back after the visibility timeout, as it is
		}
		log.InfoContext(ctx, "sync job re-sent for want of time", "integration_id", job.IntegrationID, "run_id", job.RunID, "job_id", job.JobID, "attempts", again.Received)
		return true
	}
	// A job gets until shortly before the invocation's deadline, so one
	// that runs out of time fails here, where the failure is counted and,
	// on the last delivery, ends its run — not with the invocation.
	jobCtx := ctx
	if deadline, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		jobCtx, cancel = context.WithDeadline(ctx, deadline.Add(-jobMargin))
		defer cancel()
	}
	err := w.Engine.Handle(jobCtx, job, attempt)
	if err == nil {
		return true
	}
	var retry *syncer.Retry
	if errors.As(err, &retry) {
		log.WarnContext(ctx, "sync job will be retried", "integration_id", job.IntegrationID, "run_id", job.RunID, "job_id", job.JobID,
			"attempt", attempt, "after", retry.After.String(), "err", retry.Err)
		if retry.After > 0 && w.Visibility != nil {
			if verr := w.Visibility.ChangeVisibility(ctx, m.ReceiptHandle, min(retry.After, maxVisibility)); verr != nil {
				log.WarnContext(ctx, "change visibility", "err", verr)
			}
		}
		return false
	}
	switch integration.ErrorCode(err) {
	case integration.EINVALID, integration.ENOTFOUND, integration.EUNPROCESSABLE:
		// Trying again cannot mend it: done with, with its own message.
		log.ErrorContext(ctx, "sync job cannot succeed", "integration_id", job.IntegrationID, "run_id", job.RunID, "job_id", job.JobID, "attempt", attempt, "err", err)
		w.Engine.Abandon(context.WithoutCancel(ctx), job, integration.ErrorMessage(err))
		return true
	}
	log.ErrorContext(ctx, "sync job failed", "integration_id", job.IntegrationID, "run_id", job.RunID, "job_id", job.JobID, "attempt", attempt, "err", err)
	if lastTry {
		w.Engine.Abandon(context.WithoutCancel(ctx), job, "an internal error")
	}
	return false
}

// valid reports whether a message is a sync job: plan and page jobs
// belong to an integration and a run, push, revoke and purge jobs to an
// integration, webhook jobs to an integration with their delivery, migrate jobs (the store's own backfill) to neither.
func valid(job syncer.Job) bool {
	switch job.Kind {
	case "migrate":
		return true
	case "push", "purge", "revoke":
		return job.IntegrationID != ""
	case "webhook":
		return job.IntegrationID != "" && job.Webhook != nil
	}
	return job.RunID != "" && job.IntegrationID != ""
}

func (w *Worker) now() time.Time {
	if w.Now == nil {
		return time.Now()
	}
	return w.Now()
}

func (w *Worker) log() *slog.Logger {
	if w.Log == nil {
		return slog.Default()
	}
	return w.Log
}
