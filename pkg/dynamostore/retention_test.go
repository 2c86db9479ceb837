package dynamostore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/joinery/joinery/pkg/awstest"
	"github.com/joinery/joinery/pkg/integration"
)

// TestRunsAndPushesCarryTheirTTL checks the expires_at (the table's TTL
// attribute) of runs and pushes as they change.
func TestRunsAndPushesCarryTheirTTL(t *testing.T) {
	db := dynamodb.NewFromConfig(awstest.Config(awstest.Moto(t)))
	table := fmt.Sprintf("joinery-ttl-%d", time.Now().UnixNano())
	ctx := context.Background()
	if err := CreateTable(awstest.Context(t), db, table); err != nil {
		t.Fatal(err)
	}
	s := New(db, table)
	ttl := func(key map[string]types.AttributeValue) int64 {
		t.Helper()
		out, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: key, ConsistentRead: aws.Bool(true)})
		if err != nil || out.Item == nil {
			t.Fatalf("get %v: %v", key, err)
		}
		return numAttr(out.Item, "expires_at")
	}
	day := 24 * time.Hour
	start := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	id := integration.NewID()
	run := &integration.Run{ID: integration.NewID(), AccountID: "acct", IntegrationID: id, Direction: integration.DirectionFromExternal,
		Models: []string{"post"}, Status: integration.RunRunning, JobsTotal: 1, ListedAt: start, StartedAt: start}
	if _, _, err := s.StartRun(ctx, run, time.Hour*6); err != nil {
		t.Fatal(err)
	}
	if got, want := ttl(pk(runPK(id), run.ID)), start.Add(90*day).Unix(); got != want {
		t.Fatalf("a running run expires at %d, want %d (90 days after its start)", got, want)
	}
	end := start.Add(10 * time.Minute)
	if _, err := s.FinishRun(ctx, id, run.ID, integration.RunCompleted, "", end); err != nil {
		t.Fatal(err)
	}
	if got, want := ttl(pk(runPK(id), run.ID)), end.Add(90*day).Unix(); got != want {
		t.Fatalf("a finished run expires at %d, want %d (90 days after its finish)", got, want)
	}

	p := &integration.Push{ID: integration.NewID(), AccountID: "acct", IntegrationID: id, Model: "post", LocalID: "l1",
		Data: []byte(`{}`), Status: integration.PushQueued, CreatedAt: start, UpdatedAt: start}
	if err := s.CreatePush(ctx, p); err != nil {
		t.Fatal(err)
	}
	seq := pushSeqKey(id, "post", "l1", p.Seq)
	for _, c := range []struct {
		status integration.PushStatus
		want   int64
	}{
		{integration.PushQueued, 0},
		{integration.PushFailed, end.Add(30 * day).Unix()},
		{integration.PushConflict, 0},
		{integration.PushDone, end.Add(7 * day).Unix()},
	} {
		p.Status, p.UpdatedAt = c.status, end
		if err := s.UpdatePush(ctx, p); err != nil {
			t.Fatal(err)
		}
		if got, gotSeq := ttl(pushKey(id, p.ID)), ttl(seq); got != c.want || gotSeq != c.want {
			t.Fatalf("a %s push expires at %d (its seq entry %d), want %d", c.status, got, gotSeq, c.want)
		}
	}
}
