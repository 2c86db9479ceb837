package apigw

import (
	"context"
	"net/http"

	"github.com/aws/aws-lambda-go/events"
	"github.com/joinery/joinery/pkg/connector"
)

// ConnectionAPI holds the handlers that talk to the platforms.
type ConnectionAPI struct {
	*API
	Tester *connector.Tester
}

// TestConnection handles POST /v1/integrations/{id}/test_connection. The
// answer is 200 whether or not the test passed: a failed test is a result.
func (a *ConnectionAPI) TestConnection() Handler {
	return a.wrap("POST /v1/integrations/{id}/test_connection", func(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		actor, err := a.actor(req)
		if err != nil {
			return errorResponse(ctx, a.log(), err), nil
		}
		res, err := a.Tester.Test(ctx, actor, req.PathParameters["id"])
		if err != nil {
			return errorResponse(ctx, a.log(), err), nil
		}
		details := res.Details
		if details == nil {
			details = map[string]any{}
		}
		return jsonResponse(http.StatusOK, struct {
			OK               bool           `json:"ok"`
			ConnectionStatus string         `json:"connection_status"`
			Message          string         `json:"message"`
			Details          map[string]any `json:"details"`
		}{res.OK, string(res.Status), res.Message, details}), nil
	})
}
