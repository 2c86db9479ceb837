package syncer

import "github.com/joinery/joinery/pkg/integration"

type replayPart struct {
	queue integration.Queue
	dls   []integration.DeadLetter
}

// byQueue splits dead letters by the queue they are replayed to: webhook
// jobs to the webhook queue (when the engine has one), the rest to the
// sync queue.
func (e *Engine) byQueue(dls []integration.DeadLetter) []replayPart {
	var sync, hooks []integration.DeadLetter
	for _, d := range dls {
		if d.Kind == "webhook" && e.WebhookQueue != nil {
			hooks = append(hooks, d)
		} else {
			sync = append(sync, d)
		}
	}
	var out []replayPart
	if len(sync) > 0 {
		out = append(out, replayPart{e.Queue, sync})
	}
	if len(hooks) > 0 {
		out = append(out, replayPart{e.WebhookQueue, hooks})
	}
	return out
}
