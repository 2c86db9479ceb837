// Command webhook-worker is the Lambda the webhook queue triggers (SQS event
// source with ReportBatchItemFailures): it turns verified webhook deliveries
// into record changes, with the sync engine.
package main

import (
	"log"
	"log/slog"
	"os"
	"strconv"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/joinery/joinery/functions/internal/awsapp"
	"github.com/joinery/joinery/pkg/sqsworker"
)

func main() {
	maxReceives, err := strconv.Atoi(os.Getenv("JOINERY_SYNC_MAX_RECEIVES"))
	if err != nil || maxReceives < 1 {
		log.Fatalf("JOINERY_SYNC_MAX_RECEIVES must be the webhook queue's maxReceiveCount")
	}
	app := awsapp.New(awsapp.Env{
		Table:       os.Getenv("JOINERY_TABLE"),
		QueueURL:    os.Getenv("JOINERY_QUEUE_URL"),
		MaxReceives: maxReceives,
		FeedSafety:  awsapp.FeedSafety(os.Getenv("JOINERY_FEED_SAFETY_SECONDS")),
		// OAuth tokens are refreshed, and revoked on a disconnect, by the
		// jobs that use them.
		SecretPrefix: os.Getenv("JOINERY_SECRET_PREFIX"),
		AppsSecret:   os.Getenv("JOINERY_APPS_SECRET"),
	})
	w := &sqsworker.Worker{Engine: app.Engine(), Visibility: app.Queue(), Log: slog.New(slog.NewJSONHandler(os.Stderr, nil))}
	lambda.Start(w.Handle)
}
