package dynamostore

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
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
	// As a table created before events were copied: no events markers.
	for _, marker := range []string{eventsByStatus, eventsByType} {
		if _, err := db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &table, Key: eventsMarkerKey(marker)}); err != nil {
			t.Fatal(err)
		}
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

// A table the previous release wrote events to, with error and warning
// copies but none by type or of ok events: after the upgrade, listings by
// type, by type and status and of ok events read the new copies, then the
// old events from the log, each once, in a warm and a cold process; once
// the old events have expired, they read the copies alone.
func TestEventsByTypeAfterUpgrade(t *testing.T) {
	ctx := awstest.Context(t)
	db := dynamodb.NewFromConfig(awstest.Config(awstest.Moto(t)))
	table := fmt.Sprintf("joinery-evtype-%d", time.Now().UnixNano())
	if err := CreateTable(ctx, db, table); err != nil {
		t.Fatal(err)
	}
	// As the previous release left it: copies by status since a day ago,
	// no marker of copies by type.
	marker := eventsMarkerKey(eventsByStatus)
	marker["since"] = str(time.Now().Add(-24 * time.Hour).UTC().Format(time.RFC3339Nano))
	if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &table, Item: marker}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &table, Key: eventsMarkerKey(eventsByType)}); err != nil {
		t.Fatal(err)
	}
	id := "int-type-up"
	now := time.Now().UTC()
	for i := range 12 {
		e := integration.SyncEvent{ID: fmt.Sprintf("01D%023d", i), IntegrationID: id, Type: "page", Status: "ok", Message: fmt.Sprint("old", i), At: now}
		switch i % 4 {
		case 0:
			e.Type, e.Status = "item_failed", "error"
		case 2:
			e.Type, e.Status = "schedule", "warning"
		}
		seedStatusCopiedEvent(t, db, table, e)
	}
	list := func(s *Store, q integration.EventQuery) string {
		t.Helper()
		var got []string
		q.IntegrationID, q.Limit = id, 2
		for pages := 0; ; pages++ {
			page, next, err := s.ListEvents(ctx, q)
			if err != nil || pages > 20 {
				t.Fatalf("list %+v: %v", q, err)
			}
			for _, e := range page {
				got = append(got, e.Message)
			}
			if next == "" {
				return fmt.Sprint(got)
			}
			q.Cursor = next
		}
	}
	s := New(db, table)
	before := map[integration.EventQuery]string{
		{Type: "item_failed"}:                    "[old8 old4 old0]",
		{Type: "item_failed", Status: "error"}:   "[old8 old4 old0]",
		{Type: "schedule", Status: "warning"}:    "[old10 old6 old2]",
		{Status: "ok"}:                           "[old11 old9 old7 old5 old3 old1]",
		{Type: "page"}:                           "[old11 old9 old7 old5 old3 old1]",
		{Status: "error"}:                        "[old8 old4 old0]",
		{Type: "item_failed", Status: "warning"}: "[]",
	}
	for q, want := range before {
		if got := list(s, q); got != want {
			t.Fatalf("before this release wrote any, %+v: %s, want %s", q, got, want)
		}
	}
	// This release writes events (newer ones, and one with an id among the old).
	if err := s.AddEvents(ctx, []integration.SyncEvent{
		{ID: fmt.Sprintf("01E%023d", 1), IntegrationID: id, Type: "item_failed", Status: "error", Message: "new1", At: now},
		{ID: fmt.Sprintf("01E%023d", 2), IntegrationID: id, Type: "page", Status: "ok", Message: "new-ok", At: now},
		{ID: fmt.Sprintf("01D%023dx", 5), IntegrationID: id, Type: "item_failed", Status: "error", Message: "new-among-old", At: now},
	}); err != nil {
		t.Fatal(err)
	}
	after := map[integration.EventQuery]string{
		{Type: "item_failed"}:                    "[new1 new-among-old old8 old4 old0]",
		{Type: "item_failed", Status: "error"}:   "[new1 new-among-old old8 old4 old0]",
		{Type: "schedule", Status: "warning"}:    "[old10 old6 old2]",
		{Status: "ok"}:                           "[new-ok old11 old9 old7 old5 old3 old1]",
		{Type: "page"}:                           "[new-ok old11 old9 old7 old5 old3 old1]",
		{Status: "error"}:                        "[new1 old8 new-among-old old4 old0]", // all in the error partition
		{Type: "item_failed", Status: "warning"}: "[]",
		{}:                                       "[new-ok new1 old11 old10 old9 old8 old7 old6 new-among-old old5 old4 old3 old2 old1 old0]",
	}
	for _, st := range []*Store{s, New(db, table)} { // a warm and a cold process
		for q, want := range after {
			if got := list(st, q); got != want {
				t.Fatalf("after the upgrade, %+v: %s, want %s", q, got, want)
			}
		}
	}
	// Once the events written before the copies by type have expired, no
	// listing reads the log (old events still in it are not yet removed
	// by the TTL, and must not be listed again as if they were new).
	marker = eventsMarkerKey(eventsByType)
	marker["since"] = str(time.Now().Add(-EventRetention - time.Hour).UTC().Format(time.RFC3339Nano))
	if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &table, Item: marker}); err != nil {
		t.Fatal(err)
	}
	later := New(db, table)
	for q, want := range map[integration.EventQuery]string{
		{Type: "item_failed"}: "[new1 new-among-old]",
		{Status: "ok"}:        "[new-ok]",
		{Type: "schedule"}:    "[]",
	} {
		if got := list(later, q); got != want {
			t.Fatalf("after the old events expired, %+v: %s, want %s", q, got, want)
		}
	}
}

// seedStatusCopiedEvent writes an event as the previous release did: in
// the log, and, if an error or warning, marked and again in its status's
// partition.
func seedStatusCopiedEvent(t *testing.T, db *dynamodb.Client, table string, e integration.SyncEvent) {
	t.Helper()
	seedOldEvent(t, db, table, e)
	if !indexedStatus(e.Status) {
		return
	}
	b, _ := json.Marshal(e)
	for _, p := range []string{eventPK(e.IntegrationID), eventStatusPK(e.IntegrationID, e.Status)} {
		item := pk(p, e.ID)
		item["event"], item["type"], item["status"] = str(string(b)), str(e.Type), str(e.Status)
		item["expires_at"] = num(e.At.Add(EventRetention).Unix())
		item["sx"] = &types.AttributeValueMemberBOOL{Value: true}
		if _, err := db.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: &table, Item: item}); err != nil {
			t.Fatal(err)
		}
	}
}
