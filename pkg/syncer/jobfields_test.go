package syncer_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"

	"github.com/joinery/joinery/pkg/integration"
)

// heldQueue records the jobs sent and keeps them from running.
type heldQueue struct {
	integration.Queue
	mu     sync.Mutex
	bodies []map[string]any
}

func (q *heldQueue) Send(_ context.Context, msgs []integration.Message) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, m := range msgs {
		var job map[string]any
		if err := json.Unmarshal([]byte(m.Body), &job); err != nil {
			return err
		}
		q.bodies = append(q.bodies, job)
	}
	return nil
}

func TestPushAndPurgeJobsSayWhatTheyHold(t *testing.T) {
	h := newHarness(t, newPlatform(0))
	q := &heldQueue{Queue: h.queue}
	h.engine.Queue = q
	h.push("article-1", "hello")
	h.service.PurgeLater = h.engine.QueuePurge
	if err := h.service.Delete(context.Background(), h.actor, h.it.ID, nil); err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for _, job := range q.bodies {
		kinds[job["kind"].(string)] = true
		if run, ok := job["run_id"]; ok {
			t.Errorf("a %s job carries run id %v: it belongs to no run", job["kind"], run)
		}
		if job["kind"] == "push" {
			if job["local_id"] != "article-1" || job["page"] != nil {
				t.Errorf("push job %v: want the local id in local_id, no page", job)
			}
		}
	}
	if !kinds["push"] || !kinds["purge"] {
		t.Fatalf("jobs sent: %v, want a push and a purge", q.bodies)
	}
}

// A push job queued by the previous release (local id in page, run id
// "push") is still applied after an upgrade.
func TestPushJobOfThePreviousReleaseStillApplies(t *testing.T) {
	h := newHarness(t, newPlatform(0))
	h.engine.Queue = &heldQueue{Queue: h.queue} // the new job is lost: only the old one runs
	p := h.push("article-1", "hello")
	old, _ := json.Marshal(map[string]string{"kind": "push", "account_id": h.it.AccountID, "integration_id": h.it.ID,
		"run_id": "push", "job_id": p.ID, "model": "post", "page": "article-1"})
	if err := h.queue.Send(context.Background(), []integration.Message{{Body: string(old), Group: h.it.AccountID}}); err != nil {
		t.Fatal(err)
	}
	if got := h.drain(p.ID)[p.ID]; got.Status != integration.PushDone {
		t.Fatalf("push %s after the old job ran: %s %s", p.ID, got.Status, got.Error)
	}
}
