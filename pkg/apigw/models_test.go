package apigw_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/joinery/joinery/pkg/apigw"
	"github.com/joinery/joinery/pkg/models"
)

// GET /v1/models lists every model with its category, description and
// JSON Schema, to any role; GET /v1/models/{model} serves one, and a 404
// naming the models there are for an unknown name.
func TestModelsRoutes(t *testing.T) {
	h := (&apigw.ModelsAPI{API: newAPI(t)}).Models()
	ev := loadEvent(t, "models-list.json") // a viewer's token
	resp, err := h(context.Background(), ev)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("%d %s %v", resp.StatusCode, resp.Body, err)
	}
	var list struct {
		Items []struct {
			Name, Category, Description string
			Schema                      map[string]any
			PushSchema                  map[string]any `json:"push_schema"`
		}
	}
	if err := json.Unmarshal([]byte(resp.Body), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != len(models.Names()) {
		t.Fatalf("%d models listed, want %d", len(list.Items), len(models.Names()))
	}
	cats := map[string]string{}
	for _, it := range list.Items {
		cats[it.Name] = it.Category
		if it.Description == "" || it.Schema["$schema"] != models.SchemaDraft || it.Schema["properties"] == nil {
			t.Errorf("%s: %+v", it.Name, it)
		}
		if (it.PushSchema == nil) != (it.Category == models.CategoryContent) {
			t.Errorf("%s: push schema %v", it.Name, it.PushSchema)
		}
	}
	for name, cat := range map[string]string{"post": "content", "media": "content", "product": "commerce", "calendar_event": "calendar",
		"task": "tasks", "conversation": "messaging", "message": "messaging"} {
		if cats[name] != cat {
			t.Errorf("%s: category %q, want %q", name, cats[name], cat)
		}
	}

	ev.RouteKey, ev.RawPath = "GET /v1/models/{model}", "/v1/models/product"
	ev.PathParameters = map[string]string{"model": "product"}
	resp, _ = h(context.Background(), ev)
	var one struct {
		Name   string
		Schema struct {
			Properties map[string]any
		}
	}
	if resp.StatusCode != 200 || json.Unmarshal([]byte(resp.Body), &one) != nil || one.Name != "product" || one.Schema.Properties["variants"] == nil {
		t.Fatalf("product: %d %s", resp.StatusCode, resp.Body)
	}
	ev.PathParameters = map[string]string{"model": "invoice"}
	resp, _ = h(context.Background(), ev)
	if resp.StatusCode != 404 || !strings.Contains(resp.Body, `\"invoice\"`) || !strings.Contains(resp.Body, "calendar_event") {
		t.Fatalf("unknown model: %d %s", resp.StatusCode, resp.Body)
	}
	// A token without an account is refused before anything is served.
	ev.RequestContext.Authorizer = nil
	if resp, _ = h(context.Background(), ev); resp.StatusCode != 401 {
		t.Fatalf("no token: %d %s", resp.StatusCode, resp.Body)
	}
}
