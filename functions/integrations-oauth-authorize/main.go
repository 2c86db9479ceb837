// Command integrations-oauth-authorize is the Lambda behind
// POST /v1/integrations/{id}/oauth/authorize.
package main

import (
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/joinery/joinery/functions/internal/awsapp"
)

func main() {
	app := awsapp.New(awsapp.Env{
		Table:         os.Getenv("JOINERY_TABLE"),
		AppsSecret:    os.Getenv("JOINERY_APPS_SECRET"),
		PublicURL:     os.Getenv("JOINERY_PUBLIC_URL"),
		ReturnOrigins: awsapp.Origins(os.Getenv("JOINERY_OAUTH_RETURN_ORIGINS")),
		Claims:        awsapp.Claims(os.Getenv("JOINERY_ACCOUNT_CLAIM"), os.Getenv("JOINERY_ROLE_CLAIM"), os.Getenv("JOINERY_SITES_CLAIM")),
		Service:       awsapp.Service(os.Getenv("JOINERY_SERVICE_CLIENTS"), os.Getenv("JOINERY_SERVICE_SCOPE")),
	})
	lambda.Start(app.OAuth().AuthorizeOAuth())
}
