package dynamostore

// Health items (PK / SK):
//
//	health bucket  INT#<id>#HEALTH / <hour, 2006-01-02T15>   (f_<field>: counts; TTL)
//	counted key    INT#<id>#HEALTHKEY / <count key>          (an event counted; TTL as its bucket)
//	dead letter    INT#<id>#DLQ / <message id>               (dl: the dead letter, JSON; TTL)
//
// sync_health reads the last 24 buckets with one query, whatever the
// size of the log.

import (
	"cmp"
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

func healthPK(id string) string        { return "INT#" + id + "#HEALTH" }
func deadLetterPK(id string) string    { return "INT#" + id + "#DLQ" }
func healthSK(t time.Time) string      { return integration.HealthHour(t).Format("2006-01-02T15") }
func healthCountedPK(id string) string { return "INT#" + id + "#HEALTHKEY" }

// healthPartitions are the partitions of an integration that this file,
// events.go and pushcount.go add: DeleteSyncData removes them too.
func healthPartitions(id string) []string {
	return []string{healthPK(id), healthCountedPK(id), deadLetterPK(id), eventStatusPK(id, "error"), eventStatusPK(id, "warning"), eventStatusPK(id, "ok"), "INT#" + id + "#PUSHCOUNT",
		webhookCountPK(id)}
}

// bucketUpdate adds counts to an hour's bucket.
func (s *Store) bucketUpdate(integrationID string, hour time.Time, counts map[string]int64) *types.Update {
	add, names, values := addUpdate("f_", counts)
	names["#x"] = "expires_at"
	values[":x"] = num(hour.Add(integration.HealthRetention).Unix())
	return &types.Update{TableName: &s.table, Key: pk(healthPK(integrationID), healthSK(hour)),
		UpdateExpression: aws.String("ADD " + add + " SET #x = :x"), ExpressionAttributeNames: names, ExpressionAttributeValues: values}
}

// countsPerTransaction is how many count keys one transaction takes: a
// marker each and at most as many bucket updates, within the 100 items
// of a transaction.
const countsPerTransaction = 50

// A counted event to count: its marker's key and its bucket.
type countedEvent struct {
	id, key, field string
	hour           time.Time
}

// countEvents adds the events HealthField names to their hours' buckets,
// each count key (the event's ID when it has none) once: a transaction
// puts a marker per key, conditioned on its absence, and adds to the
// buckets, one update per integration and hour. A key counted already
// cancels it; it goes again without that key. So AddEvents retried, or a
// redelivered job logging its failures anew under the same keys, counts
// nothing twice.
func (s *Store) countEvents(ctx context.Context, evs []integration.SyncEvent) error {
	var todo []countedEvent
	seen := map[[2]string]bool{}
	for _, e := range evs {
		f := integration.HealthField(e)
		if f == "" {
			continue
		}
		k := [2]string{e.IntegrationID, cmp.Or(e.CountKey, e.ID)}
		if seen[k] {
			continue // a transaction may not name an item twice
		}
		seen[k] = true
		todo = append(todo, countedEvent{id: e.IntegrationID, key: k[1], field: f, hour: integration.HealthHour(e.At)})
	}
	for len(todo) > 0 {
		n := min(len(todo), countsPerTransaction)
		if err := s.countOnce(ctx, todo[:n]); err != nil {
			return fmt.Errorf("count in health bucket: %w", err)
		}
		todo = todo[n:]
	}
	return nil
}

// countOnce counts evs whose keys are not counted yet, in one
// transaction (one more for each cancellation).
func (s *Store) countOnce(ctx context.Context, evs []countedEvent) error {
	for attempt := 0; len(evs) > 0; attempt++ {
		type bucket struct {
			id   string
			hour time.Time
		}
		sums := map[bucket]map[string]int64{}
		var order []bucket
		items := make([]types.TransactWriteItem, 0, 2*len(evs))
		for _, e := range evs {
			marker := pk(healthCountedPK(e.id), e.key)
			marker["expires_at"] = num(e.hour.Add(integration.HealthRetention).Unix())
			items = append(items, types.TransactWriteItem{Put: &types.Put{TableName: &s.table, Item: marker,
				ConditionExpression: aws.String("attribute_not_exists(PK)")}})
			b := bucket{e.id, e.hour}
			if sums[b] == nil {
				sums[b] = map[string]int64{}
				order = append(order, b)
			}
			sums[b][e.field]++
		}
		for _, b := range order {
			items = append(items, types.TransactWriteItem{Update: s.bucketUpdate(b.id, b.hour, sums[b])})
		}
		_, err := s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
		if err == nil {
			return nil
		}
		if txConflict(err) && attempt < putRetries {
			if err := s.pause(ctx, backoff(attempt)); err != nil {
				return err
			}
			continue
		}
		var left []countedEvent
		for i, e := range evs {
			if !conditionFailedAt(err, i) {
				left = append(left, e)
			}
		}
		if len(left) == len(evs) {
			return err
		}
		evs = left
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
