package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The runner serves GET /v1/platforms from the catalog and the apps file
// (JOINERY_APPS_FILE), and refuses to start on a broken apps file.
func TestPlatformsRoute(t *testing.T) {
	path := filepath.Join(t.TempDir(), "apps.json")
	if err := os.WriteFile(path, []byte(`{"openai": {"api_key": "sk-deployment-s3cr3t"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("JOINERY_APPS_FILE", path)
	r := startRunner(t, "embedded")
	got := r.do("GET", "/v1/platforms", r.token("acct-1", "viewer", ""), "")
	want(t, got, http.StatusOK, "platforms")
	if strings.Contains(got.raw, "s3cr3t") {
		t.Fatalf("an app credential in the listing: %s", got.raw)
	}
	items, _ := got.body["items"].([]any)
	found := map[string]map[string]any{}
	for _, it := range items {
		m := it.(map[string]any)
		found[m["name"].(string)] = m
	}
	if len(found) != 9 || found["wordpress"]["available"] != true || found["slack"]["available"] != false ||
		found["openai"]["app_configured"] != true || found["anthropic"]["app_configured"] != false {
		t.Fatalf("platforms: %s", got.raw)
	}
	want(t, r.do("GET", "/v1/platforms", "", ""), http.StatusUnauthorized, "no token")

	// A broken file stops the runner with the platform and field named.
	if err := os.WriteFile(path, []byte(`{"slack": {"client_id": "x", "client_secret": "sk-s3cr3t"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	s := settingsFromEnv(t.TempDir())
	_, err := newApp(context.Background(), s, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil || !strings.Contains(err.Error(), "slack.signing_secret: required") || strings.Contains(err.Error(), "s3cr3t") {
		t.Fatalf("broken apps file: %v", err)
	}
}
