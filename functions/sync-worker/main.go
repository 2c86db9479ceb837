// Command sync-worker is the Lambda the sync queue triggers (SQS event
// source with ReportBatchItemFailures): it runs sync jobs.
package main

import (
	"context"
	"log"
	"log/slog"
	"os"
	"strconv"
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
	"github.com/joinery/joinery/pkg/safehttp"
	"github.com/joinery/joinery/pkg/smsecrets"
	"github.com/joinery/joinery/pkg/sqsqueue"
	"github.com/joinery/joinery/pkg/sqsworker"
	"github.com/joinery/joinery/pkg/syncer"
)

func main() {
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		log.Fatalf("load AWS config: %v", err) // reported by the runtime as an init error
	}
	maxReceives, err := strconv.Atoi(os.Getenv("JOINERY_SYNC_MAX_RECEIVES"))
	if err != nil || maxReceives < 1 {
		log.Fatalf("JOINERY_SYNC_MAX_RECEIVES must be the sync queue's maxReceiveCount")
	}
	store := dynamostore.New(dynamodb.NewFromConfig(cfg), os.Getenv("JOINERY_TABLE"))
	service := &integration.Service{
		Store: store,
		// Reads secrets only; the prefix is needed only to create them.
		Secrets: smsecrets.New(secretsmanager.NewFromConfig(cfg), "", 5*time.Minute),
		Catalog: connector.NewCatalog(),
	}
	queue := sqsqueue.New(sqs.NewFromConfig(cfg), os.Getenv("JOINERY_QUEUE_URL"), "")
	engine := &syncer.Engine{
		Integrations: service, Store: store, Queue: queue,
		Connectors: map[string]connector.Connector{"wordpress": wordpress.New()},
		// In AWS the client is always strict: no private networks.
		HTTP:        safehttp.New(safehttp.Options{}),
		MaxReceives: maxReceives, Limits: &syncer.Limits{},
	}
	w := &sqsworker.Worker{Engine: engine, Visibility: queue, Log: slog.New(slog.NewJSONHandler(os.Stderr, nil))}
	lambda.Start(w.Handle)
}
