package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/joinery/joinery/pkg/integration"
)

// purgeAll is the page DeleteSyncData purges with, call after call.
const purgeAll = 1000

// integrationPartitions are the partitions an integration's sync data
// lives in besides its runs (runPK) and each run's own (runPartitions).
func integrationPartitions(id string) []string {
	return append([]string{"INT#" + id + "#ACTIVE", "INT#" + id + "#CURSOR", "INT#" + id + "#EVT", recPK(id), partPK(id), outboxPK(id),
		"INT#" + id + "#COUNT", retryPK(id), "INT#" + id + "#PUSH", "INT#" + id + "#PUSHSEQ", "INT#" + id + "#MAP",
		pushRemotePK(id), pushPartPK(id)}, healthPartitions(id)...)
}

// runPartitions are the partitions of one run's bookkeeping.
func runPartitions(id, run string) []string {
	return []string{jobPK(id, run), spawnPK(id, run), deltaPK(id, run), seenPK(id, run)}
}

// PurgeSyncData marks the integration purged, stops its active run, then
// deletes up to limit items: the integration's partitions in turn, then
// its runs oldest first, each after its own partitions (a run names
// them, so it goes last). Every query asks for no more items than the
// budget left; a call makes at most one empty query per partition it
// passes, and each run it passes costs a delete: its requests are
// bounded whatever the data.
func (s *Store) PurgeSyncData(ctx context.Context, integrationID string, limit int) (bool, error) {
	if limit <= 0 {
		limit = purgeAll
	}
	id := integrationID
	mark := purgedKey(id)
	mark["purged_at"], mark["expires_at"] = str(time.Now().UTC().Format(time.RFC3339Nano)), expiresIn(purgedRetention)
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: mark, ConditionExpression: aws.String("attribute_not_exists(PK)")})
	var ccf *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &ccf) {
		return false, fmt.Errorf("mark sync data purged: %w", err)
	}
	// Only the active run can be running; stopped, it shows why.
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: activeKey(id), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return false, fmt.Errorf("read active run: %w", err)
	}
	if run := strAttr(out.Item, "run_id"); run != "" {
		if _, err := s.finishRun(ctx, id, run, integration.RunError, "The integration was deleted.", time.Now()); err != nil {
			return false, fmt.Errorf("stop run %s: %w", run, err)
		}
	}
	budget := limit
	for _, p := range integrationPartitions(id) {
		var copies func(map[string]types.AttributeValue) []map[string]types.AttributeValue
		if p == eventPK(id) {
			copies = func(it map[string]types.AttributeValue) []map[string]types.AttributeValue { return eventCopies(id, it) }
		}
		if err := s.purgePartition(ctx, p, &budget, copies); err != nil {
			return false, err
		}
		if budget <= 0 {
			return true, nil
		}
	}
	for budget > 0 {
		in := partition(runPK(id))
		in.TableName, in.Limit = &s.table, aws.Int32(1)
		in.ProjectionExpression, in.ExpressionAttributeNames = aws.String("SK, #s"), map[string]string{"#s": "status"}
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return false, fmt.Errorf("read runs: %w", err)
		}
		if len(out.Items) == 0 {
			return false, nil
		}
		run := strAttr(out.Items[0], "SK")
		if strAttr(out.Items[0], "status") == string(integration.RunRunning) {
			if _, err := s.setFinished(ctx, id, run, integration.RunError, "The integration was deleted.", time.Now()); err != nil {
				return false, err
			}
		}
		for _, p := range runPartitions(id, run) {
			if err := s.purgePartition(ctx, p, &budget, nil); err != nil {
				return false, err
			}
			if budget <= 0 {
				return true, nil
			}
		}
		if _, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &s.table, Key: pk(runPK(id), run)}); err != nil {
			return false, fmt.Errorf("delete run %s: %w", run, err)
		}
		budget--
	}
	return true, nil
}

// purgePartition deletes items of partition p while the budget lasts,
// reading from its start each time: what was deleted is gone, so a call
// cut short is resumed by the next. copies, if set, names for each item
// the copies of it kept in partitions no list names (events by type):
// they are deleted before the items, in the same batch, so that an item
// that names them outlives them, and count against the budget too.
func (s *Store) purgePartition(ctx context.Context, p string, budget *int, copies func(map[string]types.AttributeValue) []map[string]types.AttributeValue) error {
	for *budget > 0 {
		in := partition(p)
		in.TableName, in.Limit = &s.table, aws.Int32(int32(min(*budget, 1000)))
		in.ProjectionExpression = aws.String("PK, SK")
		if copies != nil {
			// An event has at most one copy by type: two deletes an item.
			in.Limit = aws.Int32(int32(max(1, min(*budget/2, 1000))))
			in.ProjectionExpression, in.ExpressionAttributeNames = aws.String("PK, SK, #t, #s, tx"), map[string]string{"#t": "type", "#s": "status"}
		}
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return fmt.Errorf("read %s: %w", p, err)
		}
		*budget -= len(out.Items)
		reqs := make([]types.WriteRequest, 0, len(out.Items))
		for _, it := range out.Items {
			if copies != nil {
				for _, key := range copies(it) {
					*budget--
					reqs = append(reqs, types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: key}})
				}
			}
		}
		for _, it := range out.Items {
			reqs = append(reqs, types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: pk(strAttr(it, "PK"), strAttr(it, "SK"))}})
		}
		if err := s.batchWrite(ctx, reqs); err != nil {
			return fmt.Errorf("delete from %s: %w", p, err)
		}
		if len(out.LastEvaluatedKey) == 0 {
			return nil
		}
	}
	return nil
}

// DeleteSyncData purges the integration's sync data to its end.
func (s *Store) DeleteSyncData(ctx context.Context, integrationID string) error {
	for {
		more, err := s.PurgeSyncData(ctx, integrationID, purgeAll)
		if err != nil || !more {
			return err
		}
	}
}
