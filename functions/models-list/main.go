// Command models-list is the Lambda behind GET /v1/models and GET
// /v1/models/{model}: the unified models and their JSON Schemas, built
// into the binary. It reads the token's claims and calls no AWS API.
package main

import (
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/joinery/joinery/functions/internal/awsapp"
)

func main() {
	app := awsapp.Models(awsapp.Env{
		Claims:  awsapp.Claims(os.Getenv("JOINERY_ACCOUNT_CLAIM"), os.Getenv("JOINERY_ROLE_CLAIM"), os.Getenv("JOINERY_SITES_CLAIM")),
		Service: awsapp.Service(os.Getenv("JOINERY_SERVICE_CLIENTS"), os.Getenv("JOINERY_SERVICE_SCOPE")),
	})
	lambda.Start(app.Models())
}
