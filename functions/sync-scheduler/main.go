// Command sync-scheduler is the Lambda an EventBridge schedule invokes
// every minute: it starts the syncs that are due.
package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/joinery/joinery/functions/internal/awsapp"
)

func main() {
	app := awsapp.New(awsapp.Env{
		Table:    os.Getenv("JOINERY_TABLE"),
		QueueURL: os.Getenv("JOINERY_QUEUE_URL"),
	})
	engine := app.Engine()
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	lambda.Start(func(ctx context.Context, _ json.RawMessage) error {
		started, err := engine.Tick(ctx)
		logger.InfoContext(ctx, "scheduler tick", "started", started, "err", err)
		return err
	})
}
