package apigw

import (
	"context"

	"github.com/aws/aws-lambda-go/events"
)

// limitSource counts a request to a route without a gateway authorizer
// against its source address's limit, before anything of the request (its
// key, its body) is looked at. scope groups the routes that share a
// quota: the site-key routes, the OAuth callback.
func (a *API) limitSource(ctx context.Context, scope string, req events.APIGatewayV2HTTPRequest) error {
	return a.Service.AllowSource(ctx, scope, req.RequestContext.HTTP.SourceIP)
}
