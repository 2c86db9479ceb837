package syncer

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/joinery/joinery/pkg/integration"
)

// DeadLetter is a message of the dead-letter queue, as its consumer gets it.
type DeadLetter struct {
	MessageID string
	Body      string
	// Receives is the job's deliveries before the queue gave it up.
	Receives int
}

// RecordDeadLetter keeps a job the sync queue gave up on against its
// integration and run, for replay, counts it in sync_health and logs a
// dead_letter event. Recording the same message again changes nothing.
// A message that is no integration's job (a records backfill page, or
// not a job) is not kept: false.
func (e *Engine) RecordDeadLetter(ctx context.Context, m DeadLetter) (bool, error) {
	var job Job
	if err := json.Unmarshal([]byte(m.Body), &job); err != nil || job.IntegrationID == "" || m.MessageID == "" {
		return false, nil
	}
	d := integration.DeadLetter{ID: m.MessageID, AccountID: job.AccountID, IntegrationID: job.IntegrationID, JobID: job.JobID, Kind: job.Kind,
		Body: m.Body, Receives: m.Receives, At: e.now()}
	if job.Kind != "push" && job.Kind != "purge" {
		d.RunID = job.RunID
	}
	kept, err := e.Store.KeepDeadLetter(ctx, d, true)
	if err != nil || !kept {
		return kept, err
	}
	msg := fmt.Sprintf("a %s job was given up after %d deliveries; it can be replayed", job.Kind, m.Receives)
	details := map[string]any{"dead_letter_id": d.ID, "kind": job.Kind}
	if job.Kind == "push" {
		details["local_id"] = job.pushLocalID()
	}
	// The dead letter is kept: a log entry lost here costs only the log.
	_ = e.Store.AddEvents(ctx, []integration.SyncEvent{{ID: e.newID(), IntegrationID: job.IntegrationID, RunID: d.RunID, Type: "dead_letter",
		Status: "error", Model: job.Model, Message: msg, At: d.At, Details: details}})
	return true, nil
}

// replayBatch is how many dead letters one read of a replay takes; a
// replay goes on until none is left or its time budget is spent.
const (
	replayBatch  = 100
	replayBudget = 20 * time.Second
)

// ReplayDeadLetters sends the integration's dead letters to the sync
// queue again, as they were, and returns how many. Each is taken from the
// store before it is sent, so a second replay (or one running at the same
// time) never sends it twice; one whose send fails is put back. A
// replayed job of a run that has finished since does nothing: the next
// run reads again what it did not.
func (e *Engine) ReplayDeadLetters(ctx context.Context, actor integration.Actor, id string) (int, error) {
	if err := actor.Require(integration.RoleEditor); err != nil {
		return 0, err
	}
	it, err := e.Integrations.Get(ctx, actor, id)
	if err != nil {
		return 0, err
	}
	replayed := 0
	deadline := time.Now().Add(replayBudget)
	for time.Now().Before(deadline) {
		dls, err := e.Store.DeadLetters(ctx, it.ID, replayBatch)
		if err != nil {
			return replayed, err
		}
		if len(dls) == 0 {
			break
		}
		var taken []integration.DeadLetter
		for _, d := range dls {
			ok, err := e.Store.TakeDeadLetter(ctx, it.ID, d.ID)
			if err != nil {
				e.putBack(ctx, taken)
				return replayed, err
			}
			if ok {
				taken = append(taken, d)
			}
		}
		// Each job goes back to the queue it came from.
		for _, part := range e.byQueue(taken) {
			msgs := make([]integration.Message, len(part.dls))
			for i, d := range part.dls {
				msgs[i] = integration.Message{Body: d.Body, Group: queueGroup(d.AccountID)}
			}
			if err := part.queue.Send(ctx, msgs); err != nil {
				e.putBack(ctx, part.dls)
				return replayed, fmt.Errorf("replay dead letters: %w", err)
			}
			replayed += len(msgs)
		}
		if len(dls) < replayBatch {
			break
		}
	}
	return replayed, nil
}

// putBack keeps again dead letters taken for a replay that could not
// send them, without counting them again.
func (e *Engine) putBack(ctx context.Context, dls []integration.DeadLetter) {
	for _, d := range dls {
		_, _ = e.Store.KeepDeadLetter(context.WithoutCancel(ctx), d, false)
	}
}
