package apigw

import (
	"context"
	"net/http"

	"github.com/aws/aws-lambda-go/events"
	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/integration"
)

// ConnectionAPI holds the handlers that talk to the platforms.
type ConnectionAPI struct {
	*API
	Tester *connector.Tester
}

// TestConnection handles POST /v1/integrations/{id}/test_connection. The
// answer is 200 whether or not the test passed: a failed test is a result.
func (a *ConnectionAPI) TestConnection() Handler {
	return a.route("POST /v1/integrations/{id}/test_connection", integration.RoleEditor, func(ctx context.Context, actor integration.Actor, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		res, err := a.Tester.Test(ctx, actor, req.PathParameters["id"])
		if err != nil {
			return none, err
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
