// Command sync-scheduler is the Lambda an EventBridge schedule invokes
// every minute: it starts the syncs that are due.
package main

import (
	"context"
	"encoding/json"
	"log"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/connector/wordpress"
	"github.com/joinery/joinery/pkg/dynamostore"
	"github.com/joinery/joinery/pkg/integration"
	"github.com/joinery/joinery/pkg/smsecrets"
	"github.com/joinery/joinery/pkg/sqsqueue"
	"github.com/joinery/joinery/pkg/syncer"
)

func main() {
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		log.Fatalf("load AWS config: %v", err) // reported by the runtime as an init error
	}
	store := dynamostore.New(dynamodb.NewFromConfig(cfg), os.Getenv("JOINERY_TABLE"))
	service := &integration.Service{
		Store: store,
		// Reads no secret values; the prefix is needed only to create them.
		Secrets: smsecrets.New(secretsmanager.NewFromConfig(cfg), "", 5*time.Minute),
		Catalog: connector.NewCatalog(),
	}
	engine := &syncer.Engine{Integrations: service, Store: store, Queue: sqsqueue.New(sqs.NewFromConfig(cfg), os.Getenv("JOINERY_QUEUE_URL"), ""),
		Connectors: map[string]connector.Connector{"wordpress": wordpress.New()}}
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	lambda.Start(func(ctx context.Context, _ json.RawMessage) error {
		started, err := engine.Tick(ctx)
		logger.InfoContext(ctx, "scheduler tick", "started", started, "err", err)
		return err
	})
}
