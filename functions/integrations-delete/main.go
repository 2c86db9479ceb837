// Command integrations-delete is the Lambda behind DELETE /v1/integrations/{id}.
package main

import (
	"context"
	"log"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/joinery/joinery/pkg/apigw"
	"github.com/joinery/joinery/pkg/connector"
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
		Store:    store,
		Secrets:  smsecrets.New(secretsmanager.NewFromConfig(cfg), os.Getenv("JOINERY_SECRET_PREFIX"), 5*time.Minute),
		Catalog:  connector.NewCatalog(),
		SyncData: store, // runs, records and events go with the integration
	}
	// They can be many: the sync workers remove them, off the request.
	purger := &syncer.Engine{Queue: sqsqueue.New(sqs.NewFromConfig(cfg), os.Getenv("JOINERY_QUEUE_URL"), "")}
	service.PurgeLater = purger.QueuePurge
	api := &apigw.API{Service: service, Claims: apigw.ClaimNames{
		Account: os.Getenv("JOINERY_ACCOUNT_CLAIM"), Role: os.Getenv("JOINERY_ROLE_CLAIM"), Sites: os.Getenv("JOINERY_SITES_CLAIM"),
	}}
	lambda.Start(api.DeleteIntegration())
}
