// Command integrations-get is the Lambda behind GET /v1/integrations/{id}.
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
		// A WordPress integration shows where its site posts webhooks.
		WebhookURLWordPress: os.Getenv("JOINERY_WEBHOOK_URL_WORDPRESS"),
	})
	lambda.Start(app.API().GetIntegration())
}
