// Command integrations-update-structure is the Lambda behind POST /v1/integrations/{id}/update_structure.
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
		Table: os.Getenv("JOINERY_TABLE"),
	})
	lambda.Start(app.Connections().UpdateStructure())
}
