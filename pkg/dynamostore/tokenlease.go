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

var _ integration.TokenLeases = (*Store)(nil)

// A token lease is one item of its own partition, LEASE#<integration>,
// taken by a conditional put (free, expired or already ours) and freed by
// a conditional delete (still ours). The table's TTL removes leases left
// behind a day later.
func leaseKey(integrationID string) map[string]types.AttributeValue {
	return pk("LEASE#"+integrationID, "TOKEN")
}

// AcquireTokenLease implements integration.TokenLeases.
func (s *Store) AcquireTokenLease(ctx context.Context, integrationID, holder string, now, until time.Time) (*integration.TokenLease, bool, error) {
	// A lease freed between a failed put and the read that follows is
	// taken on the next pass; a few passes cover any such race.
	for range 3 {
		item := leaseKey(integrationID)
		item["holder"], item["until"] = str(holder), num(until.UnixNano())
		item["expires_at"] = expiresIn(integration.TokenLeaseTTL)
		out, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: item,
			ConditionExpression:       aws.String("attribute_not_exists(PK) OR #u <= :now OR holder = :h"),
			ExpressionAttributeNames:  map[string]string{"#u": "until"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":now": num(now.UnixNano()), ":h": str(holder)},
			ReturnValues:              types.ReturnValueAllOld})
		var ccf *types.ConditionalCheckFailedException
		switch {
		case err == nil:
			if old := leaseOf(out.Attributes); old != nil && old.Holder != holder {
				return old, true, nil
			}
			return nil, true, nil
		case !errors.As(err, &ccf):
			return nil, false, fmt.Errorf("acquire token lease of %s: %w", integrationID, err)
		}
		got, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: leaseKey(integrationID), ConsistentRead: aws.Bool(true)})
		if err != nil {
			return nil, false, fmt.Errorf("read token lease of %s: %w", integrationID, err)
		}
		if cur := leaseOf(got.Item); cur != nil && cur.Until.After(now) && cur.Holder != holder {
			return cur, false, nil
		}
	}
	return nil, false, fmt.Errorf("acquire token lease of %s: it kept changing", integrationID)
}

// ReleaseTokenLease implements integration.TokenLeases.
func (s *Store) ReleaseTokenLease(ctx context.Context, integrationID, holder string) error {
	_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &s.table, Key: leaseKey(integrationID),
		ConditionExpression:       aws.String("holder = :h"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":h": str(holder)}})
	var ccf *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &ccf) {
		return fmt.Errorf("release token lease of %s: %w", integrationID, err)
	}
	return nil
}

func leaseOf(item map[string]types.AttributeValue) *integration.TokenLease {
	if len(item) == 0 || strAttr(item, "holder") == "" {
		return nil
	}
	return &integration.TokenLease{Holder: strAttr(item, "holder"), Until: time.Unix(0, numAttr(item, "until")).UTC()}
}
