// Command integrations-create is the Lambda behind POST /v1/integrations.
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
		// A platform needing app credentials is created only when the
		// deployment holds them.
		AppsSecret: os.Getenv("JOINERY_APPS_SECRET"),
		Claims:     awsapp.Claims(os.Getenv("JOINERY_ACCOUNT_CLAIM"), os.Getenv("JOINERY_ROLE_CLAIM"), os.Getenv("JOINERY_SITES_CLAIM")),
		Service:    awsapp.Service(os.Getenv("JOINERY_SERVICE_CLIENTS"), os.Getenv("JOINERY_SERVICE_SCOPE")),
	})
	lambda.Start(app.API().CreateIntegration())
}
