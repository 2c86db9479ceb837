package dynamostore

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/joinery/joinery/pkg/awstest"
	"github.com/joinery/joinery/pkg/integration"
)

// A table the previous release wrote events to: after the upgrade, an
// error listing reads the new events from their partition, then the old
// ones from the log, each once; a push counted by neither release leaves
// the pending count alone.
func TestEventsAfterUpgrade(t *testing.T) {
	ctx := awstest.Context(t)
	db := dynamodb.NewFromConfig(awstest.Config(awstest.Moto(t)))
	table := fmt.Sprintf("joinery-evup-%d", time.Now().UnixNano())
	if err := CreateTable(ctx, db, table); err != nil {
		t.Fatal(err)
	}
	// As a table the previous release created: no events marker.
	if _, err := db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &table, Key: eventsMarkerKey()}); err != nil {
		t.Fatal(err)
	}
	id := "int-up"
	now := time.Now().UTC()
	for i := range 12 {
		e := integration.SyncEvent{ID: fmt.Sprintf("01D%023d", i), IntegrationID: id, Type: "item_failed", Status: "ok", Message: fmt.Sprint("old", i), At: now}
		if i%4 == 0 {
			e.Status = "error"
		}
		seedOldEvent(t, db, table, e)
	}
	s := New(db, table)
	list := func(s *Store) []string {
		var got []string
		q := integration.EventQuery{IntegrationID: id, Status: "error", Limit: 2}
		for pages := 0; ; pages++ {
			page, next, err := s.ListEvents(ctx, q)
			if err != nil || pages > 20 {
				t.Fatalf("list: %v", err)
			}
			for _, e := range page {
				got = append(got, e.Message)
			}
			if next == "" {
				return got
			}
			q.Cursor = next
		}
	}
	if got := fmt.Sprint(list(s)); got != "[old8 old4 old0]" {
		t.Fatalf("before this release wrote any: %s", got)
	}
	// This release writes events (one newer, one with an id among the old).
	newer := []integration.SyncEvent{
		{ID: fmt.Sprintf("01E%023d", 1), IntegrationID: id, Type: "item_failed", Status: "error", Message: "new1", At: now},
		{ID: fmt.Sprintf("01D%023d", 5), IntegrationID: id, Type: "item_failed", Status: "error", Message: "new-among-old", At: now},
	}
	if err := s.AddEvents(ctx, newer); err != nil {
		t.Fatal(err)
	}
	for _, st := range []*Store{s, New(db, table)} { // a warm and a cold process
		if got := fmt.Sprint(list(st)); got != "[new1 new-among-old old8 old4 old0]" {
			t.Fatalf("after the upgrade: %s", got)
		}
	}
	if h, err := s.HealthCounts(ctx, id, now.Add(-time.Hour)); err != nil || h.FailedItems != 2 {
		t.Fatalf("health counts only what this release wrote: %+v %v", h, err)
	}

	// A push the previous release queued: no pc mark.
	item := pushKey(id, "old-push")
	b, _ := json.Marshal(pushJSON{ID: "old-push", Model: "post", LocalID: "l", Seq: 1, CreatedAt: now})
	item["push"], item["status"], item["updated_at"] = str(string(b)), str("queued"), str(now.Format(time.RFC3339Nano))
	if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &table, Item: item}); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdatePush(ctx, &integration.Push{ID: "old-push", IntegrationID: id, Status: integration.PushDone, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.PendingPushes(ctx, id); err != nil || n != 0 {
		t.Fatalf("pending after an old push was applied: %d %v", n, err)
	}
	out, _ := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &table, Key: pendingKey(id)})
	if q := numAttr(out.Item, "q_pushes"); q != 0 {
		t.Fatalf("an uncounted push moved the count to %d", q)
	}
}

// seedOldEvent writes an event as the previous release did: in the log only.
func seedOldEvent(t *testing.T, db *dynamodb.Client, table string, e integration.SyncEvent) {
	t.Helper()
	b, _ := json.Marshal(e)
	item := pk(eventPK(e.IntegrationID), e.ID)
	item["event"], item["type"], item["status"] = str(string(b)), str(e.Type), str(e.Status)
	item["expires_at"] = num(e.At.Add(EventRetention).Unix())
	if _, err := db.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: &table, Item: item}); err != nil {
		t.Fatal(err)
	}
}
