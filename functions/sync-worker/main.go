// Command sync-worker is the Lambda the sync queue triggers (SQS event
// source with ReportBatchItemFailures): it runs sync jobs.
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
		log.Fatalf("JOINERY_SYNC_MAX_RECEIVES must be the sync queue's maxReceiveCount")
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
		// Shopify stores are subscribed to post their webhooks here.
		WebhookURLShopify: os.Getenv("JOINERY_WEBHOOK_URL_SHOPIFY"),
	})
	w := &sqsworker.Worker{Engine: app.Engine(), Visibility: app.Queue(), Log: slog.New(slog.NewJSONHandler(os.Stderr, nil))}
	lambda.Start(w.Handle)
}
