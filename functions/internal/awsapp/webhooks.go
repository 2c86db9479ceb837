package awsapp

import (
	"log"
	"log/slog"
	"os"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/joinery/joinery/pkg/sqsqueue"
	"github.com/joinery/joinery/pkg/webhookin"
)

// Webhooks is the receiver of one platform's webhooks, queueing to the
// webhook queue.
func (a *App) Webhooks(platform string) *webhookin.Receiver {
	var store any = a.Store
	ws, ok := store.(webhookin.Store)
	if !ok {
		log.Fatalf("the table's store keeps no webhook routes")
	}
	rc := &webhookin.Receiver{Platforms: []string{platform}, Store: ws, Secrets: a.Service.Secrets,
		Queue: a.WebhookQueue(), Log: slog.New(slog.NewJSONHandler(os.Stderr, nil))}
	if a.Env.AppsSecret != "" {
		rc.Apps = a.Apps()
	}
	return rc
}

// WebhookQueue is the webhook queue.
func (a *App) WebhookQueue() *sqsqueue.Queue {
	return sqsqueue.New(sqs.NewFromConfig(a.cfg), a.Env.WebhookQueueURL, "")
}
