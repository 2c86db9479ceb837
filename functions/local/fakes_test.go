package main

import (
	"context"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// `local fakes` runs stand-ins a developer can connect to through the
// runner: its printed settings and apps file connect Slack end to end.
func TestFakesCommand(t *testing.T) {
	apps := filepath.Join(t.TempDir(), "apps.json")
	out := &lockedBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runFakes(ctx, []string{"--platforms", "slack,shopify", "--apps", apps}, out, out) }()
	defer func() { cancel(); <-done }()
	line := regexp.MustCompile(`JOINERY_PLATFORM_ORIGINS=(\S+) JOINERY_APPS_FILE=(\S+)`)
	var m []string
	for deadline := time.Now().Add(10 * time.Second); m == nil; {
		if m = line.FindStringSubmatch(out.String()); m == nil {
			if time.Now().After(deadline) {
				t.Fatalf("no settings printed: %q", out.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if m[2] != apps || !strings.HasPrefix(m[1], "slack=http://127.0.0.1:") || !strings.Contains(m[1], ",shopify=http://127.0.0.1:") {
		t.Fatalf("settings: %q", m[0])
	}

	r, _ := startRunnerOpts(t, "embedded", runnerOptions{noWorker: true, settings: func(s *settings) {
		s.PlatformOrigins, s.AppsFile, s.ReturnOrigins = m[1], m[2], []string{"http://localhost:3000"}
	}})
	editor := r.token("acct-fakes", "editor", "")
	created := r.do("POST", "/v1/integrations", editor, `{"site_id":"site-1","platform":"slack"}`)
	want(t, created, http.StatusCreated, "create")
	id := created.body["id"].(string)
	got := r.do("POST", "/v1/integrations/"+id+"/oauth/authorize", editor, `{"return_url":"http://localhost:3000/done"}`)
	want(t, got, http.StatusOK, "authorize")
	// The browser: to the consent page, back to the runner, back to the app.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	next := got.body["authorize_url"].(string)
	for _, hop := range []string{"consent", "callback"} {
		resp, err := noFollow.Get(next)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusFound {
			t.Fatalf("%s: %d", hop, resp.StatusCode)
		}
		next = resp.Header.Get("Location")
	}
	if !strings.HasPrefix(next, "http://localhost:3000/done?") || !strings.Contains(next, "status=connected") {
		t.Fatalf("back to the app at %s", next)
	}
}
