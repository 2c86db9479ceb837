package syncer

import "context"

// Resend queues a job again as a new message, in its account's group: the
// worker's way to hand on a job it has no time left for. The job's
// Received says how many of its attempts earlier messages used.
func (e *Engine) Resend(ctx context.Context, job Job) error {
	return e.send(ctx, []Job{job})
}
