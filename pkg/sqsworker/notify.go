package sqsworker

import (
	"context"
	"log/slog"
	"sync"

	"github.com/aws/aws-lambda-go/events"
	"github.com/joinery/joinery/pkg/notify"
)

// Notifier runs the notifications queue's messages: each one delivery
// attempt. The batch's attempts run at once, so one slow endpoint does
// not hold up the others' within a batch.
type Notifier struct {
	Deliverer *notify.Deliverer
	Log       *slog.Logger
}

// Handle is the handler the notifications queue's event source mapping
// invokes (ReportBatchItemFailures): a message whose attempt could not be
// recorded or followed up comes back.
func (n *Notifier) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	var (
		mu   sync.Mutex
		resp events.SQSEventResponse
		wg   sync.WaitGroup
	)
	log := n.Log
	if log == nil {
		log = slog.Default()
	}
	for _, m := range ev.Records {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := n.Deliverer.Handle(ctx, m.Body); err != nil {
				log.ErrorContext(ctx, "delivery attempt not recorded; the message comes back", "message_id", m.MessageId, "err", err)
				mu.Lock()
				resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return resp, nil
}
