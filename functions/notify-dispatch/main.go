// Command notify-dispatch is the Lambda an EventBridge schedule invokes
// every minute: until shortly before its timeout it fans the pending
// events out, every second, to the notifications queue and the event bus.
package main

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/joinery/joinery/functions/internal/awsapp"
)

func main() {
	app := awsapp.New(awsapp.Env{
		Table:  os.Getenv("JOINERY_TABLE"),
		Notify: awsapp.NotifyEnv{QueueURL: os.Getenv("JOINERY_NOTIFY_QUEUE_URL"), Bus: os.Getenv("JOINERY_EVENT_BUS")},
	})
	d := app.Dispatcher()
	d.Log = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	lambda.Start(func(ctx context.Context) error { return d.Tick(ctx, time.Second) })
}
