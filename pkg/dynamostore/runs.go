package dynamostore

import (
	"context"
	"encoding/base64"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/joinery/joinery/pkg/integration"
)

// ListRuns queries the run partition newest first (run ids are ULIDs), one
// request a page: it asks for one run more than the page, to know whether
// another page follows without an empty last one. The cursor is the last
// run id of the page before; the key is rebuilt from the integration
// asked for, so a cursor cannot reach into another partition.
func (s *Store) ListRuns(ctx context.Context, integrationID string, limit int, cursor string) ([]*integration.Run, string, error) {
	limit = max(limit, 1)
	in := &dynamodb.QueryInput{TableName: &s.table, KeyConditionExpression: aws.String("PK = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(runPK(integrationID))},
		ScanIndexForward:          aws.Bool(false), Limit: aws.Int32(int32(limit + 1)), ConsistentRead: aws.Bool(true)}
	if cursor != "" {
		id, err := base64.RawURLEncoding.DecodeString(cursor)
		if err != nil || len(id) == 0 || len(id) > 128 {
			return nil, "", badCursor()
		}
		in.ExclusiveStartKey = pk(runPK(integrationID), string(id))
	}
	page, err := s.db.Query(ctx, in)
	if err != nil {
		return nil, "", fmt.Errorf("list runs: %w", err)
	}
	items := page.Items
	more := len(page.LastEvaluatedKey) > 0
	if len(items) > limit {
		items, more = items[:limit], true
	}
	out := make([]*integration.Run, 0, len(items))
	for _, it := range items {
		r, err := runFromItem(it)
		if err != nil {
			return nil, "", err
		}
		out = append(out, r)
	}
	next := ""
	switch {
	case !more:
	case len(out) > 0:
		next = base64.RawURLEncoding.EncodeToString([]byte(out[len(out)-1].ID))
	default:
		// A page cut short before its first item (DynamoDB's 1 MB
		// bound): go on from where it stopped.
		next = base64.RawURLEncoding.EncodeToString([]byte(strAttr(page.LastEvaluatedKey, "SK")))
	}
	return out, next, nil
}
