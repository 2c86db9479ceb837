package dynamostore

// Health items (PK / SK):
//
//	health bucket  INT#<id>#HEALTH / <hour, 2006-01-02T15>   (f_<field>: counts; TTL)
//	dead letter    INT#<id>#DLQ / <message id>               (dl: the dead letter, JSON; TTL)
//
// sync_health reads the last 24 buckets with one query, whatever the
// size of the log.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/joinery/joinery/pkg/integration"
)

func healthPK(id string) string     { return "INT#" + id + "#HEALTH" }
func deadLetterPK(id string) string { return "INT#" + id + "#DLQ" }
func healthSK(t time.Time) string   { return integration.HealthHour(t).Format("2006-01-02T15") }

// healthPartitions are the partitions of an integration that this file,
// events.go and pushcount.go add: DeleteSyncData removes them too.
func healthPartitions(id string) []string {
	return []string{healthPK(id), deadLetterPK(id), eventStatusPK(id, "error"), eventStatusPK(id, "warning"), eventStatusPK(id, "ok"), "INT#" + id + "#PUSHCOUNT"}
}

// bucketUpdate adds counts to an hour's bucket.
func (s *Store) bucketUpdate(integrationID string, hour time.Time, counts map[string]int64) *types.Update {
	add, names, values := addUpdate("f_", counts)
	names["#x"] = "expires_at"
	values[":x"] = num(hour.Add(integration.HealthRetention).Unix())
	return &types.Update{TableName: &s.table, Key: pk(healthPK(integrationID), healthSK(hour)),
		UpdateExpression: aws.String("ADD " + add + " SET #x = :x"), ExpressionAttributeNames: names, ExpressionAttributeValues: values}
}

// countEvents adds the events HealthField names to their hours' buckets,
// one update per integration and hour (a call's events are most often of
// one integration and one hour).
func (s *Store) countEvents(ctx context.Context, evs []integration.SyncEvent) error {
	type bucket struct {
		id   string
		hour time.Time
	}
	sums := map[bucket]map[string]int64{}
	for _, e := range evs {
		f := integration.HealthField(e)
		if f == "" {
			continue
		}
		b := bucket{e.IntegrationID, integration.HealthHour(e.At)}
		if sums[b] == nil {
			sums[b] = map[string]int64{}
		}
		sums[b][f]++
	}
	for b, counts := range sums {
		u := s.bucketUpdate(b.id, b.hour, counts)
		if _, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: u.TableName, Key: u.Key, UpdateExpression: u.UpdateExpression,
			ExpressionAttributeNames: u.ExpressionAttributeNames, ExpressionAttributeValues: u.ExpressionAttributeValues}); err != nil {
			return fmt.Errorf("count in health bucket: %w", err)
		}
	}
	return nil
}

// HealthCounts queries the buckets from since's hour on: at most a
// bucket an hour, so one query for a day.
func (s *Store) HealthCounts(ctx context.Context, integrationID string, since time.Time) (integration.HealthCounts, error) {
	var h integration.HealthCounts
	in := &dynamodb.QueryInput{TableName: &s.table, KeyConditionExpression: aws.String("PK = :pk AND SK >= :from"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(healthPK(integrationID)), ":from": str(healthSK(since))}}
	err := s.queryAll(ctx, in, func(items []map[string]types.AttributeValue) error {
		for _, it := range items {
			for _, f := range []string{integration.HealthFailedRuns, integration.HealthFailedItems, integration.HealthFailedPushes,
				integration.HealthConflictPushes, integration.HealthDeadLetters} {
				h.Add(f, numAttr(it, "f_"+f))
			}
		}
		return nil
	})
	if err != nil {
		return h, fmt.Errorf("health counts: %w", err)
	}
	return h, nil
}

type deadLetterJSON struct {
	ID        string    `json:"id"`
	AccountID string    `json:"account_id,omitempty"`
	RunID     string    `json:"run_id,omitempty"`
	JobID     string    `json:"job_id,omitempty"`
	Kind      string    `json:"kind,omitempty"`
	Body      string    `json:"body"`
	Receives  int       `json:"receives,omitempty"`
	At        time.Time `json:"at"`
}

// KeepDeadLetter puts the dead letter, conditioned on its absence, and
// counts it in the same transaction.
func (s *Store) KeepDeadLetter(ctx context.Context, d integration.DeadLetter, counted bool) (bool, error) {
	b, err := json.Marshal(deadLetterJSON{d.ID, d.AccountID, d.RunID, d.JobID, d.Kind, d.Body, d.Receives, d.At})
	if err != nil {
		return false, err
	}
	item := pk(deadLetterPK(d.IntegrationID), d.ID)
	item["dl"], item["expires_at"] = str(string(b)), num(d.At.Add(integration.DeadLetterRetention).Unix())
	items := []types.TransactWriteItem{{Put: &types.Put{TableName: &s.table, Item: item, ConditionExpression: aws.String("attribute_not_exists(PK)")}}}
	if counted {
		items = append(items, types.TransactWriteItem{Update: s.bucketUpdate(d.IntegrationID, integration.HealthHour(d.At), map[string]int64{integration.HealthDeadLetters: 1})})
	}
	_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	if conditionFailedAt(err, 0) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("keep dead letter %s: %w", d.ID, err)
	}
	return true, nil
}

// DeadLetters reads one page of the integration's dead letters.
func (s *Store) DeadLetters(ctx context.Context, integrationID string, limit int) ([]integration.DeadLetter, error) {
	in := partition(deadLetterPK(integrationID))
	in.TableName, in.Limit = &s.table, aws.Int32(int32(max(limit, 1)))
	// Past their retention, TTL has yet to remove them: not replayed.
	in.FilterExpression = aws.String("expires_at > :now")
	in.ExpressionAttributeValues[":now"] = num(time.Now().Unix())
	out, err := s.db.Query(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("dead letters: %w", err)
	}
	dls := make([]integration.DeadLetter, 0, len(out.Items))
	for _, it := range out.Items {
		var j deadLetterJSON
		if err := json.Unmarshal([]byte(strAttr(it, "dl")), &j); err != nil {
			return nil, fmt.Errorf("decode dead letter: %w", err)
		}
		dls = append(dls, integration.DeadLetter{ID: j.ID, AccountID: j.AccountID, IntegrationID: integrationID, RunID: j.RunID, JobID: j.JobID,
			Kind: j.Kind, Body: j.Body, Receives: j.Receives, At: j.At})
	}
	return dls, nil
}

// TakeDeadLetter deletes it, conditioned on its presence: of two replays
// only one takes it.
func (s *Store) TakeDeadLetter(ctx context.Context, integrationID, id string) (bool, error) {
	_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &s.table, Key: pk(deadLetterPK(integrationID), id),
		ConditionExpression: aws.String("attribute_exists(PK)")})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("take dead letter %s: %w", id, err)
	}
	return true, nil
}
