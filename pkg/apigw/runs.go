package apigw

import (
	"context"
	"net/http"

	"github.com/aws/aws-lambda-go/events"
	"github.com/joinery/joinery/pkg/integration"
	"github.com/joinery/joinery/pkg/syncer"
)

// Runs handles GET /v1/integrations/{id}/runs: the integration's runs,
// newest first, each as sync_status shows its run.
func (a *SyncAPI) Runs() Handler {
	return a.route("GET /v1/integrations/{id}/runs", integration.RoleViewer, func(ctx context.Context, actor integration.Actor, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		q := req.QueryStringParameters
		limit, err := limitParam(q)
		if err != nil {
			return none, err
		}
		var page syncer.RunPage
		next, err := a.page(ctx, q["cursor"], func(cursor string) (int, string, error) {
			page, err = a.Engine.Runs(ctx, actor, req.PathParameters["id"], limit, cursor)
			return len(page.Items), page.NextCursor, err
		})
		if err != nil {
			return none, err
		}
		out := struct {
			Items      []*runJSON `json:"items"`
			NextCursor string     `json:"next_cursor,omitempty"`
		}{Items: make([]*runJSON, len(page.Items)), NextCursor: next}
		for i, r := range page.Items {
			out.Items[i] = runToJSON(r)
		}
		return jsonResponse(http.StatusOK, out), nil
	})
}

// CancelRun handles POST /v1/integrations/{id}/runs/{run_id}/cancel: 200
// with the run, finished as error "Cancelled."; 409 if it had finished.
func (a *SyncAPI) CancelRun() Handler {
	return a.route("POST /v1/integrations/{id}/runs/{run_id}/cancel", integration.RoleEditor, func(ctx context.Context, actor integration.Actor, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		run, err := a.Engine.Cancel(ctx, actor, req.PathParameters["id"], req.PathParameters["run_id"])
		if err != nil {
			return none, err
		}
		return jsonResponse(http.StatusOK, runToJSON(run)), nil
	})
}
