package apigw_test

import (
	"context"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/joinery/joinery/pkg/apigw"
)

// The sample event gets the document, public and as embedded, and the
// document is a valid OpenAPI 3 document whose every reference resolves.
func TestOpenAPIDocument(t *testing.T) {
	resp, err := apigw.OpenAPI()(context.Background(), loadEvent(t, "openapi-get.json"))
	if err != nil || resp.StatusCode != 200 || resp.Headers["Content-Type"] != "application/json" || resp.Body != string(apigw.OpenAPIDocument) {
		t.Fatalf("status %d, headers %v, err %v", resp.StatusCode, resp.Headers, err)
	}
	doc, err := openapi3.NewLoader().LoadFromData([]byte(resp.Body))
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Every error response is the one error shape (or the gateway's).
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			for code, r := range op.Responses.Map() {
				if code[0] < '4' {
					continue
				}
				if r.Value.Content.Get("application/json") == nil && r.Value.Content.Get("text/html") != nil {
					continue // a page for a browser (the OAuth callback's), not an API answer
				}
				ref := r.Value.Content.Get("application/json").Schema
				if ref.Ref != "#/components/schemas/Error" && (len(ref.Value.AnyOf) != 2 || ref.Value.AnyOf[0].Ref != "#/components/schemas/Error") {
					t.Errorf("%s %s %s: not the error shape", method, path, code)
				}
			}
		}
	}
}
