package dynamostore

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// KeysOf lists every item of the table whose partition belongs to the
// integration, except the mark that it was purged: what a purge must
// leave empty. It scans the whole table, for tests; no function calls it.
func (s *Store) KeysOf(ctx context.Context, integrationID string) ([]string, error) {
	prefix := "INT#" + integrationID + "#"
	in := &dynamodb.ScanInput{TableName: &s.table, ConsistentRead: aws.Bool(true),
		FilterExpression:          aws.String("begins_with(PK, :p) AND PK <> :purged"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": str(prefix), ":purged": purgedKey(integrationID)["PK"]}}
	var out []string
	for {
		page, err := s.db.Scan(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("scan for the keys of %s: %w", integrationID, err)
		}
		for _, it := range page.Items {
			out = append(out, strAttr(it, "PK")+" "+strAttr(it, "SK"))
		}
		if len(page.LastEvaluatedKey) == 0 {
			return out, nil
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
}
