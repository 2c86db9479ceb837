// Command notify-deliver is the Lambda the notifications queue triggers
// (SQS event source with ReportBatchItemFailures): each message is one
// signed delivery attempt to a host endpoint.
package main

import (
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/joinery/joinery/functions/internal/awsapp"
	"github.com/joinery/joinery/pkg/sqsworker"
)

func main() {
	app := awsapp.New(awsapp.Env{
		Table:  os.Getenv("JOINERY_TABLE"),
		Notify: awsapp.NotifyEnv{QueueURL: os.Getenv("JOINERY_NOTIFY_QUEUE_URL"), Schedule: awsapp.NotifySchedule(os.Getenv("JOINERY_NOTIFY_RETRY_SCHEDULE"))},
	})
	n := &sqsworker.Notifier{Deliverer: app.Deliverer(), Log: slog.New(slog.NewJSONHandler(os.Stderr, nil))}
	lambda.Start(n.Handle)
}
