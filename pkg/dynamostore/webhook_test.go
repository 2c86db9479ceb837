package dynamostore

import (
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
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

// TestWebhookItemsCarryTheirTTL: markers, expiring routes and count
// buckets carry the table's TTL attribute, so nothing of a delivery stays.
func TestWebhookItemsCarryTheirTTL(t *testing.T) {
	db := dynamodb.NewFromConfig(awstest.Config(awstest.Moto(t)))
	table := fmt.Sprintf("joinery-webhook-%d", time.Now().UnixNano())
	ctx := awstest.Context(t)
	if err := CreateTable(ctx, db, table); err != nil {
		t.Fatal(err)
	}
	s := New(db, table)
	at := time.Date(2026, 5, 1, 12, 30, 0, 0, time.UTC)
	expires := at.Add(7 * 24 * time.Hour)
	if _, _, err := s.ClaimDelivery(ctx, integration.DeliveryMarker{Key: "tiktok#m1", State: integration.DeliveryPending, At: at, Expires: expires}, time.Second); err != nil {
		t.Fatal(err)
	}
	chanEnd := time.Now().Add(time.Hour).Truncate(time.Second)
	if err := s.PutWebhookRoute(ctx, integration.WebhookRoute{Platform: "google_calendar", Key: "ch1", AccountID: "a", IntegrationID: "i", Expires: chanEnd}); err != nil {
		t.Fatal(err)
	}
	if err := s.CountWebhook(ctx, "a", "i", true, at); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		key  map[string]types.AttributeValue
		want int64
	}{
		{deliveryKey("tiktok#m1"), expires.Unix()},
		{pk(webhookRoutePK("google_calendar", "ch1"), "a#i"), chanEnd.Add(routeGrace).Unix()},
		{pk(webhookCountPK("i"), healthSK(at)), integration.HealthHour(at).Add(integration.HealthRetention).Unix()},
	} {
		out, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &table, Key: c.key})
		if err != nil {
			t.Fatal(err)
		}
		if got := numAttr(out.Item, "expires_at"); got != c.want {
			t.Errorf("%v: expires_at %d, want %d", c.key["PK"], got, c.want)
		}
	}
}
