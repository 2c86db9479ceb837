package dynamostore

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/joinery/joinery/pkg/integration"
)

// PutNotifyDeliveries implements integration.NotifyStore: 25 deliveries
// to a request.
func (s *Store) PutNotifyDeliveries(ctx context.Context, ds []*integration.NotifyDelivery) error {
	reqs := make([]types.WriteRequest, 0, len(ds))
	for _, d := range ds {
		item, err := deliveryItem(d)
		if err != nil {
			return err
		}
		reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: item}})
	}
	if err := s.batchWrite(ctx, reqs); err != nil {
		return fmt.Errorf("store %d deliveries: %w", len(ds), err)
	}
	return nil
}
