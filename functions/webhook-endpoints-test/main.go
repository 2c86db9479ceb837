// Command webhook-endpoints-test is the Lambda behind POST /v1/webhook_endpoints/{id}/test.
package main

import (
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/joinery/joinery/functions/internal/awsapp"
)

func main() {
	app := awsapp.New(awsapp.Env{
		Table:   os.Getenv("JOINERY_TABLE"),
		Claims:  awsapp.Claims(os.Getenv("JOINERY_ACCOUNT_CLAIM"), os.Getenv("JOINERY_ROLE_CLAIM"), os.Getenv("JOINERY_SITES_CLAIM")),
		Service: awsapp.Service(os.Getenv("JOINERY_SERVICE_CLIENTS"), os.Getenv("JOINERY_SERVICE_SCOPE")),
		Notify:  awsapp.NotifyEnv{QueueURL: os.Getenv("JOINERY_NOTIFY_QUEUE_URL")},
	})
	lambda.Start(app.Endpoints().TestEndpoint())
}
