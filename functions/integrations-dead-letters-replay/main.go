// Command integrations-dead-letters-replay is the Lambda behind
// POST /v1/integrations/{id}/dead_letters/replay.
package main

import (
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/joinery/joinery/functions/internal/awsapp"
)

func main() {
	app := awsapp.New(awsapp.Env{
		Table:           os.Getenv("JOINERY_TABLE"),
		QueueURL:        os.Getenv("JOINERY_QUEUE_URL"),
		WebhookQueueURL: os.Getenv("JOINERY_WEBHOOK_QUEUE_URL"),
		Claims:          awsapp.Claims(os.Getenv("JOINERY_ACCOUNT_CLAIM"), os.Getenv("JOINERY_ROLE_CLAIM"), os.Getenv("JOINERY_SITES_CLAIM")),
		Service:         awsapp.Service(os.Getenv("JOINERY_SERVICE_CLIENTS"), os.Getenv("JOINERY_SERVICE_SCOPE")),
	})
	lambda.Start(app.Sync().ReplayDeadLetters())
}
