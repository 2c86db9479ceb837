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
	})
	lambda.Start(app.Connections().Onboard())
}
