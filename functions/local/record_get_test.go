package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/integration"
)

// startRunnerApp starts the runner without its worker, with feedSafety as
// JOINERY_FEED_SAFETY_SECONDS, and returns its app too.
func startRunnerApp(t *testing.T, backend, feedSafety string) (*runner, *app) {
	return startRunnerOpts(t, backend, runnerOptions{feedSafety: feedSafety, noWorker: true})
}

// One record reads at once, strongly consistent, while the change feed
// waits for its safety window (a long one here, so a slow machine cannot
// outlast it); with the window set to 0 the feed shows it at once too.
func TestRecordGet(t *testing.T) {
	for _, backend := range []string{"embedded", "aws"} {
		t.Run(backend, func(t *testing.T) {
			r, a := startRunnerApp(t, backend, "300")
			acct := "acct-rec-" + backend
			editor, viewer := r.token(acct, "editor", ""), r.token(acct, "viewer", "")
			created := r.do("POST", "/v1/integrations", editor, `{"site_id":"site-1","platform":"wordpress","external_site_url":"https://blog.example.com","credentials":{"username":"admin","app_password":"`+secretPassword+`"}}`)
			want(t, created, http.StatusCreated, "create")
			id := created.body["id"].(string)

			// A record written just now, as a sync job writes it.
			data, _ := json.Marshal(map[string]any{"external_id": "17", "type": "post", "title": "Hello", "status": "publish"})
			now := time.Now().UTC()
			if _, err := a.engine.Store.PutRecords(context.Background(), integration.WriteScope{}, []integration.StoredRecord{{
				IntegrationID: id, Model: "post", ExternalID: "17", Hash: "h17", Data: data, ChangedAt: now, ModifiedAt: now,
			}}); err != nil {
				t.Fatal(err)
			}

			got := r.do("GET", "/v1/integrations/"+id+"/records/post/17", viewer, "")
			want(t, got, http.StatusOK, "record")
			if got.body["external_id"] != "17" || got.body["title"] != "Hello" || got.body["deleted"] != false ||
				got.body["changed_at"] != now.Format(time.RFC3339Nano) || got.header.Get("Content-Type") != "application/json" {
				t.Fatalf("record: %s", got.raw)
			}
			feed := r.do("GET", "/v1/integrations/"+id+"/records?model=post", viewer, "")
			want(t, feed, http.StatusOK, "records")
			if items := feed.body["items"].([]any); len(items) != 0 {
				t.Fatalf("the feed shows a record changed less than W ago: %s", feed.raw)
			}

			for what, path := range map[string]string{
				"unknown record":     "/v1/integrations/" + id + "/records/post/18",
				"unknown model":      "/v1/integrations/" + id + "/records/widget/17",
				"unknown id":         "/v1/integrations/01JNOSUCHINTEGRATION000000/records/post/17",
				"encoded separators": "/v1/integrations/" + id + "/records/post/17%2F..",
			} {
				got := r.do("GET", path, viewer, "")
				if e, _ := got.body["error"].(map[string]any); got.status != http.StatusNotFound || e["code"] != "not_found" {
					t.Fatalf("%s: %d %s", what, got.status, got.raw)
				}
			}
			stranger := r.token("someone-else", "owner", "")
			want(t, r.do("GET", "/v1/integrations/"+id+"/records/post/17", stranger, ""), http.StatusNotFound, "another account")
			want(t, r.do("GET", "/v1/integrations/"+id+"/records/post/17", "", ""), http.StatusUnauthorized, "no token")
			if strings.Contains(got.raw, secretPassword) {
				t.Fatal("a record shows the app password")
			}
		})
	}
}

func TestFeedSafetySetting(t *testing.T) {
	dir := t.TempDir()
	for _, bad := range []string{"-1", "ten", "1.5", "3601"} {
		s := settingsFromEnv(dir)
		s.FeedSafetySeconds = bad
		if _, err := newApp(context.Background(), s, slog.New(slog.NewJSONHandler(io.Discard, nil))); err == nil ||
			!strings.Contains(err.Error(), "JOINERY_FEED_SAFETY_SECONDS") {
			t.Fatalf("JOINERY_FEED_SAFETY_SECONDS=%q: %v, want a clear refusal", bad, err)
		}
	}

	// 0: no window, the feed shows a record as soon as it is written.
	r, a := startRunnerApp(t, "embedded", "0")
	tok := r.token("acct-w0", "editor", "")
	created := r.do("POST", "/v1/integrations", tok, `{"site_id":"site-1","platform":"wordpress","external_site_url":"https://blog.example.com"}`)
	want(t, created, http.StatusCreated, "create")
	id := created.body["id"].(string)
	if _, err := a.engine.Store.PutRecords(context.Background(), integration.WriteScope{}, []integration.StoredRecord{{
		IntegrationID: id, Model: "post", ExternalID: "1", Hash: "h1", Data: []byte(`{"external_id":"1","type":"post"}`), ChangedAt: time.Now().UTC(),
	}}); err != nil {
		t.Fatal(err)
	}
	feed := r.do("GET", "/v1/integrations/"+id+"/records?model=post", tok, "")
	want(t, feed, http.StatusOK, "records")
	if items := feed.body["items"].([]any); len(items) != 1 {
		t.Fatalf("with JOINERY_FEED_SAFETY_SECONDS=0 the feed shows %d records, want 1: %s", len(items), feed.raw)
	}
}
