package syncer_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"

	"github.com/joinery/joinery/pkg/integration"
	"github.com/joinery/joinery/pkg/syncer"
)

// groupQueue remembers each job's kind and group as it is sent.
type groupQueue struct {
	integration.Queue
	mu   sync.Mutex
	sent map[string][]string // kind → groups
}

func (q *groupQueue) Send(ctx context.Context, msgs []integration.Message) error {
	q.mu.Lock()
	for _, m := range msgs {
		var job syncer.Job
		_ = json.Unmarshal([]byte(m.Body), &job)
		q.sent[job.Kind] = append(q.sent[job.Kind], m.Group)
	}
	q.mu.Unlock()
	return q.Queue.Send(ctx, msgs)
}

func TestEveryJobIsQueuedInItsAccountsGroup(t *testing.T) {
	h := newHarness(t, newPlatform(35)) // pages of 10: plan, then page jobs
	q := &groupQueue{Queue: h.queue, sent: map[string][]string{}}
	h.engine.Queue = q
	h.sync(pull)
	h.drain(h.push("article-1", "hello").ID)
	h.service.PurgeLater = h.engine.QueuePurge
	if err := h.service.Delete(context.Background(), h.actor, h.it.ID, nil); err != nil {
		t.Fatal(err)
	}
	h.engine.Store = pendingStore{h.store} // the records backfill: no account
	for range 2 {
		if _, err := h.engine.Tick(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for kind, want := range map[string]string{"plan": "acct-1", "page": "acct-1", "push": "acct-1", "purge": "acct-1", "migrate": "joinery"} {
		groups := q.sent[kind]
		if len(groups) == 0 {
			t.Errorf("no %s job was sent", kind)
		}
		for _, got := range groups {
			if got != want {
				t.Errorf("a %s job in group %q, want %q", kind, got, want)
			}
		}
	}
}
