package main

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/joinery/joinery/pkg/models"
)

// The runner serves GET /v1/models and GET /v1/models/{model} to any
// role (their answers checked against the OpenAPI document), and a 404
// naming the models for an unknown one.
func TestModelsRoute(t *testing.T) {
	r := startRunner(t, "embedded")
	viewer := r.token("acct-1", "viewer", "")
	got := r.do("GET", "/v1/models", viewer, "")
	want(t, got, http.StatusOK, "models")
	items, _ := got.body["items"].([]any)
	if len(items) != len(models.Names()) {
		t.Fatalf("models: %s", got.raw)
	}
	got = r.do("GET", "/v1/models/task", viewer, "")
	want(t, got, http.StatusOK, "task")
	if schema, _ := got.body["schema"].(map[string]any); got.body["category"] != "tasks" || schema["$schema"] != models.SchemaDraft {
		t.Fatalf("task: %s", got.raw)
	}
	want(t, r.do("GET", "/v1/models/invoice", viewer, ""), http.StatusNotFound, "unknown model")
	want(t, r.do("GET", "/v1/models", "", ""), http.StatusUnauthorized, "no token")
}

// checkSchemas fails for every record, as the records API showed it, that
// does not fit its model's JSON Schema.
func checkSchemas(t testing.TB, model string, recs map[string]map[string]any) {
	t.Helper()
	for id, rec := range recs {
		b, _ := json.Marshal(rec)
		if err := models.Validate(model, b); err != nil {
			t.Errorf("%s %s does not fit its schema: %v\n%s", model, id, err, b)
		}
	}
}
