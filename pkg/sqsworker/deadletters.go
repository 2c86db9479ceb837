package sqsworker

import (
	"context"
	"log/slog"
	"strconv"

	"github.com/aws/aws-lambda-go/events"
	"github.com/joinery/joinery/pkg/syncer"
)

// DeadLetters consumes the sync queue's dead-letter queue: each job is
// kept against its integration for replay and counted in sync_health.
type DeadLetters struct {
	Engine *syncer.Engine
	Log    *slog.Logger
}

// Handle is the Lambda handler (ReportBatchItemFailures): a message that
// could not be recorded comes back; one that is no integration's job is
// logged and acknowledged.
func (d *DeadLetters) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	log := d.Log
	if log == nil {
		log = slog.Default()
	}
	var resp events.SQSEventResponse
	for _, m := range ev.Records {
		receives, _ := strconv.Atoi(m.Attributes["ApproximateReceiveCount"])
		kept, err := d.Engine.RecordDeadLetter(ctx, syncer.DeadLetter{MessageID: m.MessageId, Body: m.Body, Receives: receives})
		switch {
		case err != nil:
			log.ErrorContext(ctx, "record dead letter", "message_id", m.MessageId, "err", err)
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
		case kept:
			log.WarnContext(ctx, "sync job dead-lettered", "message_id", m.MessageId, "receives", receives)
		default:
			log.ErrorContext(ctx, "dead letter of no integration, dropped", "message_id", m.MessageId, "bytes", len(m.Body))
		}
	}
	return resp, nil
}
