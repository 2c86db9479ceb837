package dynamostore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/joinery/joinery/pkg/integration"
)

// Seed is for request-count tests and benchmarks, not the product: it
// writes n small records of model (counted), n events (every tenth an
// item_failed error, every 25th a schedule warning) and n queued pushes
// for an integration of site, in this release's formats (the records in
// the site feed too), with BatchWriteItem —
// the way to fill a table with 100,000 of each in minutes. It returns
// the id of one push.
func (s *Store) Seed(ctx context.Context, accountID, siteID, integrationID, model string, n int, at time.Time) (string, error) {
	reqs := make([]types.WriteRequest, 0, 3*n)
	put := func(item map[string]types.AttributeValue) {
		reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: item}})
	}
	var evs []integration.SyncEvent
	pushID := ""
	for i := range n {
		ext := fmt.Sprint(i + 1)
		changed := at.Add(time.Duration(i) * time.Millisecond)
		data, _ := json.Marshal(map[string]any{"external_id": ext, "type": model, "title": "Post " + ext, "status": "publish"})
		sum := sha256.Sum256(data)
		w := &recWrite{rec: integration.StoredRecord{IntegrationID: integrationID, Model: model, ExternalID: ext, Hash: hex.EncodeToString(sum[:8]),
			Data: data, ChangedAt: changed, ModifiedAt: changed}, sk: recSK(model, ext), site: &integration.SiteRef{AccountID: accountID, SiteID: siteID}}
		if err := w.encode(); err != nil {
			return "", err
		}
		put(w.item(integrationID))

		e := integration.SyncEvent{ID: fmt.Sprintf("%s%010d", integration.NewID()[:16], i), IntegrationID: integrationID, RunID: "seed",
			Type: "page", Status: "ok", Model: model, ExternalID: ext, Message: "seeded", At: changed}
		switch {
		case i%10 == 0:
			e.Type, e.Status = "item_failed", "error"
		case i%25 == 1:
			e.Type, e.Status = "schedule", "warning"
		}
		evs = append(evs, e)

		id := fmt.Sprintf("%s%010d", integration.NewID()[:16], i)
		pushID = id
		b, _ := json.Marshal(pushJSON{id, accountID, model, "local-" + ext, 1, []byte(`{"title":"x"}`), at})
		item := pushKey(integrationID, id)
		item["push"], item["status"], item["updated_at"] = str(string(b)), str(string(integration.PushQueued)), str(at.UTC().Format(time.RFC3339Nano))
		item[pendingCounted] = &types.AttributeValueMemberBOOL{Value: true}
		indexPush(item, integrationID, id, "local-"+ext, integration.PushQueued)
		put(item)
	}
	// Several writers at once: a single one waits on every round trip.
	if err := inParallel(len(reqs), 1000, func(from, to int) error { return s.batchWrite(ctx, reqs[from:to]) }); err != nil {
		return "", fmt.Errorf("seed: %w", err)
	}
	if err := inParallel(len(evs), 1000, func(from, to int) error { return s.AddEvents(ctx, evs[from:to]) }); err != nil {
		return "", fmt.Errorf("seed: %w", err)
	}
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: &s.table, Key: countKey(integrationID),
		UpdateExpression: aws.String("ADD #n :n"), ExpressionAttributeNames: map[string]string{"#n": "n_" + model},
		ExpressionAttributeValues: map[string]types.AttributeValue{":n": num(int64(n))}})
	if err == nil {
		_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: &s.table, Key: pendingKey(integrationID),
			UpdateExpression: aws.String("ADD q_pushes :n"), ExpressionAttributeValues: map[string]types.AttributeValue{":n": num(int64(n))}})
	}
	if err != nil {
		return "", fmt.Errorf("seed counts: %w", err)
	}
	return pushID, nil
}

// seedWriters is how many writers Seed runs at once.
const seedWriters = 8

// inParallel calls write on [0, n) in chunks of size, seedWriters at a
// time, and returns the first error.
func inParallel(n, size int, write func(from, to int) error) error {
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
		next  atomic.Int64
	)
	for range seedWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				from := int(next.Add(int64(size))) - size
				if from >= n {
					return
				}
				if err := write(from, min(from+size, n)); err != nil {
					once.Do(func() { first = err })
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}
