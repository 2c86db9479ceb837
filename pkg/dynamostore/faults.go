package dynamostore

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"
)

// PartialBatchWrites is for tests: an SDK client option that makes
// BatchWriteItem behave as DynamoDB does under load and moto never does.
// Each write request of a call is held back when rnd() < 0.5 and handed
// back in the answer's UnprocessedItems, unsent; the rest are sent. rnd
// must be safe for concurrent use if the client is. Use it as
//
//	dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
//		o.APIOptions = append(o.APIOptions, dynamostore.PartialBatchWrites(rnd))
//	})
func PartialBatchWrites(rnd func() float64) func(*middleware.Stack) error {
	return func(st *middleware.Stack) error {
		return st.Initialize.Add(middleware.InitializeMiddlewareFunc("PartialBatchWrites",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				params, ok := in.Parameters.(*dynamodb.BatchWriteItemInput)
				if !ok {
					return next.HandleInitialize(ctx, in)
				}
				sent := map[string][]types.WriteRequest{}
				held := map[string][]types.WriteRequest{}
				for table, reqs := range params.RequestItems {
					for _, r := range reqs {
						if rnd() < 0.5 {
							held[table] = append(held[table], r)
						} else {
							sent[table] = append(sent[table], r)
						}
					}
				}
				if len(sent) == 0 {
					return middleware.InitializeOutput{Result: &dynamodb.BatchWriteItemOutput{UnprocessedItems: held}}, middleware.Metadata{}, nil
				}
				cp := *params // the caller's input is left as it was
				cp.RequestItems = sent
				in.Parameters = &cp
				out, md, err := next.HandleInitialize(ctx, in)
				if err != nil {
					return out, md, err
				}
				if res, ok := out.Result.(*dynamodb.BatchWriteItemOutput); ok && len(held) > 0 {
					if res.UnprocessedItems == nil {
						res.UnprocessedItems = map[string][]types.WriteRequest{}
					}
					for table, reqs := range held {
						res.UnprocessedItems[table] = append(res.UnprocessedItems[table], reqs...)
					}
				}
				return out, md, nil
			}), middleware.Before)
	}
}
