package dynamostore

// A full run's seen ids, in order, for its deletion jobs (PK / SK):
//
//	seen ids   INT#<id>#RUN#<run>#SEEN / <model>#<first id>   (ids: JSON array, sorted; TTL)
//	complete   INT#<id>#RUN#<run>#SEEN / <model>!             (written last; TTL)
//
// Each item holds up to seenChunkBytes of ids; a deletion job reads the
// one or two that span its page. ("!" sorts before "#": the mark is never
// among a model's chunks.)

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/joinery/joinery/pkg/integration"
)

var _ integration.SeenIndex = (*Store)(nil)

// seenChunkBytes bounds one item of seen ids, well within DynamoDB's
// 400 KB: a Query page (1 MB) holds several.
const seenChunkBytes = 200_000

func seenPK(id, run string) string { return "INT#" + id + "#RUN#" + run + "#SEEN" }

// KeepSeen writes the ids sorted, in chunks, then the mark that they are
// complete. The same ids make the same chunks: a second call rewrites
// them.
func (s *Store) KeepSeen(ctx context.Context, integrationID, runID, model string, ids map[string]bool) error {
	sorted := make([]string, 0, len(ids))
	for id := range ids {
		sorted = append(sorted, id)
	}
	sort.Strings(sorted)
	var reqs []types.WriteRequest
	for len(sorted) > 0 {
		n, size := 0, 2
		for n < len(sorted) && (n == 0 || size+len(sorted[n])+3 <= seenChunkBytes) {
			size += len(sorted[n]) + 3
			n++
		}
		b, err := json.Marshal(sorted[:n])
		if err != nil {
			return err
		}
		item := pk(seenPK(integrationID, runID), model+"#"+sorted[0])
		item["ids"], item["expires_at"] = str(string(b)), expiresIn(markerRetention)
		reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: item}})
		sorted = sorted[n:]
	}
	if err := s.batchWrite(ctx, reqs); err != nil {
		return fmt.Errorf("keep the seen %s ids of run %s: %w", model, runID, err)
	}
	mark := pk(seenPK(integrationID, runID), model+"!")
	mark["expires_at"] = expiresIn(markerRetention)
	if _, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: mark}); err != nil {
		return fmt.Errorf("keep the seen %s ids of run %s: %w", model, runID, err)
	}
	return nil
}

// SeenBetween reads the chunks from the one holding from to the one
// holding to, newest key first: the chunks whose first id is in
// (from, to], then the one before.
func (s *Store) SeenBetween(ctx context.Context, integrationID, runID, model, from, to string) (map[string]bool, bool, error) {
	p := seenPK(integrationID, runID)
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: pk(p, model+"!"), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, false, fmt.Errorf("read the seen %s ids of run %s: %w", model, runID, err)
	}
	if out.Item == nil {
		return nil, false, nil
	}
	seen := map[string]bool{}
	in := &dynamodb.QueryInput{TableName: &s.table, ConsistentRead: aws.Bool(true), ScanIndexForward: aws.Bool(false),
		KeyConditionExpression:    aws.String("PK = :pk AND SK BETWEEN :lo AND :hi"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(p), ":lo": str(model + "#"), ":hi": str(model + "#" + to)}}
	for {
		page, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, false, fmt.Errorf("read the seen %s ids of run %s: %w", model, runID, err)
		}
		for _, it := range page.Items {
			var ids []string
			if err := json.Unmarshal([]byte(strAttr(it, "ids")), &ids); err != nil {
				return nil, false, fmt.Errorf("decode the seen %s ids of run %s: %w", model, runID, err)
			}
			for _, id := range ids {
				if id >= from && id <= to {
					seen[id] = true
				}
			}
			if first := strings.TrimPrefix(strAttr(it, "SK"), model+"#"); first <= from {
				return seen, true, nil // the chunk holding from: none before it holds the span
			}
		}
		if len(page.LastEvaluatedKey) == 0 {
			return seen, true, nil
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
}
