package apigw

import (
	"context"
	"net/http"

	"github.com/aws/aws-lambda-go/events"
	"github.com/joinery/joinery/pkg/integration"
)

// ReplayDeadLetters handles POST /v1/integrations/{id}/dead_letters/replay:
// the integration's dead-lettered jobs go back on the sync queue; 200
// with how many.
func (a *SyncAPI) ReplayDeadLetters() Handler {
	return a.route("POST /v1/integrations/{id}/dead_letters/replay", integration.RoleEditor, func(ctx context.Context, actor integration.Actor, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		n, err := a.Engine.ReplayDeadLetters(ctx, actor, req.PathParameters["id"])
		if err != nil {
			return none, err
		}
		return jsonResponse(http.StatusOK, struct {
			Replayed int `json:"replayed"`
		}{n}), nil
	})
}
