package dynamostore

// Pending pushes are counted exactly, in an item of their own
//
//	pending count  INT#<id>#PUSHCOUNT / PUSHCOUNT   (q_pushes)
//
// by every write that moves a push into or out of queued, in the same
// transaction. (Not in the records' counts item: the record writes of a
// sync would keep cancelling the pushes' transactions.) A push the previous release created is not in the count
// and is marked so (no pc attribute): its changes leave the count alone.

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

// pendingCounted marks a push that is in the pending count.
const pendingCounted = "pc"

// pendingPushDelta adds n to the pending count if status is queued (a
// no-op check on the counts item otherwise, so the transaction's shape
// does not depend on it).
func pendingKey(id string) map[string]types.AttributeValue {
	return pk("INT#"+id+"#PUSHCOUNT", "PUSHCOUNT")
}

// txConflict reports whether a transaction was cancelled because another
// one touched the same items at once: worth trying again.
func txConflict(err error) bool {
	var tce *types.TransactionCanceledException
	if !errors.As(err, &tce) {
		return false
	}
	for _, r := range tce.CancellationReasons {
		if aws.ToString(r.Code) == "TransactionConflict" {
			return true
		}
	}
	return false
}

func pendingPushDelta(table *string, integrationID string, status integration.PushStatus, n int64) types.TransactWriteItem {
	if status != integration.PushQueued {
		n = 0
	}
	return types.TransactWriteItem{Update: &types.Update{TableName: table, Key: pendingKey(integrationID),
		UpdateExpression: aws.String("ADD q_pushes :n"), ExpressionAttributeValues: map[string]types.AttributeValue{":n": num(n)}}}
}

// UpdatePush sets the push's outcome, conditioned on the status it read,
// and moves the pending count with it.
func (s *Store) UpdatePush(ctx context.Context, p *integration.Push) error {
	for attempt := 0; attempt < putRetries; attempt++ {
		out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: pushKey(p.IntegrationID, p.ID), ConsistentRead: aws.Bool(true),
			ProjectionExpression: aws.String("#s, #c"), ExpressionAttributeNames: map[string]string{"#s": "status", "#c": pendingCounted}})
		if err != nil {
			return fmt.Errorf("update push: %w", err)
		}
		if out.Item == nil {
			return integration.Errorf(integration.ENOTFOUND, "Push %q not found.", p.ID)
		}
		old := strAttr(out.Item, "status")
		var delta int64
		if boolAttr(out.Item, pendingCounted) {
			if old == string(integration.PushQueued) {
				delta--
			}
			if p.Status == integration.PushQueued {
				delta++
			}
		}
		// A done or failed push expires (TTL) by its outcome; one queued
		// or in conflict does not.
		set := "SET #s = :s, external_id = :x, #e = :e, updated_at = :u"
		values := map[string]types.AttributeValue{":s": str(string(p.Status)), ":x": str(p.ExternalID), ":e": str(p.Error),
			":u": str(p.UpdatedAt.UTC().Format(time.RFC3339Nano)), ":old": str(old)}
		// The indexes follow the status (and index a push of the previous
		// release from its first update on).
		for k, v := range pushIndexValues(p.IntegrationID, p.ID, p.LocalID, p.Status) {
			set += ", " + k + " = :" + k
			values[":"+k] = str(v)
		}
		at := p.ExpiresAt()
		if !at.IsZero() {
			set += ", expires_at = :exp"
			values[":exp"] = num(at.Unix())
		} else {
			set += " REMOVE expires_at"
		}
		items := []types.TransactWriteItem{{Update: &types.Update{TableName: &s.table, Key: pushKey(p.IntegrationID, p.ID),
			UpdateExpression:          aws.String(set),
			ConditionExpression:       aws.String("#s = :old"),
			ExpressionAttributeNames:  map[string]string{"#s": "status", "#e": "error"},
			ExpressionAttributeValues: values}}}
		if delta != 0 {
			items = append(items, pendingPushDelta(&s.table, p.IntegrationID, integration.PushQueued, delta))
		}
		if ev, err := pushEventItem(&s.table, p, old); err != nil || ev != nil {
			if err != nil {
				return err
			}
			items = append(items, *ev)
		}
		_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
		if err == nil {
			return s.expireSeq(ctx, p, at)
		}
		var tce *types.TransactionCanceledException
		if !errors.As(err, &tce) {
			return fmt.Errorf("update push: %w", err)
		}
		// Changed (or deleted) since it was read: read it again.
		if err := s.pause(ctx, backoff(attempt)); err != nil {
			return err
		}
	}
	return integration.Errorf(integration.ECONFLICT, "Push %q kept changing; try again.", p.ID)
}

// expireSeq gives a push's seq entry the push's expiry: it is read only
// to apply pushes still queued, so it goes with its push.
func (s *Store) expireSeq(ctx context.Context, p *integration.Push, at time.Time) error {
	in := &dynamodb.UpdateItemInput{TableName: &s.table, Key: pushSeqKey(p.IntegrationID, p.Model, p.LocalID, p.Seq),
		UpdateExpression: aws.String("REMOVE expires_at"), ConditionExpression: aws.String("attribute_exists(PK)")}
	if !at.IsZero() {
		in.UpdateExpression = aws.String("SET expires_at = :exp")
		in.ExpressionAttributeValues = map[string]types.AttributeValue{":exp": num(at.Unix())}
	}
	var ccf *types.ConditionalCheckFailedException
	if _, err := s.db.UpdateItem(ctx, in); err != nil && !errors.As(err, &ccf) {
		return fmt.Errorf("update push seq: %w", err)
	}
	return nil
}

// PendingPushes reads the pending count: one read, whatever the number
// of pushes.
func (s *Store) PendingPushes(ctx context.Context, integrationID string) (int, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: pendingKey(integrationID), ConsistentRead: aws.Bool(true),
		ProjectionExpression: aws.String("q_pushes")})
	if err != nil {
		return 0, fmt.Errorf("pending pushes: %w", err)
	}
	return int(max(numAttr(out.Item, "q_pushes"), 0)), nil
}
