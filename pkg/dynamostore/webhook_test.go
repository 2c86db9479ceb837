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

// TestWebhookCountsGoWithTheIntegrationsSyncData: a deleted integration's
// counts are purged with its sync data.
func TestWebhookCountsGoWithTheIntegrationsSyncData(t *testing.T) {
	db := dynamodb.NewFromConfig(awstest.Config(awstest.Moto(t)))
	table := fmt.Sprintf("joinery-webhook-%d", time.Now().UnixNano())
	ctx := awstest.Context(t)
	if err := CreateTable(ctx, db, table); err != nil {
		t.Fatal(err)
	}
	s := New(db, table)
	now := time.Now()
	for _, id := range []string{"int-gone", "int-kept"} {
		if err := s.CountWebhook(ctx, "acct", id, false, now); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteSyncData(ctx, "int-gone"); err != nil {
		t.Fatal(err)
	}
	if st, err := s.WebhookStats(ctx, "acct", "int-gone", now.Add(-24*time.Hour)); err != nil || st.Received24h != 0 || st.LastReceivedAt != nil {
		t.Fatalf("after purge: %+v %v", st, err)
	}
	if st, _ := s.WebhookStats(ctx, "acct", "int-kept", now.Add(-24*time.Hour)); st.Received24h != 1 {
		t.Fatalf("another integration's counts went too: %+v", st)
	}
}
