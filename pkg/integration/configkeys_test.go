package integration_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/integration"
)

// Every key a request sets is checked against the catalog: unknown keys,
// wrong shapes, read-only content_types, integers JSON would round and
// deep nesting are 400s naming config.<key>; nothing is written.
func TestConfigKeysAreChecked(t *testing.T) {
	ctx := context.Background()
	svc, _ := newService(t, connector.NewCatalog())
	create := func(site string, config map[string]any) error {
		_, err := svc.Create(ctx, editor, integration.CreateInput{SiteID: site, Platform: "wordpress", ExternalSiteURL: "https://blog.example.com", Config: config})
		return err
	}
	deep := map[string]any{"x": 1.0}
	for i := 0; i < 10; i++ {
		deep = map[string]any{"x": deep}
	}
	for _, c := range []struct {
		config map[string]any
		field  string
		want   string
	}{
		{map[string]any{"conflict_policy": "local-wins"}, "config.conflict_policy", "one of"},
		{map[string]any{"confict_policy": "local_wins"}, "config.confict_policy", "unknown key"},
		{map[string]any{"post_types": "post"}, "config.post_types", "array of strings"},
		{map[string]any{"post_types": []any{"post", 3.0}}, "config.post_types", "item 1"},
		{map[string]any{"language": "not a language"}, "config.language", "BCP 47"},
		{map[string]any{"language": 7.0}, "config.language", "string"},
		{map[string]any{"max_concurrency": json.Number("9007199254740993")}, "config.max_concurrency", "2^53"},
		{map[string]any{"content_types": map[string]any{"post_types": []any{}}}, "config.content_types", "read-only"},
		{map[string]any{"post_types": []any{deep}}, "config.post_types", "deep"},
	} {
		err := create("bad", c.config)
		if got := integration.ErrorFields(err)[c.field]; !strings.Contains(got, c.want) {
			t.Errorf("%v: got %v, want a 400 naming %s with %q", c.config, err, c.field, c.want)
		}
	}
	if _, err := svc.Find(ctx, editor, "bad", "wordpress"); integration.ErrorCode(err) != integration.ENOTFOUND {
		t.Fatalf("a refused create wrote: %v", err)
	}
	if err := create("s1", map[string]any{"post_types": []any{"post", "page"}, "language": "pt-BR", "max_concurrency": json.Number("8"), "conflict_policy": "manual"}); err != nil {
		t.Fatal(err)
	}
	it, err := svc.Find(ctx, editor, "s1", "wordpress")
	if err != nil {
		t.Fatal(err)
	}
	_, err = svc.Update(ctx, editor, it.ID, integration.PatchInput{ConfigPatch: map[string]any{"language": "en", "bogus": true}})
	if _, ok := integration.ErrorFields(err)["config.bogus"]; !ok {
		t.Fatalf("patch with an unknown key: %v", err)
	}
	if got, _ := svc.Get(ctx, editor, it.ID); got.Config["language"] != "pt-BR" {
		t.Fatalf("a refused patch wrote: %v", got.Config)
	}
}

// A stored key the catalog no longer declares is kept, returned and
// warned about, does not block other changes, and goes when set to null.
func TestUndeclaredStoredKeysAreWarnedAbout(t *testing.T) {
	ctx := context.Background()
	svc, st := newService(t, connector.NewCatalog())
	it, err := svc.Create(ctx, editor, integration.CreateInput{SiteID: "s1", Platform: "wordpress", ExternalSiteURL: "https://blog.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	// As an earlier release would have stored it.
	it.Config = map[string]any{"retired_setting": "x", "max_concurrency": 4.0}
	if err := st.UpdateIntegration(ctx, it, it.Version); err != nil {
		t.Fatal(err)
	}
	it.Version++
	w := integration.ConfigWarnings(svc.Catalog, it)
	if len(w) != 1 || w[0].Field != "config.retired_setting" {
		t.Fatalf("warnings %+v", w)
	}
	got, err := svc.Update(ctx, editor, it.ID, integration.PatchInput{ConfigPatch: map[string]any{"max_concurrency": json.Number("6")}})
	if err != nil {
		t.Fatalf("a change beside a retired key: %v", err)
	}
	if got.Config["retired_setting"] != "x" {
		t.Fatalf("the retired key was dropped: %v", got.Config)
	}
	got, err = svc.Update(ctx, editor, it.ID, integration.PatchInput{ConfigPatch: map[string]any{"retired_setting": nil}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got.Config["retired_setting"]; ok || len(integration.ConfigWarnings(svc.Catalog, got)) != 0 {
		t.Fatalf("after removal: %v", got.Config)
	}
}

// Content types stored by the previous release inside config read as
// the integration's content types, not as a config key.
func TestContentTypesStoredInConfigStillRead(t *testing.T) {
	ctx := context.Background()
	svc, st := newService(t, connector.NewCatalog())
	it, err := svc.Create(ctx, editor, integration.CreateInput{SiteID: "s1", Platform: "wordpress", ExternalSiteURL: "https://blog.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	it.Config = map[string]any{"content_types": map[string]any{"source": "plugin"}}
	if err := st.UpdateIntegration(ctx, it, it.Version); err != nil {
		t.Fatal(err)
	}
	got, err := svc.Get(ctx, editor, it.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got.Config["content_types"]; ok || got.ContentTypes["source"] != "plugin" {
		t.Fatalf("config %v, content types %v", got.Config, got.ContentTypes)
	}
	if w := integration.ConfigWarnings(svc.Catalog, got); len(w) != 0 {
		t.Fatalf("warnings %+v", w)
	}
}
