package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/joinery/joinery/pkg/integration"
)

// An authorization under way is one item, OAUTHSTATE#<sha256 of the
// state> / STATE. not_after (Unix nanoseconds) is what a take checks; the
// table's TTL (expires_at) only cleans up, a while later.
func oauthStateKey(state string) map[string]types.AttributeValue {
	return pk("OAUTHSTATE#"+integration.OAuthStateKey(state), "STATE")
}

type oauthStateItem struct {
	IntegrationID string `dynamodbav:"integration_id"`
	AccountID     string `dynamodbav:"account_id"`
	Platform      string `dynamodbav:"platform"`
	Verifier      string `dynamodbav:"verifier,omitempty"`
	ReturnURL     string `dynamodbav:"return_url"`
	NotAfter      int64  `dynamodbav:"not_after"`
	ExpiresAt     int64  `dynamodbav:"expires_at"`
}

// oauthStateCleanup is how long after its expiry TTL may remove a state.
const oauthStateCleanup = time.Hour

// PutOAuthState implements integration.OAuthStates.
func (s *Store) PutOAuthState(ctx context.Context, st *integration.OAuthState) error {
	av, err := attributevalue.MarshalMap(oauthStateItem{
		IntegrationID: st.IntegrationID, AccountID: st.AccountID, Platform: st.Platform,
		Verifier: st.Verifier, ReturnURL: st.ReturnURL,
		NotAfter: st.ExpiresAt.UnixNano(), ExpiresAt: st.ExpiresAt.Add(oauthStateCleanup).Unix(),
	})
	if err != nil {
		return fmt.Errorf("encode oauth state: %w", err)
	}
	for k, v := range oauthStateKey(st.State) {
		av[k] = v
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: &s.table, Item: av, ConditionExpression: aws.String("attribute_not_exists(PK)"),
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return integration.Errorf(integration.ECONFLICT, "The authorization state is taken.")
	}
	if err != nil {
		return fmt.Errorf("put oauth state: %w", err)
	}
	return nil
}

// TakeOAuthState implements integration.OAuthStates: one conditional
// delete, so of concurrent takes exactly one gets the state.
func (s *Store) TakeOAuthState(ctx context.Context, state string, now time.Time) (*integration.OAuthState, error) {
	out, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: &s.table, Key: oauthStateKey(state),
		ConditionExpression:       aws.String("attribute_exists(PK) AND not_after > :now"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":now": num(now.UnixNano())},
		ReturnValues:              types.ReturnValueAllOld,
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return nil, integration.ErrOAuthStateNotFound()
	}
	if err != nil {
		return nil, fmt.Errorf("take oauth state: %w", err)
	}
	if len(out.Attributes) == 0 {
		return nil, integration.ErrOAuthStateNotFound()
	}
	var it oauthStateItem
	if err := attributevalue.UnmarshalMap(out.Attributes, &it); err != nil {
		return nil, fmt.Errorf("decode oauth state: %w", err)
	}
	return &integration.OAuthState{
		State: state, IntegrationID: it.IntegrationID, AccountID: it.AccountID, Platform: it.Platform,
		Verifier: it.Verifier, ReturnURL: it.ReturnURL, ExpiresAt: time.Unix(0, it.NotAfter).UTC(),
	}, nil
}
