// Command oauth-callback is the Lambda behind GET /v1/oauth/{platform}/callback.
//
// The route has no gateway authorizer: the platform redirects the user's
// browser here, and the state in the query, usable once, is the proof.
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
		AppsSecret:   os.Getenv("JOINERY_APPS_SECRET"),
		PublicURL:    os.Getenv("JOINERY_PUBLIC_URL"),
		// A Shopify store just connected is subscribed to post its
		// webhooks here.
		WebhookURLShopify: os.Getenv("JOINERY_WEBHOOK_URL_SHOPIFY"),
	})
	lambda.Start(app.OAuth().OAuthCallback())
}
