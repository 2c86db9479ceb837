// Command sites-records is the Lambda behind GET /v1/sites/{site_id}/records.
package main

import (
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/joinery/joinery/functions/internal/awsapp"
)

func main() {
	app := awsapp.New(awsapp.Env{
		Table:           os.Getenv("JOINERY_TABLE"),
		FeedSafety:      awsapp.FeedSafety(os.Getenv("JOINERY_FEED_SAFETY_SECONDS")),
		Claims:          awsapp.Claims(os.Getenv("JOINERY_ACCOUNT_CLAIM"), os.Getenv("JOINERY_ROLE_CLAIM"), os.Getenv("JOINERY_SITES_CLAIM")),
		Service:         awsapp.Service(os.Getenv("JOINERY_SERVICE_CLIENTS"), os.Getenv("JOINERY_SERVICE_SCOPE")),
		CursorKeySecret: os.Getenv("JOINERY_CURSOR_KEY_SECRET"),
	})
	lambda.Start(app.Sync().SiteRecords())
}
