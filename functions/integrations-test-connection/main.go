// Command integrations-test-connection is the Lambda behind
// POST /v1/integrations/{id}/test_connection.
package main

import (
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/joinery/joinery/functions/internal/awsapp"
)

func main() {
	app := awsapp.New(awsapp.Env{
		Table: os.Getenv("JOINERY_TABLE"),
		// An OAuth platform's test refreshes its token when it is due.
		SecretPrefix: os.Getenv("JOINERY_SECRET_PREFIX"),
		AppsSecret:   os.Getenv("JOINERY_APPS_SECRET"),
		Claims:       awsapp.Claims(os.Getenv("JOINERY_ACCOUNT_CLAIM"), os.Getenv("JOINERY_ROLE_CLAIM"), os.Getenv("JOINERY_SITES_CLAIM")),
		Service:      awsapp.Service(os.Getenv("JOINERY_SERVICE_CLIENTS"), os.Getenv("JOINERY_SERVICE_SCOPE")),
	})
	lambda.Start(app.Connections().TestConnection())
}
