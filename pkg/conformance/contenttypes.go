package conformance

import (
	"context"
	"fmt"
	"testing"

	"github.com/joinery/joinery/pkg/integration"
)

// testContentTypes: an integration's content types round-trip beside its
// config, and ones an earlier release kept in config.content_types read
// from their new place.
func testContentTypes(t *testing.T, newStore func(t *testing.T) integration.Store) {
	ctx := context.Background()
	t.Run("content types beside config", func(t *testing.T) {
		s := newStore(t)
		acct := uniq("acct")
		in := newIntegration(acct, "site-1", "wordpress", 31)
		in.ContentTypes = map[string]any{"source": "plugin", "post_types": []any{map[string]any{"name": "post"}}}
		if err := s.CreateIntegration(ctx, in); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetIntegration(ctx, acct, in.ID)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got.ContentTypes) != fmt.Sprint(in.ContentTypes) || fmt.Sprint(got.Config) != fmt.Sprint(in.Config) {
			t.Fatalf("got config %v, content types %v", got.Config, got.ContentTypes)
		}

		// As an earlier release wrote it: inside config, none beside.
		got.ContentTypes = nil
		got.Config["content_types"] = map[string]any{"source": "platform"}
		if err := s.UpdateIntegration(ctx, got, got.Version); err != nil {
			t.Fatal(err)
		}
		got, err = s.GetIntegration(ctx, acct, in.ID)
		if err != nil {
			t.Fatal(err)
		}
		if _, inConfig := got.Config["content_types"]; inConfig || got.ContentTypes["source"] != "platform" || got.Config["a"] != "b" {
			t.Fatalf("legacy layout read as config %v, content types %v", got.Config, got.ContentTypes)
		}
	})
}
