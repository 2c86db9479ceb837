package dynamostore

// Push listing and conflict snapshots (PK / SK):
//
//	push (indexes)   GSI1: INT#<id>#PUSHLID#<local id> / <push id>   (by local id)
//	                 GSI2: INT#<id>#PUSHST#<status> / <push id>      (by status)
//	snapshot         INT#<id>#PUSHREMOTE / <push id>                 (modified_at, data or parts_hash+parts, gz)
//	snapshot part    INT#<id>#PUSHPART / <push id>#<parts hash>#<n>  (data too big for one item)
//
// A push's index attributes are written with the push and moved with
// its status by every update, in the same write. Pushes written by the
// previous release have none until their next update: the unfiltered
// listing reads the push partition itself and finds them all.

import (
	"context"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/joinery/joinery/pkg/integration"
)

// pushQueries bounds the queries of one page of pushes: a page whose
// filter matches little comes back short, with a cursor to go on.
const pushQueries = 4

func pushPK(id string) string                    { return "INT#" + id + "#PUSH" }
func pushLocalPK(id, localID string) string      { return "INT#" + id + "#PUSHLID#" + localID }
func pushStatusPK(id, status string) string      { return "INT#" + id + "#PUSHST#" + status }
func pushRemotePK(id string) string              { return "INT#" + id + "#PUSHREMOTE" }
func pushPartPK(id string) string                { return "INT#" + id + "#PUSHPART" }
func pushPartSK(push, hash string, n int) string { return fmt.Sprintf("%s#%s#%d", push, hash, n) }

// pushIndexValues are a push's index attributes.
func pushIndexValues(integrationID, pushID, localID string, status integration.PushStatus) map[string]string {
	v := map[string]string{"GSI2PK": pushStatusPK(integrationID, string(status)), "GSI2SK": pushID}
	if localID != "" {
		v["GSI1PK"], v["GSI1SK"] = pushLocalPK(integrationID, localID), pushID
	}
	return v
}

// indexPush sets a push item's index attributes.
func indexPush(item map[string]types.AttributeValue, integrationID, pushID, localID string, status integration.PushStatus) {
	for k, v := range pushIndexValues(integrationID, pushID, localID, status) {
		item[k] = str(v)
	}
}

// PagePushes queries the push partition (no filter), GSI2 (by status) or
// GSI1 (by local id, and status as a filter) newest first: push ids are
// ULIDs. The cursor is the last push id examined; the key it resumes at is
// rebuilt from the query, so a cursor cannot reach into another partition.
func (s *Store) PagePushes(ctx context.Context, q integration.PushQuery) ([]*integration.Push, string, error) {
	limit := max(q.Limit, 1)
	part, index := pushPK(q.IntegrationID), ""
	in := &dynamodb.QueryInput{TableName: &s.table, ScanIndexForward: aws.Bool(false)}
	switch {
	case q.LocalID != "":
		part, index = pushLocalPK(q.IntegrationID, q.LocalID), "GSI1"
		if q.Status != "" {
			in.FilterExpression = aws.String("#s = :s")
			in.ExpressionAttributeNames = map[string]string{"#s": "status"}
		}
	case q.Status != "":
		part, index = pushStatusPK(q.IntegrationID, string(q.Status)), "GSI2"
	}
	values := map[string]types.AttributeValue{":pk": str(part)}
	if in.FilterExpression != nil {
		values[":s"] = str(string(q.Status))
	}
	in.ExpressionAttributeValues = values
	startAt := func(pushID string) map[string]types.AttributeValue { return pk(part, pushID) }
	if index == "" {
		in.KeyConditionExpression = aws.String("PK = :pk")
		in.ConsistentRead = aws.Bool(true)
	} else {
		in.IndexName = aws.String(index)
		in.KeyConditionExpression = aws.String(index + "PK = :pk")
		startAt = func(pushID string) map[string]types.AttributeValue {
			k := pk(pushPK(q.IntegrationID), pushID)
			k[index+"PK"], k[index+"SK"] = str(part), str(pushID)
			return k
		}
	}
	if q.Cursor != "" {
		id, err := base64.RawURLEncoding.DecodeString(q.Cursor)
		if err != nil || len(id) == 0 || len(id) > 128 {
			return nil, "", badCursor()
		}
		in.ExclusiveStartKey = startAt(string(id))
	}
	out := []*integration.Push{}
	last, more := "", false
	for range pushQueries {
		// One more than the page needs: whether another page follows is
		// known without an empty last one.
		in.Limit = aws.Int32(int32(limit - len(out) + 1))
		page, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, "", fmt.Errorf("list pushes: %w", err)
		}
		for _, it := range page.Items {
			if len(out) == limit {
				more = true
				break
			}
			last = strAttr(it, "SK")
			if expired(it) {
				continue
			}
			p, err := pushFromItem(q.IntegrationID, it)
			if err != nil {
				return nil, "", err
			}
			out = append(out, p)
		}
		if more || len(page.LastEvaluatedKey) == 0 {
			break
		}
		// Cut short by the filter, the limit or DynamoDB's 1 MB bound.
		last, more = strAttr(page.LastEvaluatedKey, "SK"), true
		if len(out) == limit {
			break
		}
		in.ExclusiveStartKey = startAt(last)
	}
	next := ""
	if more && last != "" {
		next = base64.RawURLEncoding.EncodeToString([]byte(last))
	}
	return out, next, nil
}

// SavePushRemote writes the snapshot's parts, if any, then the item that
// names them, refused once the integration's sync data was purged; the
// parts of a snapshot it replaces are deleted after.
func (s *Store) SavePushRemote(ctx context.Context, integrationID, pushID string, r integration.PushRemote) error {
	stored, gz, parts, err := encodeData(r.Data)
	if err != nil {
		return err
	}
	old, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: pk(pushRemotePK(integrationID), pushID), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return fmt.Errorf("read push snapshot: %w", err)
	}
	item := pk(pushRemotePK(integrationID), pushID)
	item["modified_at"], item["gz"] = str(r.ModifiedAt.UTC().Format(time.RFC3339Nano)), &types.AttributeValueMemberBOOL{Value: gz}
	item["parts"] = num(int64(len(parts)))
	if len(parts) > 0 {
		hash := partsDigest(parts, time.Now().UTC().Format(time.RFC3339Nano))
		item["parts_hash"] = str(hash)
		reqs := make([]types.WriteRequest, 0, len(parts))
		for n, p := range parts {
			part := pk(pushPartPK(integrationID), pushPartSK(pushID, hash, n))
			part["data"] = &types.AttributeValueMemberB{Value: p}
			reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: part}})
		}
		if err := s.batchWrite(ctx, reqs); err != nil {
			return fmt.Errorf("write push snapshot parts: %w", err)
		}
	} else {
		item["data"] = &types.AttributeValueMemberB{Value: stored}
	}
	_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		s.purgedCheck(integrationID),
		{Put: &types.Put{TableName: &s.table, Item: item}},
	}})
	if conditionFailedAt(err, 0) {
		return integration.ErrRunStopped
	}
	if err != nil {
		return fmt.Errorf("write push snapshot: %w", err)
	}
	if strAttr(old.Item, "parts_hash") != "" {
		_ = s.deletePushParts(context.WithoutCancel(ctx), integrationID, pushID, old.Item) // a leftover part costs storage only
	}
	return nil
}

func (s *Store) deletePushParts(ctx context.Context, integrationID, pushID string, it map[string]types.AttributeValue) error {
	var reqs []types.WriteRequest
	for n := range int(numAttr(it, "parts")) {
		reqs = append(reqs, types.WriteRequest{DeleteRequest: &types.DeleteRequest{
			Key: pk(pushPartPK(integrationID), pushPartSK(pushID, strAttr(it, "parts_hash"), n))}})
	}
	return s.batchWrite(ctx, reqs)
}

// GetPushRemote reads the snapshot and its parts.
func (s *Store) GetPushRemote(ctx context.Context, integrationID, pushID string) (*integration.PushRemote, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: pk(pushRemotePK(integrationID), pushID), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, fmt.Errorf("get push snapshot: %w", err)
	}
	if out.Item == nil {
		return nil, integration.Errorf(integration.ENOTFOUND, "Push %q has no snapshot of the platform's version.", pushID)
	}
	var stored []byte
	if n := int(numAttr(out.Item, "parts")); n > 0 {
		for i := range n {
			part, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, ConsistentRead: aws.Bool(true),
				Key: pk(pushPartPK(integrationID), pushPartSK(pushID, strAttr(out.Item, "parts_hash"), i))})
			if err != nil {
				return nil, fmt.Errorf("get push snapshot part: %w", err)
			}
			b, ok := part.Item["data"].(*types.AttributeValueMemberB)
			if !ok {
				return nil, fmt.Errorf("push %s snapshot: part %d of %d is missing", pushID, i+1, n)
			}
			stored = append(stored, b.Value...)
		}
	} else if b, ok := out.Item["data"].(*types.AttributeValueMemberB); ok {
		stored = b.Value
	}
	data, err := decodeData(stored, boolAttr(out.Item, "gz"))
	if err != nil {
		return nil, fmt.Errorf("push %s snapshot: %w", pushID, err)
	}
	r := &integration.PushRemote{Data: data}
	if t, err := time.Parse(time.RFC3339Nano, strAttr(out.Item, "modified_at")); err == nil {
		r.ModifiedAt = t
	}
	return r, nil
}

// DeletePushRemote deletes the snapshot item, then its parts.
func (s *Store) DeletePushRemote(ctx context.Context, integrationID, pushID string) error {
	out, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &s.table, Key: pk(pushRemotePK(integrationID), pushID),
		ReturnValues: types.ReturnValueAllOld})
	if err != nil {
		return fmt.Errorf("delete push snapshot: %w", err)
	}
	if err := s.deletePushParts(ctx, integrationID, pushID, out.Attributes); err != nil {
		return fmt.Errorf("delete push snapshot parts: %w", err)
	}
	return nil
}
