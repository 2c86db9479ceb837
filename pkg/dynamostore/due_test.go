package dynamostore

import (
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/joinery/joinery/pkg/awstest"
	"github.com/joinery/joinery/pkg/integration"
)

// The due index is spread over shards; an integration the previous
// release put in its one partition is still found, and moves to its shard
// when it is next written.
func TestTheDueIndexIsShardedAndReadsThePreviousReleasesPartition(t *testing.T) {
	s, plain := newTable(t)
	ctx := awstest.Context(t)
	account := "acct-due"
	due := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	var its []*integration.Integration
	for i := range 24 {
		at := due.Add(time.Duration(i) * time.Second)
		it := &integration.Integration{ID: integration.NewID(), AccountID: account, SiteID: fmt.Sprintf("site-%d", i), Platform: "wordpress",
			IsActive: true, SyncEnabled: true, SyncIntervalMinutes: 60, NextSyncAt: &at, CreatedAt: due, UpdatedAt: due, Version: 1}
		if err := s.CreateIntegration(ctx, it); err != nil {
			t.Fatal(err)
		}
		its = append(its, it)
	}
	partitions := map[string]int{}
	for _, it := range its {
		out, err := plain.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: pk(acctPK(account), intSK(it.ID))})
		if err != nil {
			t.Fatal(err)
		}
		partitions[strAttr(out.Item, "GSI3PK")]++
	}
	if len(partitions) < 4 || partitions[legacyDuePK] > 0 {
		t.Fatalf("24 integrations in the due index's partitions %v; want them spread over shards", partitions)
	}
	// As the previous release wrote it: the one partition.
	old := its[0]
	if _, err := plain.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: &s.table, Key: pk(acctPK(account), intSK(old.ID)),
		UpdateExpression: aws.String("SET GSI3PK = :pk"), ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(legacyDuePK)}}); err != nil {
		t.Fatal(err)
	}
	found := func() map[string]int {
		t.Helper()
		got := map[string]int{}
		for _, shard := range s.DueShards() {
			cursor := ""
			for {
				items, next, err := s.DuePage(ctx, shard, due.Add(time.Minute), 5, cursor)
				if err != nil {
					t.Fatal(err)
				}
				for _, it := range items {
					got[it.ID]++
				}
				if next == "" {
					break
				}
				cursor = next
			}
		}
		return got
	}
	got := found()
	if len(got) != len(its) || got[old.ID] != 1 {
		t.Fatalf("found %d of %d, the previous release's %d times", len(got), len(its), got[old.ID])
	}
	// Rescheduled, it moves to its shard.
	cur, err := s.GetIntegration(ctx, account, old.ID)
	if err != nil {
		t.Fatal(err)
	}
	next := *cur
	next.Version++
	if err := s.UpdateIntegration(ctx, &next, cur.Rev); err != nil {
		t.Fatal(err)
	}
	out, err := plain.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: pk(acctPK(account), intSK(old.ID))})
	if err != nil {
		t.Fatal(err)
	}
	if p := strAttr(out.Item, "GSI3PK"); p != dueShardPK(old.ID) {
		t.Fatalf("after an update it is in %q, want %q", p, dueShardPK(old.ID))
	}
	if got := found(); len(got) != len(its) || got[old.ID] != 1 {
		t.Fatalf("after the move: found %d of %d, it %d times", len(got), len(its), got[old.ID])
	}
}
