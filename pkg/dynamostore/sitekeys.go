package dynamostore

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/joinery/joinery/pkg/integration"
)

type siteKeyItem struct {
	PK        string     `dynamodbav:"PK"`
	SK        string     `dynamodbav:"SK"`
	GSI1PK    string     `dynamodbav:"GSI1PK"`
	GSI1SK    string     `dynamodbav:"GSI1SK"`
	Entity    string     `dynamodbav:"entity"`
	ID        string     `dynamodbav:"id"`
	AccountID string     `dynamodbav:"account_id"`
	SiteID    string     `dynamodbav:"site_id"`
	Name      string     `dynamodbav:"name,omitempty"`
	Hash      string     `dynamodbav:"hash"`
	Hint      string     `dynamodbav:"hint"`
	CreatedAt time.Time  `dynamodbav:"created_at"`
	CreatedBy string     `dynamodbav:"created_by,omitempty"`
	RevokedAt *time.Time `dynamodbav:"revoked_at,omitempty"`
}

func siteKeyKey(id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"PK": str("SITEKEY#" + id), "SK": str("SITEKEY")}
}

func siteKeyFromItem(av map[string]types.AttributeValue) (*integration.SiteKey, error) {
	var it siteKeyItem
	if err := attributevalue.UnmarshalMap(av, &it); err != nil {
		return nil, fmt.Errorf("decode site key: %w", err)
	}
	return &integration.SiteKey{ID: it.ID, AccountID: it.AccountID, SiteID: it.SiteID, Name: it.Name, Hash: it.Hash,
		Hint: it.Hint, CreatedAt: it.CreatedAt, CreatedBy: it.CreatedBy, RevokedAt: it.RevokedAt}, nil
}

// CreateSiteKey puts the key if its id is free.
func (s *Store) CreateSiteKey(ctx context.Context, k *integration.SiteKey) error {
	av, err := attributevalue.MarshalMap(siteKeyItem{
		PK: "SITEKEY#" + k.ID, SK: "SITEKEY", GSI1PK: sitePK(k.AccountID, k.SiteID), GSI1SK: "KEY#" + k.ID,
		Entity: "site_key", ID: k.ID, AccountID: k.AccountID, SiteID: k.SiteID, Name: k.Name, Hash: k.Hash,
		Hint: k.Hint, CreatedAt: k.CreatedAt, CreatedBy: k.CreatedBy, RevokedAt: k.RevokedAt,
	})
	if err != nil {
		return fmt.Errorf("encode site key %s: %w", k.ID, err)
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: av, ConditionExpression: aws.String("attribute_not_exists(PK)")})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		out, gerr := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: siteKeyKey(k.ID), ConsistentRead: aws.Bool(true)})
		if gerr == nil && reflect.DeepEqual(out.Item, av) {
			return nil // a retried create that had succeeded
		}
		return integration.Errorf(integration.ECONFLICT, "Site key %q already exists.", k.ID)
	}
	if err != nil {
		return fmt.Errorf("create site key %s: %w", k.ID, err)
	}
	return nil
}

// GetSiteKey reads a key by id, strongly consistent, so a revocation holds
// from the moment it is answered.
func (s *Store) GetSiteKey(ctx context.Context, id string) (*integration.SiteKey, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: siteKeyKey(id), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, fmt.Errorf("get site key %s: %w", id, err)
	}
	if out.Item == nil {
		return nil, integration.Errorf(integration.ENOTFOUND, "Site key %q not found.", id)
	}
	return siteKeyFromItem(out.Item)
}

// ListSiteKeys queries GSI1 under the site's partition.
func (s *Store) ListSiteKeys(ctx context.Context, q integration.SiteKeyQuery) ([]*integration.SiteKey, string, error) {
	in := &dynamodb.QueryInput{
		TableName: &s.table, IndexName: aws.String("GSI1"), Limit: aws.Int32(int32(q.Limit)),
		KeyConditionExpression: aws.String("GSI1PK = :pk AND begins_with(GSI1SK, :prefix)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": str(sitePK(q.AccountID, q.SiteID)), ":prefix": str("KEY#"),
		},
	}
	if q.Cursor != "" {
		raw, err := base64.RawURLEncoding.DecodeString(q.Cursor)
		id := string(raw)
		if err != nil || id == "" || len(id) > 128 || strings.Contains(id, "#") {
			return nil, "", badCursor()
		}
		in.ExclusiveStartKey = map[string]types.AttributeValue{"GSI1PK": str(sitePK(q.AccountID, q.SiteID)), "GSI1SK": str("KEY#" + id),
			"PK": str("SITEKEY#" + id), "SK": str("SITEKEY")}
	}
	out, err := s.db.Query(ctx, in)
	if err != nil {
		return nil, "", fmt.Errorf("list site keys: %w", err)
	}
	keys := make([]*integration.SiteKey, 0, len(out.Items))
	for _, av := range out.Items {
		k, err := siteKeyFromItem(av)
		if err != nil {
			return nil, "", err
		}
		keys = append(keys, k)
	}
	next := ""
	if len(out.LastEvaluatedKey) > 0 && len(keys) > 0 {
		next = base64.RawURLEncoding.EncodeToString([]byte(keys[len(keys)-1].ID))
	}
	return keys, next, nil
}

// RevokeSiteKey sets revoked_at once.
func (s *Store) RevokeSiteKey(ctx context.Context, id string, at time.Time) error {
	when, err := attributevalue.Marshal(at)
	if err != nil {
		return err
	}
	_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: siteKeyKey(id),
		UpdateExpression:          aws.String("SET revoked_at = if_not_exists(revoked_at, :at)"),
		ConditionExpression:       aws.String("attribute_exists(PK)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":at": when},
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return integration.Errorf(integration.ENOTFOUND, "Site key %q not found.", id)
	}
	if err != nil {
		return fmt.Errorf("revoke site key %s: %w", id, err)
	}
	return nil
}

// CountHit is one atomic ADD. The TTL attribute lets DynamoDB remove old
// counters; as TTL deletion can lag by days, a counter past its expiry is
// started again at one by a conditional update.
func (s *Store) CountHit(ctx context.Context, bucket string, expires time.Time) (int64, error) {
	k := map[string]types.AttributeValue{"PK": str("COUNT#" + bucket), "SK": str("COUNT")}
	exp := num(expires.Unix())
	now := num(time.Now().Unix())
	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: k,
		UpdateExpression:          aws.String("ADD n :one SET expires_at = :exp"),
		ConditionExpression:       aws.String("attribute_not_exists(expires_at) OR expires_at > :now"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":one": num(1), ":exp": exp, ":now": now},
		ReturnValues:              types.ReturnValueAllNew,
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		out, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: &s.table, Key: k,
			UpdateExpression:          aws.String("SET n = :one, expires_at = :exp"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":one": num(1), ":exp": exp},
			ReturnValues:              types.ReturnValueAllNew,
		})
	}
	if err != nil {
		return 0, fmt.Errorf("count %s: %w", bucket, err)
	}
	n, ok := out.Attributes["n"].(*types.AttributeValueMemberN)
	if !ok {
		return 0, fmt.Errorf("count %s: no count in the answer", bucket)
	}
	return strconv.ParseInt(n.Value, 10, 64)
}
