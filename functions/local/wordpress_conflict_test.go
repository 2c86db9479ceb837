package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/connector/wordpress/wptest"
)

// A push that meets an edit made in WordPress under the manual policy,
// through the runner's API to the real WordPress, on both backends: both
// versions are shown, later pushes wait, and the conflict is resolved
// each way.
func TestWordPressManualConflict(t *testing.T) {
	wp := wptest.Start(t, "local")
	t.Setenv("JOINERY_ALLOW_PRIVATE_NETWORKS", hostPort(t, wp["WP_URL"]))
	for _, backend := range []string{"embedded", "aws"} {
		t.Run(backend, func(t *testing.T) {
			r := startRunner(t, backend)
			editor := r.token("acct-conflict", "editor", "")
			viewer := r.token("acct-conflict", "viewer", "")
			created := r.do("POST", "/v1/integrations", editor, fmt.Sprintf(`{"site_id":"conflict-%s","platform":"wordpress","external_site_url":%q,"credentials":{"username":"admin","app_password":%q},"config":{"conflict_policy":"manual"}}`,
				backend, wp["WP_URL"], wp["WP_ADMIN_APP_PASSWORD"]))
			want(t, created, http.StatusCreated, "create")
			id := created.body["id"].(string)
			base := "/v1/integrations/" + id
			push := func(title string) string {
				t.Helper()
				got := r.do("POST", base+"/records", editor, fmt.Sprintf(`{"model":"post","local_id":"story-7","data":{"title":%q,"body_html":"<p>Mine</p>","status":"publish"}}`, title))
				want(t, got, http.StatusAccepted, "push")
				return got.body["push_id"].(string)
			}
			editInWordPress := func(ext, title string) {
				t.Helper()
				time.Sleep(1100 * time.Millisecond) // WordPress keeps modification times to the second
				wptest.PHP(t, fmt.Sprintf(`wp_update_post(['ID' => %s, 'post_title' => %q]);`, ext, title))
			}
			record := func(ext string) map[string]any {
				t.Helper()
				got := r.do("GET", base+"/records/post/"+ext, viewer, "")
				want(t, got, http.StatusOK, "record")
				return got.body
			}
			resolve := func(pushID, use string) reply {
				t.Helper()
				return r.do("POST", base+"/pushes/"+pushID+"/resolve", editor, fmt.Sprintf(`{"use":%q}`, use))
			}

			first := waitPush(t, r, editor, id, push("Mine 1"))
			ext, _ := first["external_id"].(string)
			if first["status"] != "done" || ext == "" {
				t.Fatalf("first push: %v", first)
			}
			defer wptest.PHP(t, fmt.Sprintf(`wp_delete_post(%s, true);`, ext))

			// An edit in WordPress, then two pushes: the first meets the
			// conflict, the second waits behind it.
			editInWordPress(ext, "Theirs 1")
			conflict := waitPush(t, r, editor, id, push("Mine 2"))
			if conflict["status"] != "conflict" {
				t.Fatalf("push over an edit in WordPress: %v", conflict)
			}
			conflictID := conflict["id"].(string)
			held := push("Mine 3")
			shown := r.do("GET", base+"/pushes/"+conflictID, viewer, "")
			want(t, shown, http.StatusOK, "the push in conflict")
			data, _ := shown.body["data"].(map[string]any)
			remote, _ := shown.body["remote"].(map[string]any)
			if data["title"] != "Mine 2" || remote["title"] != "Theirs 1" || remote["external_id"] != ext || shown.body["remote_modified_at"] == nil {
				t.Fatalf("the push in conflict shows: %s", shown.raw)
			}
			list := r.do("GET", base+"/pushes?status=conflict", viewer, "")
			want(t, list, http.StatusOK, "pushes in conflict")
			if items := list.body["items"].([]any); len(items) != 1 || items[0].(map[string]any)["id"] != conflictID {
				t.Fatalf("pushes in conflict: %s", list.raw)
			}
			time.Sleep(time.Second) // the held push's job has run by now
			if got := r.do("GET", base+"/pushes/"+held, viewer, ""); got.body["status"] != "queued" || wpPost(t, ext)["title"] != "Theirs 1" {
				t.Fatalf("a push after the unresolved conflict: %s; WordPress has %v", got.raw, wpPost(t, ext)["title"])
			}
			list = r.do("GET", base+"/pushes?local_id=story-7", viewer, "")
			if items := list.body["items"].([]any); len(items) != 3 || items[0].(map[string]any)["id"] != held || items[0].(map[string]any)["status"] != "queued" {
				t.Fatalf("pushes of story-7: %s", list.raw)
			}
			want(t, resolve(held, "local"), http.StatusConflict, "resolving a push not in conflict")
			want(t, r.do("POST", base+"/pushes/"+conflictID+"/resolve", viewer, `{"use":"remote"}`), http.StatusForbidden, "a viewer resolving")
			want(t, resolve(conflictID, "neither"), http.StatusBadRequest, "resolving with neither version")

			// Theirs: kept in WordPress and stored as the record; then the
			// held push applies.
			got := resolve(conflictID, "remote")
			want(t, got, http.StatusOK, "resolve with the platform's version")
			if got.body["status"] != "resolved" || got.body["external_id"] != ext {
				t.Fatalf("resolved push: %s", got.raw)
			}
			if rec := record(ext); rec["title"] != "Theirs 1" {
				t.Fatalf("the record after keeping theirs: %v", rec)
			}
			if after := waitPush(t, r, editor, id, held); after["status"] != "done" || wpPost(t, ext)["title"] != "Mine 3" {
				t.Fatalf("the held push after the resolution: %v; WordPress has %v", after, wpPost(t, ext)["title"])
			}
			want(t, resolve(conflictID, "remote"), http.StatusConflict, "resolving again")

			// Mine: applied over their edit.
			editInWordPress(ext, "Theirs 2")
			second := waitPush(t, r, editor, id, push("Mine 4"))
			if second["status"] != "conflict" {
				t.Fatalf("second push over an edit in WordPress: %v", second)
			}
			got = resolve(second["id"].(string), "local")
			want(t, got, http.StatusOK, "resolve with the pushed version")
			if got.body["status"] != "done" || got.body["external_id"] != ext || got.body["error"] != nil {
				t.Fatalf("resolved push: %s", got.raw)
			}
			if post := wpPost(t, ext); post["title"] != "Mine 4" || post["status"] != "publish" {
				t.Fatalf("WordPress after applying ours: %v", post)
			}
			if rec := record(ext); rec["title"] != "Mine 4" {
				t.Fatalf("the record after applying ours: %v", rec)
			}
			evs := r.do("GET", base+"/events?type=conflict_resolved", viewer, "")
			if items := evs.body["items"].([]any); len(items) != 2 {
				t.Fatalf("conflict_resolved events: %s", evs.raw)
			}
			for _, b := range []string{shown.raw, list.raw, got.raw, evs.raw} {
				if strings.Contains(b, wp["WP_ADMIN_APP_PASSWORD"]) {
					t.Fatal("a response shows the Application Password")
				}
			}
		})
	}
}
