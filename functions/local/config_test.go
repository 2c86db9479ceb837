package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

// Config through the runner, on the embedded backends and on moto: what a
// request sets is checked against the catalog, a key the catalog no longer
// declares is kept and warned about until removed, and content types an
// earlier release stored in config read from their new place.
func TestConfigThroughTheRunner(t *testing.T) {
	for _, backend := range []string{"embedded", "aws"} {
		t.Run(backend, func(t *testing.T) {
			r, a := startRunnerOpts(t, backend, runnerOptions{noWorker: true})
			editor := r.token("acct-config-"+backend, "editor", "")
			create := func(config string) reply {
				return r.do("POST", "/v1/integrations", editor, `{"site_id":"cfg","platform":"wordpress","external_site_url":"https://blog.example.com","config":`+config+`}`)
			}
			deep := strings.Repeat("[", 10) + `"post"` + strings.Repeat("]", 10)
			for field, config := range map[string]string{
				"config.conflict_policy": `{"conflict_policy":"local-wins"}`,
				"config.confict_policy":  `{"confict_policy":"local_wins"}`,
				"config.max_concurrency": `{"max_concurrency":9007199254740993}`,
				"config.language":        `{"language":"english please"}`,
				"config.post_types":      `{"post_types":` + deep + `}`,
				"config.content_types":   `{"content_types":{"post_types":[],"taxonomies":[]}}`,
			} {
				fieldError(t, create(config), field)
			}

			created := create(`{"post_types":["post","page"],"language":"pt-BR","max_concurrency":8,"conflict_policy":"local_wins"}`)
			want(t, created, http.StatusCreated, "create")
			id := created.body["id"].(string)
			if w, ok := created.body["config_warnings"].([]any); !ok || len(w) != 0 {
				t.Fatalf("config_warnings of a clean config: %s", created.raw)
			}
			fieldError(t, r.do("PATCH", "/v1/integrations/"+id, editor, `{"config":{"max_concurrency":33}}`), "config.max_concurrency")

			// As the previous release stored it: a key since retired, and
			// the site's structure inside config.
			ctx := context.Background()
			it, err := a.service.Store.GetIntegration(ctx, created.body["account_id"].(string), id)
			if err != nil {
				t.Fatal(err)
			}
			it.Config["retired_setting"] = "x"
			it.Config["content_types"] = map[string]any{"source": "plugin", "updated_at": "2026-01-02T03:04:05Z", "post_types": []any{}, "taxonomies": []any{}}
			if err := a.service.Store.UpdateIntegration(ctx, it, it.Version); err != nil {
				t.Fatal(err)
			}
			got := r.do("GET", "/v1/integrations/"+id, editor, "")
			want(t, got, http.StatusOK, "get")
			cfg := got.body["config"].(map[string]any)
			warnings := got.body["config_warnings"].([]any)
			if cfg["retired_setting"] != "x" || cfg["content_types"] != nil || len(warnings) != 1 || warnings[0].(map[string]any)["field"] != "config.retired_setting" {
				t.Fatalf("a stored retired key: %s", got.raw)
			}
			ct := r.do("GET", "/v1/integrations/"+id+"/content_types", editor, "")
			want(t, ct, http.StatusOK, "content types")
			if ct.body["source"] != "plugin" {
				t.Fatalf("content types stored in config by the previous release: %s", ct.raw)
			}
			// Other changes go on beside it; null removes it.
			want(t, r.do("PATCH", "/v1/integrations/"+id, editor, `{"config":{"language":"en"}}`), http.StatusOK, "patch beside a retired key")
			got = r.do("PATCH", "/v1/integrations/"+id, editor, `{"config":{"retired_setting":null}}`)
			want(t, got, http.StatusOK, "remove the retired key")
			cfg = got.body["config"].(map[string]any)
			if _, ok := cfg["retired_setting"]; ok || len(got.body["config_warnings"].([]any)) != 0 || cfg["language"] != "en" {
				t.Fatalf("after removal: %s", got.raw)
			}
			ct = r.do("GET", "/v1/integrations/"+id+"/content_types", editor, "")
			if ct.body["source"] != "plugin" {
				t.Fatalf("content types after a config change: %s", ct.raw)
			}
		})
	}
}
