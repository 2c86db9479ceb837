package dynamostore

import (
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/joinery/joinery/pkg/awstest"
	"github.com/joinery/joinery/pkg/conformance"
)

func TestNotifyStoreConformance(t *testing.T) {
	db := dynamodb.NewFromConfig(awstest.Config(awstest.Moto(t)))
	table := fmt.Sprintf("joinery-notify-%d", time.Now().UnixNano())
	if err := CreateTable(awstest.Context(t), db, table); err != nil {
		t.Fatal(err)
	}
	s := New(db, table)
	conformance.TestNotifyStore(t, func(*testing.T) conformance.NotifyStores { return s })
}
