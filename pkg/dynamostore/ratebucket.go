package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/joinery/joinery/pkg/integration"
)

var _ integration.RateBucket = (*Store)(nil)

// A bucket is one item of its own partition, RATE#<key>, with a version
// the conditional write checks: every worker's take is a read and a
// conditional put, retried when another worker wrote between the two. It
// expires a day after its last use.
func rateKey(key string) map[string]types.AttributeValue { return pk("RATE#"+key, "BUCKET") }

// maxBucketRetries bounds the optimistic loop; under that much contention
// the caller is told to wait a little, not failed.
const maxBucketRetries = 8

// TakeTokens implements integration.RateBucket.
func (s *Store) TakeTokens(ctx context.Context, key string, n int, rate float64, burst int, now time.Time) (int, time.Duration, error) {
	var granted int
	var wait time.Duration
	err := s.updateBucket(ctx, key, func(b integration.Bucket) integration.Bucket {
		var next integration.Bucket
		next, granted, wait = b.Take(n, rate, burst, now)
		return next
	})
	if errors.Is(err, errBucketBusy) {
		return 0, 50 * time.Millisecond, nil
	}
	return granted, wait, err
}

// HoldTokens implements integration.RateBucket.
func (s *Store) HoldTokens(ctx context.Context, key string, until time.Time) error {
	err := s.updateBucket(ctx, key, func(b integration.Bucket) integration.Bucket {
		if until.After(b.NotBefore) {
			b.NotBefore = until
		}
		return b
	})
	if errors.Is(err, errBucketBusy) {
		return fmt.Errorf("hold rate bucket %s: %w", key, err)
	}
	return err
}

var errBucketBusy = errors.New("the bucket kept changing")

func (s *Store) updateBucket(ctx context.Context, key string, f func(integration.Bucket) integration.Bucket) error {
	for range maxBucketRetries {
		out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: rateKey(key), ConsistentRead: aws.Bool(true)})
		if err != nil {
			return fmt.Errorf("read rate bucket %s: %w", key, err)
		}
		var b integration.Bucket
		ver := int64(0)
		if out.Item != nil {
			b.Tokens, _ = strconv.ParseFloat(numString(out.Item, "tokens"), 64)
			if v := numAttr(out.Item, "updated"); v > 0 {
				b.Updated = time.Unix(0, v).UTC()
			}
			if v := numAttr(out.Item, "not_before"); v > 0 {
				b.NotBefore = time.Unix(0, v).UTC()
			}
			ver = numAttr(out.Item, "ver")
		}
		next := f(b)
		item := rateKey(key)
		item["tokens"] = &types.AttributeValueMemberN{Value: strconv.FormatFloat(next.Tokens, 'f', -1, 64)}
		item["ver"], item["expires_at"] = num(ver+1), expiresIn(integration.RateBucketTTL)
		if !next.Updated.IsZero() {
			item["updated"] = num(next.Updated.UnixNano())
		}
		if !next.NotBefore.IsZero() {
			item["not_before"] = num(next.NotBefore.UnixNano())
		}
		in := &dynamodb.PutItemInput{TableName: &s.table, Item: item}
		if out.Item == nil {
			in.ConditionExpression = aws.String("attribute_not_exists(PK)")
		} else {
			in.ConditionExpression = aws.String("ver = :v")
			in.ExpressionAttributeValues = map[string]types.AttributeValue{":v": num(ver)}
		}
		_, err = s.db.PutItem(ctx, in)
		var ccf *types.ConditionalCheckFailedException
		if errors.As(err, &ccf) {
			continue
		}
		if err != nil {
			return fmt.Errorf("write rate bucket %s: %w", key, err)
		}
		return nil
	}
	return errBucketBusy
}

func numString(av map[string]types.AttributeValue, name string) string {
	if n, ok := av[name].(*types.AttributeValueMemberN); ok {
		return n.Value
	}
	return ""
}
