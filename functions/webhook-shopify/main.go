// Command webhook-shopify is the Lambda behind Shopify's webhook function URL
// (POST /webhooks/shopify[/{hook_id}]): it verifies each delivery, dedupes
// it and queues it for the webhook worker.
package main

import (
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/joinery/joinery/functions/internal/awsapp"
)

func main() {
	app := awsapp.New(awsapp.Env{
		Table:           os.Getenv("JOINERY_TABLE"),
		WebhookQueueURL: os.Getenv("JOINERY_WEBHOOK_QUEUE_URL"),
		AppsSecret:      os.Getenv("JOINERY_APPS_SECRET"),
	})
	lambda.Start(app.Webhooks("shopify").HandleURL)
}
