// Command integrations-push-get is the Lambda behind GET /v1/integrations/{id}/pushes/{push_id}.
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
	"github.com/joinery/joinery/pkg/apigw"
	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/connector/wordpress"
	"github.com/joinery/joinery/pkg/dynamostore"
	"github.com/joinery/joinery/pkg/integration"
	"github.com/joinery/joinery/pkg/smsecrets"
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
	engine := &syncer.Engine{Integrations: service, Store: store, Connectors: map[string]connector.Connector{"wordpress": wordpress.New()}}
	api := &apigw.SyncAPI{Engine: engine, API: &apigw.API{Service: service, Claims: apigw.ClaimNames{
		Account: os.Getenv("JOINERY_ACCOUNT_CLAIM"), Role: os.Getenv("JOINERY_ROLE_CLAIM"), Sites: os.Getenv("JOINERY_SITES_CLAIM"),
	}}}
	lambda.Start(api.GetPush())
}
