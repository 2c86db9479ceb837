// Command sync-scheduler is the Lambda an EventBridge schedule invokes
// every minute: it starts the syncs that are due.
package main

import (
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/joinery/joinery/functions/internal/awsapp"
	"github.com/joinery/joinery/functions/internal/scheduler"
)

func main() {
	app := awsapp.New(awsapp.Env{
		Table:        os.Getenv("JOINERY_TABLE"),
		QueueURL:     os.Getenv("JOINERY_QUEUE_URL"),
		SecretPrefix: os.Getenv("JOINERY_SECRET_PREFIX"),
		AppsSecret:   os.Getenv("JOINERY_APPS_SECRET"),
	})
	h := scheduler.Handler{Scheduler: app.Engine(), Log: slog.New(slog.NewJSONHandler(os.Stderr, nil))}
	// Each tick also refreshes ahead the OAuth tokens due soon, and keeps
	// unused grants alive.
	if tk := app.Tokens(); tk != nil {
		h.Tokens = tk
	}
	lambda.Start(h.Handle)
}
