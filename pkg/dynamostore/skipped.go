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

// SkipModel adds model to the run item's string set `skipped`: adding a
// member twice leaves one.
func (s *Store) SkipModel(ctx context.Context, integrationID, runID, model string) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: &s.table, Key: pk(runPK(integrationID), runID),
		UpdateExpression: aws.String("ADD skipped :m"), ConditionExpression: aws.String("attribute_exists(PK)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":m": &types.AttributeValueMemberSS{Value: []string{model}}}})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return integration.Errorf(integration.ENOTFOUND, "Run %q not found.", runID)
	}
	if err != nil {
		return fmt.Errorf("skip %s in run %s: %w", model, runID, err)
	}
	return nil
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
