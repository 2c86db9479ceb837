package dynamostore

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/joinery/joinery/pkg/awstest"
	"github.com/joinery/joinery/pkg/integration"
)

// Pushes the previous release wrote carry no index attributes: the
// unfiltered listing finds them at once, the filtered ones from their
// next update on.
func TestPushesOfThePreviousRelease(t *testing.T) {
	ctx := awstest.Context(t)
	db := dynamodb.NewFromConfig(awstest.Config(awstest.Moto(t)))
	table := fmt.Sprintf("joinery-pushup-%d", time.Now().UnixNano())
	if err := CreateTable(ctx, db, table); err != nil {
		t.Fatal(err)
	}
	s := New(db, table)
	id, now := "int-pushup", time.Now().UTC()
	old := func(pushID string, status integration.PushStatus) {
		t.Helper()
		item := pushKey(id, pushID)
		b, _ := json.Marshal(pushJSON{ID: pushID, Model: "post", LocalID: "old-local", Seq: 1, Data: []byte(`{"title":"x"}`), CreatedAt: now})
		item["push"], item["status"], item["updated_at"] = str(string(b)), str(string(status)), str(now.Format(time.RFC3339Nano))
		if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &table, Item: item}); err != nil {
			t.Fatal(err)
		}
	}
	old("01OLDCONFLICT", integration.PushConflict)
	old("01OLDQUEUED", integration.PushQueued)
	list := func(q integration.PushQuery) []string {
		t.Helper()
		q.IntegrationID, q.Limit = id, 10
		items, _, err := s.PagePushes(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, p := range items {
			ids = append(ids, p.ID)
		}
		return ids
	}
	if got := list(integration.PushQuery{}); !slices.Equal(got, []string{"01OLDQUEUED", "01OLDCONFLICT"}) {
		t.Fatalf("unfiltered: %v", got)
	}
	if got := list(integration.PushQuery{Status: integration.PushConflict}); len(got) != 0 {
		t.Fatalf("an old push is in the status index before any update: %v", got)
	}
	p, err := s.GetPush(ctx, id, "01OLDQUEUED")
	if err != nil {
		t.Fatal(err)
	}
	p.Status, p.UpdatedAt = integration.PushDone, now
	if err := s.UpdatePush(ctx, p); err != nil {
		t.Fatal(err)
	}
	if got := list(integration.PushQuery{Status: integration.PushDone}); !slices.Equal(got, []string{"01OLDQUEUED"}) {
		t.Fatalf("by status after its update: %v", got)
	}
	if got := list(integration.PushQuery{LocalID: "old-local"}); !slices.Equal(got, []string{"01OLDQUEUED"}) {
		t.Fatalf("by local id after its update: %v", got)
	}
}
