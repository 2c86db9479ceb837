package apigw

import (
	"context"
	_ "embed"
	"net/http"

	"github.com/aws/aws-lambda-go/events"
)

// OpenAPIDocument describes every route of the API, its parameters,
// bodies, responses and the error shape (OpenAPI 3.0). The local runner's
// end-to-end tests validate every response they receive against it, and a
// test holds it to template.yaml's routes.
//
//go:embed openapi.json
var OpenAPIDocument []byte

// OpenAPI handles GET /v1/openapi.json: the document, public (no
// authorizer), as it is embedded.
func OpenAPI() Handler {
	return func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		return events.APIGatewayV2HTTPResponse{StatusCode: http.StatusOK, Body: string(OpenAPIDocument),
			Headers: map[string]string{"Content-Type": "application/json", "Cache-Control": "public, max-age=300"}}, nil
	}
}
