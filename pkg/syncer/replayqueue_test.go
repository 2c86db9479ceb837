package syncer_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/joinery/joinery/pkg/integration"
	"github.com/joinery/joinery/pkg/sqsworker"
)

// recordingQueue keeps what is sent to it.
type recordingQueue struct {
	mu   sync.Mutex
	sent []string
}

func (q *recordingQueue) Send(_ context.Context, msgs []integration.Message) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, m := range msgs {
		q.sent = append(q.sent, m.Body)
	}
	return nil
}

// A replayed webhook job goes back to the webhook queue, a sync job to the
// sync queue.
func TestReplaySendsWebhookJobsToTheWebhookQueue(t *testing.T) {
	h := newHarness(t, newPlatform(0))
	ev := events.SQSEvent{Records: []events.SQSMessage{
		{MessageId: "m1", Body: `{"kind":"push","account_id":"acct-1","integration_id":"` + h.it.ID + `","job_id":"p","model":"post","local_id":"x"}`},
		{MessageId: "m2", Body: `{"kind":"webhook","account_id":"acct-1","integration_id":"` + h.it.ID + `","job_id":"webhook/wordpress/d1","webhook":{"platform":"wordpress","delivery_id":"d1"}}`},
	}}
	if resp, err := (&sqsworker.DeadLetters{Engine: h.engine}).Handle(context.Background(), ev); err != nil || len(resp.BatchItemFailures) > 0 {
		t.Fatalf("keep: %+v %v", resp, err)
	}
	syncQ, hookQ := &recordingQueue{}, &recordingQueue{}
	h.engine.Queue, h.engine.WebhookQueue = syncQ, hookQ
	if n, err := h.engine.ReplayDeadLetters(context.Background(), h.actor, h.it.ID); err != nil || n != 2 {
		t.Fatalf("replay: %d %v", n, err)
	}
	if len(syncQ.sent) != 1 || !strings.Contains(syncQ.sent[0], `"push"`) || len(hookQ.sent) != 1 || !strings.Contains(hookQ.sent[0], `"webhook"`) {
		t.Fatalf("sync queue %v, webhook queue %v", syncQ.sent, hookQ.sent)
	}
}
