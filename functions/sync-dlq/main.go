// Command sync-dlq is the Lambda the sync dead-letter queue triggers (SQS
// event source with ReportBatchItemFailures): it keeps each dead-lettered
// job against its integration for replay.
package main

import (
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/joinery/joinery/functions/internal/awsapp"
	"github.com/joinery/joinery/pkg/sqsworker"
)

func main() {
	app := awsapp.New(awsapp.Env{Table: os.Getenv("JOINERY_TABLE")})
	d := &sqsworker.DeadLetters{Engine: app.Engine(), Log: slog.New(slog.NewJSONHandler(os.Stderr, nil))}
	lambda.Start(d.Handle)
}
