package apigw

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/aws/aws-lambda-go/events"
	"github.com/joinery/joinery/pkg/integration"
	"github.com/joinery/joinery/pkg/models"
)

// ModelsAPI serves the unified models and their JSON Schemas. It reads
// nothing but the caller's token: the schemas are part of the build.
type ModelsAPI struct {
	API *API
}

type modelJSON struct {
	Name        string          `json:"name"`
	Category    string          `json:"category"`
	Description string          `json:"description"`
	Schema      json.RawMessage `json:"schema"`
	PushSchema  json.RawMessage `json:"push_schema,omitempty"`
}

func toModelJSON(m models.Model) modelJSON {
	return modelJSON{Name: m.Name, Category: m.Category, Description: m.Description, Schema: m.Schema, PushSchema: m.PushSchema}
}

// ListModels is GET /v1/models (viewer+).
func (m *ModelsAPI) ListModels() Handler {
	return m.API.route("GET /v1/models", integration.RoleViewer, func(context.Context, integration.Actor, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		all := models.All()
		items := make([]modelJSON, len(all))
		for i, md := range all {
			items[i] = toModelJSON(md)
		}
		return jsonResponse(http.StatusOK, map[string]any{"items": items}), nil
	})
}

// GetModel is GET /v1/models/{model} (viewer+): 404 naming the models
// there are for an unknown one.
func (m *ModelsAPI) GetModel() Handler {
	return m.API.route("GET /v1/models/{model}", integration.RoleViewer, func(_ context.Context, _ integration.Actor, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		md, ok := models.Get(req.PathParameters["model"])
		if !ok {
			return none, models.ErrUnknown(req.PathParameters["model"])
		}
		return jsonResponse(http.StatusOK, toModelJSON(md)), nil
	})
}

// Models is both routes in one handler, for the one function behind them.
func (m *ModelsAPI) Models() Handler {
	list, get := m.ListModels(), m.GetModel()
	return func(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		if _, ok := req.PathParameters["model"]; ok {
			return get(ctx, req)
		}
		return list(ctx, req)
	}
}
