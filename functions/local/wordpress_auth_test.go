package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/connector/wordpress/wptest"
)

// newAppPassword gives a WordPress user a new Application Password and
// returns it with its uuid, by which it is revoked.
func newAppPassword(t *testing.T, login, name string) (string, string) {
	t.Helper()
	out := wptest.PHP(t, fmt.Sprintf(`$u = get_user_by('login', %q);
list($password, $item) = WP_Application_Passwords::create_new_application_password($u->ID, ['name' => %q]);
echo json_encode(['password' => $password, 'uuid' => $item['uuid']]);`, login, name))
	var got struct{ Password, UUID string }
	if err := json.Unmarshal([]byte(out), &got); err != nil || got.Password == "" {
		t.Fatalf("new Application Password: %q", out)
	}
	return got.Password, got.UUID
}

// endedRun waits for a run to end, however it ends, and returns
// sync_status.
func endedRun(t *testing.T, r *runner, token, id, runID string) reply {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		st := r.do("GET", "/v1/integrations/"+id+"/sync_status", token, "")
		want(t, st, http.StatusOK, "sync_status")
		if run, _ := st.body["run"].(map[string]any); run != nil && run["id"] == runID && run["status"] != "running" {
			return st
		}
	}
	t.Fatalf("run %s did not end in time", runID)
	return reply{}
}

// A run that starts with posts after the Application Password was revoked
// ends at once in error, the integration saying reauthorization_required,
// with a connection event — not "Invalid parameter(s): status", which is
// what WordPress answers a listing of drafts by a request it signs in as
// no one.
func TestWordPressRevokedPassword(t *testing.T) {
	wp := wptest.Start(t, "local")
	t.Setenv("JOINERY_ALLOW_PRIVATE_NETWORKS", hostPort(t, wp["WP_URL"]))
	for _, backend := range []string{"embedded", "aws"} {
		t.Run(backend, func(t *testing.T) {
			password, uuid := newAppPassword(t, "admin", "joinery-revoked-"+backend)
			r, _ := startSyncRunner(t, backend, 0, nil)
			editor := r.token("acct-revoked", "editor", "")
			id := r.connectWordPress(t, editor, "revoked-"+backend, wp["WP_URL"], password)
			if res := r.do("POST", "/v1/integrations/"+id+"/test_connection", editor, ""); res.body["ok"] != true {
				t.Fatalf("before revoking: %s", res.raw)
			}
			wptest.PHP(t, fmt.Sprintf(`WP_Application_Passwords::delete_application_password(get_user_by('login', 'admin')->ID, %q);`, uuid))

			runID := startRun(t, r, editor, id, `{"direction":"from_external","models":["post"]}`)
			st := endedRun(t, r, editor, id, runID)
			run := st.body["run"].(map[string]any)
			if run["status"] != "error" || st.body["sync_status"] != "error" || !strings.Contains(run["error"].(string), "Application Password") ||
				strings.Contains(st.raw, "Invalid parameter") {
				t.Fatalf("the run: %s", st.raw)
			}
			it := r.do("GET", "/v1/integrations/"+id, editor, "")
			if it.body["connection_status"] != "reauthorization_required" {
				t.Fatalf("integration: %s", it.raw)
			}
			conn := runEvents(t, r, editor, id, "connection", runID)
			if len(conn) != 1 || conn[0]["status"] != "error" || conn[0]["details"].(map[string]any)["connection_status"] != "reauthorization_required" {
				t.Fatalf("connection events: %v", conn)
			}
			if retries := runEvents(t, r, editor, id, "job_retry", runID); len(retries) != 0 {
				t.Fatalf("a revoked password was retried: %v", retries)
			}
			health := r.do("GET", "/v1/integrations/"+id+"/sync_health", editor, "")
			if health.body["connection_status"] != "reauthorization_required" {
				t.Fatalf("sync_health: %s", health.raw)
			}
			res := r.do("POST", "/v1/integrations/"+id+"/test_connection", editor, "")
			if res.body["ok"] != false || !strings.Contains(res.raw, "Application Password") {
				t.Fatalf("test_connection after revoking: %s", res.raw)
			}
			evs := r.do("GET", "/v1/integrations/"+id+"/events?limit=100", editor, "")
			for _, b := range []string{st.raw, it.raw, evs.raw, health.raw, res.raw} {
				if strings.Contains(b, password) {
					t.Fatalf("a response shows the Application Password: %s", b)
				}
			}
		})
	}
}

// An Author's default sync completes with the models an Author may read
// (its posts), the others skipped with model_skipped warnings and listed
// in sync_health; the connection test said so beforehand.
func TestWordPressAuthorSync(t *testing.T) {
	wp := wptest.Start(t, "local")
	t.Setenv("JOINERY_ALLOW_PRIVATE_NETWORKS", hostPort(t, wp["WP_URL"]))
	// The posts an Author reads with context=edit: those it may edit.
	out := wptest.PHP(t, `$a = get_user_by('login', 'author'); wp_set_current_user($a->ID);
$ids = get_posts(['post_type' => 'post', 'post_status' => ['publish', 'future', 'draft', 'pending', 'private', 'trash'], 'numberposts' => -1, 'fields' => 'ids']);
$mine = []; foreach ($ids as $id) { if (current_user_can('edit_post', $id)) $mine[] = (string) $id; }
echo json_encode(['id' => (string) $a->ID, 'posts' => $mine]);`)
	var author struct {
		ID    string
		Posts []string
	}
	if err := json.Unmarshal([]byte(out), &author); err != nil || len(author.Posts) < 100 {
		t.Fatalf("the Author's posts: %q", out)
	}
	sort.Strings(author.Posts)
	for _, backend := range []string{"embedded", "aws"} {
		t.Run(backend, func(t *testing.T) {
			r, _ := startSyncRunner(t, backend, 0, nil)
			editor := r.token("acct-author", "editor", "")
			created := r.do("POST", "/v1/integrations", editor, fmt.Sprintf(`{"site_id":"author-%s","platform":"wordpress","external_site_url":%q,"credentials":{"username":"author","app_password":%q}}`,
				backend, wp["WP_URL"], wp["WP_AUTHOR_APP_PASSWORD"]))
			want(t, created, http.StatusCreated, "create")
			id := created.body["id"].(string)

			res := r.do("POST", "/v1/integrations/"+id+"/test_connection", editor, "")
			models, _ := res.body["details"].(map[string]any)["models"].(map[string]any)
			wantModels := map[string]string{"post": "true true", "media": "true true", "page": "false false", "category": "false false", "tag": "false true"}
			for m, rw := range wantModels {
				a, _ := models[m].(map[string]any)
				if fmt.Sprint(a["read"], " ", a["write"]) != rw {
					t.Fatalf("test_connection: %s read/write %v %v, want %s: %s", m, a["read"], a["write"], rw, res.raw)
				}
			}
			if res.body["ok"] != true || !strings.Contains(res.body["message"].(string), "cannot read category, tag, page") {
				t.Fatalf("test_connection: %s", res.raw)
			}

			runID := startRun(t, r, editor, id, `{"direction":"from_external"}`)
			finishRun(t, r, editor, id, runID)
			var skipped []string
			for _, ev := range runEvents(t, r, editor, id, "model_skipped", runID) {
				if ev["status"] != "warning" || !strings.Contains(ev["message"].(string), "lacks the capability for this; WordPress says: ") {
					t.Fatalf("model_skipped event: %v", ev)
				}
				skipped = append(skipped, ev["model"].(string))
			}
			slices.Sort(skipped)
			if fmt.Sprint(skipped) != "[category page tag]" {
				t.Fatalf("model_skipped events for %v, want category, page and tag", skipped)
			}
			health := r.do("GET", "/v1/integrations/"+id+"/sync_health", editor, "")
			if fmt.Sprint(health.body["skipped_models"]) != "[category page tag]" || health.body["connection_status"] != "connected" {
				t.Fatalf("sync_health: %s", health.raw)
			}
			posts := feedPages(t, r, editor, id, "model=post&limit=100")
			var got []string
			for ext, rec := range posts {
				if a, _ := rec["author"].(map[string]any); a["external_id"] != author.ID {
					t.Fatalf("post %s is not the Author's: %v", ext, rec["author"])
				}
				got = append(got, ext)
			}
			sort.Strings(got)
			if !slices.Equal(got, author.Posts) {
				t.Fatalf("%d posts synced, want the Author's %d", len(got), len(author.Posts))
			}
			// Its listings are narrowed to its own posts, so they read as
			// consistent: the cursor moves, and the next run reads little.
			if shifted := runEvents(t, r, editor, id, "listing_shifted", runID); len(shifted) != 0 {
				t.Fatalf("the Author's listings read as shifted: %v", shifted)
			}
			again := startRun(t, r, editor, id, `{"direction":"from_external","models":["post"]}`)
			if p := finishRun(t, r, editor, id, again); p["items_written"].(float64) != 0 || p["items_seen"].(float64) > 50 {
				t.Fatalf("the next run: %v", p)
			}
		})
	}
}
