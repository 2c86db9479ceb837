package dynamostore

import (
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/joinery/joinery/pkg/awstest"
	"github.com/joinery/joinery/pkg/conformance"
	"github.com/joinery/joinery/pkg/integration"
)

func TestWebhookStoreConformance(t *testing.T) {
	db := dynamodb.NewFromConfig(awstest.Config(awstest.Moto(t)))
	table := fmt.Sprintf("joinery-webhook-%d", time.Now().UnixNano())
	if err := CreateTable(awstest.Context(t), db, table); err != nil {
		t.Fatal(err)
	}
	s := New(db, table)
	conformance.TestWebhookStore(t, func(*testing.T) integration.WebhookStore { return s })
}
