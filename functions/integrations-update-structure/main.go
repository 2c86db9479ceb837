// Command integrations-update-structure is the Lambda behind POST /v1/integrations/{id}/update_structure.
//
// The route has no gateway authorizer: the site key in the Authorization
// header is verified here.
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
	"github.com/joinery/joinery/pkg/safehttp"
	"github.com/joinery/joinery/pkg/smsecrets"
)

func main() {
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		log.Fatalf("load AWS config: %v", err) // reported by the runtime as an init error
	}
	service := &integration.Service{
		Store: dynamostore.New(dynamodb.NewFromConfig(cfg), os.Getenv("JOINERY_TABLE")),
		// Writes no secret; the prefix is needed only to create them.
		Secrets: smsecrets.New(secretsmanager.NewFromConfig(cfg), "", 5*time.Minute),
		Catalog: connector.NewCatalog(),
	}
	tester := &connector.Tester{
		Integrations: service,
		Connectors:   map[string]connector.ConnectionTester{"wordpress": wordpress.New()},
		// In AWS the client is always strict: no private networks.
		HTTP: safehttp.New(safehttp.Options{}),
	}
	api := &apigw.ConnectionAPI{
		API:        &apigw.API{Service: service},
		Tester:     tester,
		Onboarding: &connector.Onboarding{Integrations: service, Tester: tester},
	}
	lambda.Start(api.UpdateStructure())
}
