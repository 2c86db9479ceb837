package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/joinery/joinery/pkg/integration"
)

var _ integration.SkippedModels = (*Store)(nil)

// SkipModel adds model to the run item's string set `skipped`, on the
// condition that it is not there yet: the one call that adds it is told so.
func (s *Store) SkipModel(ctx context.Context, integrationID, runID, model string) (bool, error) {
	key := pk(runPK(integrationID), runID)
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: &s.table, Key: key,
		UpdateExpression:    aws.String("ADD skipped :m"),
		ConditionExpression: aws.String("attribute_exists(PK) AND NOT contains(skipped, :v)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":m": &types.AttributeValueMemberSS{Value: []string{model}}, ":v": str(model)}})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		// Skipped already, or no such run.
		out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: key, ConsistentRead: aws.Bool(true), ProjectionExpression: aws.String("PK")})
		if err != nil {
			return false, fmt.Errorf("read run %s: %w", runID, err)
		}
		if len(out.Item) == 0 {
			return false, integration.Errorf(integration.ENOTFOUND, "Run %q not found.", runID)
		}
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("skip %s in run %s: %w", model, runID, err)
	}
	return true, nil
}

// skippedOf reads a run item's skipped models, sorted (none on a run
// written before models could be skipped).
func skippedOf(av map[string]types.AttributeValue) []string {
	ss, ok := av["skipped"].(*types.AttributeValueMemberSS)
	if !ok {
		return nil
	}
	out := slices.Clone(ss.Value)
	slices.Sort(out)
	return out
}
