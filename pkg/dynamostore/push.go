package dynamostore

// Push items (PK / SK):
//
//	push      INT#<id>#PUSH / <push id>                       (status, seq, data…; TTL: 7 days after done, 30 after failed)
//	push seq  INT#<id>#PUSHSEQ / <model>#<local id>#<seq>     (push_id; TTL: its push's)
//	mapping   INT#<id>#MAP / <model>#<local id>               (external_id, next_seq, applied_seq, lease)

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/joinery/joinery/pkg/integration"
)

func pushKey(id, push string) map[string]types.AttributeValue { return pk("INT#"+id+"#PUSH", push) }
func pushSeqKey(id, model, local string, seq int64) map[string]types.AttributeValue {
	return pk("INT#"+id+"#PUSHSEQ", fmt.Sprintf("%s#%s#%012d", model, local, seq))
}
func mapKey(id, model, local string) map[string]types.AttributeValue {
	return pk("INT#"+id+"#MAP", model+"#"+local)
}

type pushJSON struct {
	ID        string    `json:"id"`
	AccountID string    `json:"account_id"`
	Model     string    `json:"model"`
	LocalID   string    `json:"local_id"`
	Seq       int64     `json:"seq"`
	Data      []byte    `json:"data"`
	CreatedAt time.Time `json:"created_at"`
}

func (s *Store) getMapping(ctx context.Context, integrationID, model, localID string) (map[string]types.AttributeValue, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: mapKey(integrationID, model, localID), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, fmt.Errorf("get mapping: %w", err)
	}
	return out.Item, nil
}

// CreatePush reads the mapping's next_seq and, in one transaction, moves it
// on (if unchanged) and writes the push and its seq entry; a concurrent
// push of the same local id makes it read again.
func (s *Store) CreatePush(ctx context.Context, p *integration.Push) error {
	for attempt := 0; attempt < 30; attempt++ {
		if attempt > 0 {
			// Another push of the same local id won: wait a little, at random.
			if err := s.pause(ctx, time.Duration(rand.IntN(10*min(attempt, 10))+1)*time.Millisecond); err != nil {
				return fmt.Errorf("create push: %w", err)
			}
		}
		m, err := s.getMapping(ctx, p.IntegrationID, p.Model, p.LocalID)
		if err != nil {
			return err
		}
		prev := numAttr(m, "next_seq")
		p.Seq = prev + 1
		b, err := json.Marshal(pushJSON{p.ID, p.AccountID, p.Model, p.LocalID, p.Seq, p.Data, p.CreatedAt})
		if err != nil {
			return err
		}
		item := pushKey(p.IntegrationID, p.ID)
		item["push"], item["status"], item["updated_at"] = str(string(b)), str(string(p.Status)), str(p.UpdatedAt.UTC().Format(time.RFC3339Nano))
		item[pendingCounted] = &types.AttributeValueMemberBOOL{Value: true}
		indexPush(item, p.IntegrationID, p.ID, p.LocalID, p.Status)
		seq := pushSeqKey(p.IntegrationID, p.Model, p.LocalID, p.Seq)
		seq["push_id"] = str(p.ID)
		cond := "next_seq = :prev"
		if prev == 0 {
			cond = "attribute_not_exists(next_seq)"
		}
		_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
			{Update: &types.Update{TableName: &s.table, Key: mapKey(p.IntegrationID, p.Model, p.LocalID),
				UpdateExpression: aws.String("SET next_seq = :next"), ConditionExpression: aws.String(cond),
				ExpressionAttributeValues: seqValues(p.Seq, prev)}},
			{Put: &types.Put{TableName: &s.table, Item: item, ConditionExpression: aws.String("attribute_not_exists(PK)")}},
			{Put: &types.Put{TableName: &s.table, Item: seq}},
			pendingPushDelta(&s.table, p.IntegrationID, p.Status, 1),
		}})
		if conditionFailedAt(err, 0) || txConflict(err) {
			continue
		}
		if conditionFailedAt(err, 1) {
			// Push ids are fresh ULIDs: one that exists is this very push,
			// written by an attempt whose answer was lost.
			if stored, gerr := s.GetPush(ctx, p.IntegrationID, p.ID); gerr == nil && stored.LocalID == p.LocalID {
				p.Seq = stored.Seq
				return nil
			}
			return integration.Errorf(integration.ECONFLICT, "Push %q already exists.", p.ID)
		}
		if err != nil {
			return fmt.Errorf("create push: %w", err)
		}
		return nil
	}
	return integration.Errorf(integration.ECONFLICT, "Too many pushes of %q at once; try again.", p.LocalID)
}

func pushFromItem(integrationID string, it map[string]types.AttributeValue) (*integration.Push, error) {
	var j pushJSON
	if err := json.Unmarshal([]byte(strAttr(it, "push")), &j); err != nil {
		return nil, fmt.Errorf("decode push: %w", err)
	}
	p := &integration.Push{ID: j.ID, AccountID: j.AccountID, IntegrationID: integrationID, Model: j.Model, LocalID: j.LocalID, Seq: j.Seq,
		Data: j.Data, Status: integration.PushStatus(strAttr(it, "status")), ExternalID: strAttr(it, "external_id"), Error: strAttr(it, "error"), CreatedAt: j.CreatedAt}
	if t, err := time.Parse(time.RFC3339Nano, strAttr(it, "updated_at")); err == nil {
		p.UpdatedAt = t
	}
	return p, nil
}

// GetPush reads one push.
func (s *Store) GetPush(ctx context.Context, integrationID, pushID string) (*integration.Push, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: pushKey(integrationID, pushID), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, fmt.Errorf("get push: %w", err)
	}
	if out.Item == nil || expired(out.Item) {
		return nil, integration.Errorf(integration.ENOTFOUND, "Push %q not found.", pushID)
	}
	return pushFromItem(integrationID, out.Item)
}

// PushBySeq reads the seq entry, then the push.
func (s *Store) PushBySeq(ctx context.Context, integrationID, model, localID string, seq int64) (*integration.Push, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: pushSeqKey(integrationID, model, localID, seq), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, fmt.Errorf("push by seq: %w", err)
	}
	if out.Item == nil {
		return nil, integration.Errorf(integration.ENOTFOUND, "No push %d for %s %q.", seq, model, localID)
	}
	return s.GetPush(ctx, integrationID, strAttr(out.Item, "push_id"))
}

// GetMapping reads a local id's mapping, strongly consistent.
func (s *Store) GetMapping(ctx context.Context, integrationID, model, localID string) (*integration.Mapping, error) {
	it, err := s.getMapping(ctx, integrationID, model, localID)
	if err != nil {
		return nil, err
	}
	if it == nil {
		return nil, integration.Errorf(integration.ENOTFOUND, "No mapping of %s %q.", model, localID)
	}
	return mappingFromItem(integrationID, model, localID, it), nil
}

// expired reports whether an item is past its expires_at (DynamoDB's TTL
// removes it within days, not at once).
func expired(it map[string]types.AttributeValue) bool {
	at := numAttr(it, "expires_at")
	return at > 0 && at <= time.Now().Unix()
}

func mappingFromItem(integrationID, model, localID string, it map[string]types.AttributeValue) *integration.Mapping {
	m := &integration.Mapping{IntegrationID: integrationID, Model: model, LocalID: localID, ExternalID: strAttr(it, "external_id"),
		AppliedSeq: numAttr(it, "applied_seq"), NextSeq: numAttr(it, "next_seq"), ImageURL: strAttr(it, "image_url"), ImageID: strAttr(it, "image_id")}
	if t, err := time.Parse(time.RFC3339Nano, strAttr(it, "remote_modified")); err == nil {
		m.RemoteModified = t
	}
	return m
}

// LeaseMapping sets the lease unless another owner's is unexpired.
func (s *Store) LeaseMapping(ctx context.Context, integrationID, model, localID, owner string, until time.Time) (*integration.Mapping, bool, error) {
	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: &s.table, Key: mapKey(integrationID, model, localID),
		UpdateExpression:          aws.String("SET lease_owner = :o, lease_until = :u"),
		ConditionExpression:       aws.String("attribute_not_exists(lease_owner) OR lease_owner = :o OR lease_owner = :none OR lease_until < :now"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":o": str(owner), ":u": num(until.UnixMilli()), ":none": str(""), ":now": num(time.Now().UnixMilli())},
		ReturnValues:              types.ReturnValueAllNew})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("lease mapping: %w", err)
	}
	return mappingFromItem(integrationID, model, localID, out.Attributes), true, nil
}

// SaveMapping stores the outcome if owner holds the lease.
func (s *Store) SaveMapping(ctx context.Context, m *integration.Mapping, owner string) error {
	remote := ""
	if !m.RemoteModified.IsZero() {
		remote = m.RemoteModified.UTC().Format(time.RFC3339Nano)
	}
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: &s.table, Key: mapKey(m.IntegrationID, m.Model, m.LocalID),
		UpdateExpression:    aws.String("SET external_id = :x, applied_seq = :a, remote_modified = :r, image_url = :iu, image_id = :ii"),
		ConditionExpression: aws.String("lease_owner = :o"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":x": str(m.ExternalID), ":a": num(m.AppliedSeq), ":r": str(remote), ":o": str(owner),
			":iu": str(m.ImageURL), ":ii": str(m.ImageID)}})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return integration.Errorf(integration.EPRECONDITIONFAILED, "The mapping's lease was lost.")
	}
	if err != nil {
		return fmt.Errorf("save mapping: %w", err)
	}
	return nil
}

// ReleaseMapping clears owner's lease.
func (s *Store) ReleaseMapping(ctx context.Context, integrationID, model, localID, owner string) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: &s.table, Key: mapKey(integrationID, model, localID),
		UpdateExpression: aws.String("SET lease_owner = :none"), ConditionExpression: aws.String("lease_owner = :o"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":o": str(owner), ":none": str("")}})
	var ccf *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &ccf) {
		return fmt.Errorf("release mapping: %w", err)
	}
	return nil
}

func seqValues(next, prev int64) map[string]types.AttributeValue {
	v := map[string]types.AttributeValue{":next": num(next)}
	if prev > 0 {
		v[":prev"] = num(prev)
	}
	return v
}

// ListPushes queries the integration's pushes, filtered by status.
func (s *Store) ListPushes(ctx context.Context, integrationID string, statuses ...integration.PushStatus) ([]*integration.Push, error) {
	values := map[string]types.AttributeValue{":pk": str("INT#" + integrationID + "#PUSH")}
	var names []string
	for i, st := range statuses {
		k := fmt.Sprintf(":s%d", i)
		values[k] = str(string(st))
		names = append(names, k)
	}
	in := &dynamodb.QueryInput{TableName: &s.table, KeyConditionExpression: aws.String("PK = :pk"), ConsistentRead: aws.Bool(true),
		ExpressionAttributeValues: values}
	if len(names) > 0 {
		in.FilterExpression = aws.String("#s IN (" + strings.Join(names, ", ") + ")")
		in.ExpressionAttributeNames = map[string]string{"#s": "status"}
	}
	var out []*integration.Push
	err := s.queryAll(ctx, in, func(items []map[string]types.AttributeValue) error {
		for _, it := range items {
			if expired(it) {
				continue
			}
			p, err := pushFromItem(integrationID, it)
			if err != nil {
				return err
			}
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list pushes: %w", err)
	}
	return out, nil
}
