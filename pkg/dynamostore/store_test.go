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

func TestMain(m *testing.M) { awstest.Main(m) }

func TestStoreConformance(t *testing.T) {
	db := dynamodb.NewFromConfig(awstest.Config(awstest.Moto(t)))
	table := fmt.Sprintf("joinery-test-%d", time.Now().UnixNano())
	if err := CreateTable(awstest.Context(t), db, table); err != nil {
		t.Fatal(err)
	}
	if err := CreateTable(awstest.Context(t), db, table); err != nil {
		t.Fatalf("CreateTable is not idempotent: %v", err)
	}
	s := New(db, table)
	conformance.TestStore(t, func(*testing.T) integration.Store { return s })
}

func TestSyncStoreConformance(t *testing.T) {
	db := dynamodb.NewFromConfig(awstest.Config(awstest.Moto(t)))
	table := fmt.Sprintf("joinery-sync-%d", time.Now().UnixNano())
	if err := CreateTable(awstest.Context(t), db, table); err != nil {
		t.Fatal(err)
	}
	s := New(db, table)
	conformance.TestSyncStore(t, func(*testing.T) integration.SyncStore { return s })
}
