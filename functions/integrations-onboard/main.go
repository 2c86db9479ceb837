// Command integrations-onboard is the Lambda behind POST /v1/integrations/test_connection.
//
// The route has no gateway authorizer: the site key in the Authorization
// header is verified here.
package main

import (
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/joinery/joinery/functions/internal/awsapp"
)

func main() {
	app := awsapp.New(awsapp.Env{
		Table:        os.Getenv("JOINERY_TABLE"),
		SecretPrefix: os.Getenv("JOINERY_SECRET_PREFIX"),
		// The base of the webhook URL onboarding hands the site's plugin.
		WebhookURLWordPress: os.Getenv("JOINERY_WEBHOOK_URL_WORDPRESS"),
	})
	lambda.Start(app.Connections().Onboard())
}
