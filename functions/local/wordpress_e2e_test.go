package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/connector/wordpress/wptest"
)

func hostPort(t testing.TB, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// Connection tests through the runner's API against a real WordPress.
func TestWordPressConnection(t *testing.T) {
	wp := wptest.Start(t, "local")
	var internalConns atomic.Int32
	internal := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "internal") }))
	internal.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			internalConns.Add(1)
		}
	}
	internal.Start()
	defer internal.Close()
	redirector := httptest.NewServer(http.RedirectHandler(internal.URL+"/wp-json/wp/v2/users/me", http.StatusFound))
	defer redirector.Close()
	// Exactly the WordPress servers and the redirector are reachable.
	t.Setenv("JOINERY_ALLOW_PRIVATE_NETWORKS", strings.Join([]string{
		hostPort(t, wp["WP_URL"]), hostPort(t, wp["WP_URL_NOPRETTY"]), hostPort(t, redirector.URL)}, ","))
	r := startRunner(t, "embedded")
	editor := r.token("acct-wp", "editor", "")
	var bodies []string
	n := 0
	check := func(siteURL, user, password string) (map[string]any, map[string]any) {
		t.Helper()
		n++
		body := fmt.Sprintf(`{"site_id":"wp-%d","platform":"wordpress","external_site_url":%q,"credentials":{"username":%q,"app_password":%q}}`, n, siteURL, user, password)
		created := r.do("POST", "/v1/integrations", editor, body)
		want(t, created, http.StatusCreated, "create")
		id := created.body["id"].(string)
		res := r.do("POST", "/v1/integrations/"+id+"/test_connection", editor, "")
		want(t, res, http.StatusOK, "test_connection")
		got := r.do("GET", "/v1/integrations/"+id, editor, "")
		bodies = append(bodies, res.raw, got.raw)
		return res.body, got.body
	}

	res, it := check(wp["WP_URL"], "admin", wp["WP_ADMIN_APP_PASSWORD"])
	details, _ := res["details"].(map[string]any)
	if res["ok"] != true || fmt.Sprint(details["roles"]) != "[administrator]" || details["can_publish"] != true || details["can_upload"] != true {
		t.Fatalf("admin: %v", res)
	}
	if it["connection_status"] != "connected" || it["connection_checked_at"] == nil {
		t.Fatalf("outcome not stored: %v", it)
	}

	res, it = check(wp["WP_URL"], "admin", "wrong pass word 1234")
	if res["ok"] != false || !strings.Contains(res["message"].(string), "Application Password") || it["connection_status"] != "reauthorization_required" {
		t.Fatalf("wrong password: %v / %v", res, it["connection_status"])
	}

	res, _ = check(wp["WP_URL"], "author", wp["WP_AUTHOR_APP_PASSWORD"])
	details, _ = res["details"].(map[string]any)
	caps, _ := details["capabilities"].(map[string]any)
	if res["ok"] != true || fmt.Sprint(details["roles"]) != "[author]" || caps["manage_categories"] != false || caps["edit_others_posts"] != false || caps["publish_posts"] != true {
		t.Fatalf("author: %v", res)
	}

	res, _ = check(wp["WP_URL_NOPRETTY"], "admin", wp["WP_ADMIN_APP_PASSWORD"])
	details, _ = res["details"].(map[string]any)
	if res["ok"] != true || details["rest_route_fallback"] != true {
		t.Fatalf("site without /wp-json/ routing: %v", res)
	}

	// localhost is a hostname that resolves to a loopback address, through
	// the real resolver, on a port the allow-list does not name.
	viaName := "http://localhost:" + internal.URL[strings.LastIndex(internal.URL, ":")+1:]
	for _, target := range []string{"http://169.254.169.254", internal.URL, "http://[::1]", "http://10.0.0.1", viaName, redirector.URL} {
		res, it = check(target, "admin", wp["WP_ADMIN_APP_PASSWORD"])
		if res["ok"] != false || !strings.Contains(res["message"].(string), "points at a private or reserved address") || it["connection_status"] != "error" {
			t.Fatalf("%s was not refused: %v", target, res)
		}
	}
	if c := internalConns.Load(); c != 0 {
		t.Fatalf("a refused target received %d connections", c)
	}
	for _, b := range bodies {
		if strings.Contains(b, wp["WP_ADMIN_APP_PASSWORD"]) || strings.Contains(b, wp["WP_AUTHOR_APP_PASSWORD"]) {
			t.Fatalf("a response contains an Application Password: %s", b)
		}
	}
}

// Plugin onboarding through the runner's API against a real WordPress: the
// plugin holds a site key, not a user's token.
func TestWordPressOnboarding(t *testing.T) {
	wp := wptest.Start(t, "local")
	t.Setenv("JOINERY_ALLOW_PRIVATE_NETWORKS", strings.Join([]string{hostPort(t, wp["WP_URL"]), hostPort(t, wp["WP_URL_NOPRETTY"])}, ","))
	r := startRunner(t, "embedded")
	editor := r.token("acct-plugin", "editor", "")
	created := r.do("POST", "/v1/sites/blog-1/keys", editor, `{"name":"plugin"}`)
	want(t, created, http.StatusCreated, "create site key")
	key := created.body["key"].(string)
	onboard := func(k, password string) reply {
		return r.do("POST", "/v1/integrations/test_connection", k,
			fmt.Sprintf(`{"site_url":%q,"username":"admin","app_password":%q}`, wp["WP_URL"], password))
	}
	count := func() int {
		got := r.do("GET", "/v1/integrations?site_id=blog-1", editor, "")
		want(t, got, http.StatusOK, "list")
		return len(got.body["items"].([]any))
	}

	bad := onboard(key, "wrong pass word 1234")
	want(t, bad, http.StatusUnprocessableEntity, "onboarding with a wrong password")
	if msg := bad.body["error"].(map[string]any)["message"].(string); !strings.Contains(msg, "Application Password") {
		t.Fatalf("message: %q", msg)
	}
	if n := count(); n != 0 {
		t.Fatalf("a failed onboarding left %d integrations behind", n)
	}

	good := onboard(key, wp["WP_ADMIN_APP_PASSWORD"])
	want(t, good, http.StatusOK, "onboarding")
	if good.body["ok"] != true || good.body["created"] != true {
		t.Fatalf("onboarding: %s", good.raw)
	}
	id := good.body["integration_id"].(string)
	it := r.do("GET", "/v1/integrations/"+id, editor, "")
	if it.body["connection_status"] != "connected" || it.body["site_id"] != "blog-1" || it.body["has_credentials"] != true {
		t.Fatalf("onboarded integration: %s", it.raw)
	}
	want(t, onboard(key, "wrong pass word 1234"), http.StatusUnprocessableEntity, "a wrong password later")
	if res := r.do("POST", "/v1/integrations/"+id+"/test_connection", editor, ""); res.body["ok"] != true {
		t.Fatalf("a wrong password broke the working integration: %s", res.raw)
	}
	again := onboard(key, wp["WP_ADMIN_APP_PASSWORD"])
	if again.status != http.StatusOK || again.body["created"] != false || again.body["integration_id"] != id || count() != 1 {
		t.Fatalf("onboarding again: %s", again.raw)
	}

	// Structure: read from WordPress until the plugin pushes its own.
	ct := r.do("GET", "/v1/integrations/"+id+"/content_types", editor, "")
	want(t, ct, http.StatusOK, "content_types")
	if ct.body["source"] != "platform" || !strings.Contains(ct.raw, `"name":"post"`) || !strings.Contains(ct.raw, `"name":"category"`) {
		t.Fatalf("content_types from WordPress: %s", ct.raw)
	}
	push := r.do("POST", "/v1/integrations/"+id+"/update_structure", key,
		`{"post_types":[{"name":"post","label":"Posts"},{"name":"book","label":"Books","rest_base":"books"}],"taxonomies":[{"name":"genre","label":"Genres","types":["book"]}],"plugin_version":"0.9.0"}`)
	want(t, push, http.StatusOK, "update_structure")
	ct = r.do("GET", "/v1/integrations/"+id+"/content_types", editor, "")
	if ct.body["source"] != "plugin" || ct.body["plugin_version"] != "0.9.0" || !strings.Contains(ct.raw, `"name":"book"`) {
		t.Fatalf("content_types after a push: %s", ct.raw)
	}
	want(t, r.do("POST", "/v1/integrations/"+id+"/update_structure", editor, `{"post_types":[],"taxonomies":[]}`), http.StatusUnauthorized, "update_structure with a user's token")

	// Wrong and revoked keys.
	want(t, onboard(key[:len(key)-2]+"xx", wp["WP_ADMIN_APP_PASSWORD"]), http.StatusUnauthorized, "a wrong key")
	want(t, onboard("", wp["WP_ADMIN_APP_PASSWORD"]), http.StatusUnauthorized, "no key")
	keyID := created.body["id"].(string)
	want(t, r.do("DELETE", "/v1/sites/blog-1/keys/"+keyID, editor, ""), http.StatusOK, "revoke")
	want(t, onboard(key, wp["WP_ADMIN_APP_PASSWORD"]), http.StatusUnauthorized, "a revoked key")
	list := r.do("GET", "/v1/sites/blog-1/keys", editor, "")
	if items := list.body["items"].([]any); len(items) != 1 || items[0].(map[string]any)["revoked"] != true || strings.Contains(list.raw, key) {
		t.Fatalf("keys after revoking: %s", list.raw)
	}
	for _, b := range []string{good.raw, bad.raw, again.raw, it.raw, ct.raw, list.raw} {
		if strings.Contains(b, wp["WP_ADMIN_APP_PASSWORD"]) {
			t.Fatalf("a response contains the Application Password: %s", b)
		}
	}
}

// wpCount is how many posts WordPress holds in the statuses Joinery syncs.
func wpCount(t testing.TB) int {
	t.Helper()
	out := wptest.PHP(t, `$q = new WP_Query(['post_type' => 'post', 'post_status' => ['publish', 'future', 'draft', 'pending', 'private', 'trash'], 'posts_per_page' => 1, 'fields' => 'ids']); echo $q->found_posts;`)
	n, err := strconv.Atoi(strings.TrimSpace(out))
	if err != nil {
		t.Fatalf("post count: %q", out)
	}
	return n
}

// syncAndWait starts a run and polls sync_status until it has finished.
func syncAndWait(t testing.TB, r *runner, token, id, body string) map[string]any {
	t.Helper()
	start := r.do("POST", "/v1/integrations/"+id+"/sync", token, body)
	want(t, start, http.StatusAccepted, "sync")
	return waitRun(t, r, token, id, start.body["run_id"].(string))
}

// syncTwiceAndWait starts a run and, while it is under way (a full pull
// takes seconds), asks again: the answer is the same run.
func syncTwiceAndWait(t testing.TB, r *runner, token, id, body string) map[string]any {
	t.Helper()
	start := r.do("POST", "/v1/integrations/"+id+"/sync", token, body)
	want(t, start, http.StatusAccepted, "sync")
	runID := start.body["run_id"].(string)
	again := r.do("POST", "/v1/integrations/"+id+"/sync", token, body)
	if again.status != http.StatusOK || again.body["run_id"] != runID {
		t.Fatalf("a second sync request during the run: %d %s (run %s)", again.status, again.raw, runID)
	}
	return waitRun(t, r, token, id, runID)
}

// waitRun polls sync_status until the run has finished.
func waitRun(t testing.TB, r *runner, token, id, runID string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		st := r.do("GET", "/v1/integrations/"+id+"/sync_status", token, "")
		want(t, st, http.StatusOK, "sync_status")
		run, _ := st.body["run"].(map[string]any)
		if run != nil && run["id"] == runID && run["status"] != "running" {
			if run["status"] != "completed" || st.body["sync_status"] != "completed" || st.body["last_sync_at"] == nil {
				t.Fatalf("run did not complete: %s", st.raw)
			}
			return run["progress"].(map[string]any)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("run %s did not finish in time", runID)
	return nil
}

// allRecords pages through the change feed of posts.
func allRecords(t testing.TB, r *runner, token, id, query string) map[string]map[string]any {
	t.Helper()
	return feedPages(t, r, token, id, "model=post&limit=100"+query)
}

// feedPages reads a change feed to its end, following next_cursor, and
// returns its records by external id.
func feedPages(t testing.TB, r *runner, token, id, query string) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for cursor := ""; ; {
		got := r.do("GET", "/v1/integrations/"+id+"/records?"+query+cursor, token, "")
		want(t, got, http.StatusOK, "records")
		for _, it := range got.body["items"].([]any) {
			rec := it.(map[string]any)
			out[rec["external_id"].(string)] = rec
		}
		next, _ := got.body["next_cursor"].(string)
		if next == "" {
			return out
		}
		cursor = "&cursor=" + url.QueryEscape(next)
	}
}

// A pull of the real WordPress through the runner's API, on both backends:
// complete, then incremental, writing only what changed.
func TestWordPressSync(t *testing.T) {
	wp := wptest.Start(t, "local")
	t.Setenv("JOINERY_ALLOW_PRIVATE_NETWORKS", hostPort(t, wp["WP_URL"]))
	for _, backend := range []string{"embedded", "aws"} {
		t.Run(backend, func(t *testing.T) {
			r := startRunner(t, backend)
			editor := r.token("acct-sync", "editor", "")
			id := r.connectWordPress(t, editor, "sync-"+backend, wp["WP_URL"], wp["WP_ADMIN_APP_PASSWORD"])
			pull := `{"direction":"from_external","models":["post"]}`

			total := wpCount(t)
			p := syncTwiceAndWait(t, r, editor, id, pull)
			recs := allRecords(t, r, editor, id, "")
			t.Logf("%s: full pull: %v pages, %v items seen, %v written; WordPress has %d posts", backend, p["pages_done"], p["items_seen"], p["items_written"], total)
			if len(recs) != total || total < 1000 || int(p["items_written"].(float64)) != total {
				t.Fatalf("%d records, %v written; WordPress has %d posts", len(recs), p["items_written"], total)
			}
			p = syncAndWait(t, r, editor, id, pull)
			t.Logf("%s: re-run: %v items seen, %v written", backend, p["items_seen"], p["items_written"])
			if p["items_written"].(float64) != 0 {
				t.Fatalf("a run with nothing changed wrote %v records", p["items_written"])
			}

			// Edit three posts in WordPress, trash a fourth.
			var ids []int
			for k, rec := range recs {
				if rec["status"] == "publish" && len(ids) < 4 {
					n, _ := strconv.Atoi(k)
					ids = append(ids, n)
				}
			}
			// A poller asks for what changed after the newest change it saw.
			newest := ""
			for _, rec := range recs {
				newest = max(newest, rec["changed_at"].(string))
			}
			wptest.PHP(t, fmt.Sprintf(`foreach ([%d, %d, %d] as $id) { wp_update_post(['ID' => $id, 'post_title' => "Edited by the %s test $id"]); }`, ids[0], ids[1], ids[2], backend))
			p = syncAndWait(t, r, editor, id, pull)
			t.Logf("%s: after editing 3 posts: %v items seen, %v written", backend, p["items_seen"], p["items_written"])
			if p["items_written"].(float64) != 3 || p["items_seen"].(float64) > 50 {
				t.Fatalf("after editing 3 posts: %v", p)
			}
			changed := allRecords(t, r, editor, id, "&modified_after="+url.QueryEscape(newest))
			for _, n := range ids[:3] {
				if !strings.HasPrefix(changed[strconv.Itoa(n)]["title"].(string), "Edited by the "+backend) {
					t.Fatalf("post %d not in the change feed: %v", n, changed[strconv.Itoa(n)])
				}
			}
			if len(changed) != 3 {
				t.Fatalf("the change feed since the edit has %d records, want 3", len(changed))
			}
			wptest.PHP(t, fmt.Sprintf(`wp_trash_post(%d);`, ids[3]))
			syncAndWait(t, r, editor, id, pull)
			if rec := allRecords(t, r, editor, id, "")[strconv.Itoa(ids[3])]; rec["deleted"] != true || rec["status"] != "trash" {
				t.Fatalf("trashed post: %v", rec)
			}
			wptest.PHP(t, fmt.Sprintf(`wp_untrash_post(%d);`, ids[3]))

			live := 0
			for _, rec := range allRecords(t, r, editor, id, "") {
				if rec["deleted"] != true {
					live++
				}
			}
			health := r.do("GET", "/v1/integrations/"+id+"/sync_health", editor, "")
			want(t, health, http.StatusOK, "sync_health")
			if n := health.body["records"].(map[string]any)["post"].(float64); int(n) != live || health.body["last_success_at"] == nil {
				t.Fatalf("sync_health: %s (want %d posts not in the trash)", health.raw, live)
			}
			evs := r.do("GET", "/v1/integrations/"+id+"/events?type=run_finished", editor, "")
			if items := evs.body["items"].([]any); len(items) != 4 {
				t.Fatalf("%d run_finished events, want 5: %s", len(items), evs.raw)
			}
			want(t, r.do("DELETE", "/v1/integrations/"+id, editor, ""), http.StatusNoContent, "delete")
		})
	}
}

func pngImage(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 8, 8))
	for i := range img.Pix {
		img.Pix[i] = 0x80
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// waitPush polls a push until it is no longer queued.
func waitPush(t *testing.T, r *runner, token, id, pushID string) map[string]any {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		got := r.do("GET", "/v1/integrations/"+id+"/pushes/"+pushID, token, "")
		want(t, got, http.StatusOK, "push")
		if got.body["status"] != "queued" {
			return got.body
		}
	}
	t.Fatalf("push %s still queued", pushID)
	return nil
}

// wpPost reads a post as WordPress has it.
func wpPost(t *testing.T, id string) map[string]any {
	t.Helper()
	out := wptest.PHP(t, fmt.Sprintf(`$p = get_post(%s); echo json_encode(['title' => $p->post_title, 'status' => $p->post_status, 'content' => $p->post_content,
		'categories' => wp_get_post_categories($p->ID, ['fields' => 'names']), 'tags' => wp_get_post_tags($p->ID, ['fields' => 'names']),
		'thumbnail' => (int) get_post_thumbnail_id($p->ID)]);`, id))
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("post %s: %q", id, out)
	}
	return m
}

// Pushes through the runner's API to the real WordPress, on both backends.
func TestWordPressPush(t *testing.T) {
	wp := wptest.Start(t, "local")
	cover := pngImage(t)
	var imageGets atomic.Int32
	img := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		imageGets.Add(1)
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write(cover)
	}))
	defer img.Close()
	t.Setenv("JOINERY_ALLOW_PRIVATE_NETWORKS", hostPort(t, wp["WP_URL"])+","+hostPort(t, img.URL))
	for _, backend := range []string{"embedded", "aws"} {
		t.Run(backend, func(t *testing.T) {
			r := startRunner(t, backend)
			editor := r.token("acct-push", "editor", "")
			id := r.connectWordPress(t, editor, "push-"+backend, wp["WP_URL"], wp["WP_ADMIN_APP_PASSWORD"])
			push := func(title string) map[string]any {
				t.Helper()
				body := fmt.Sprintf(`{"model":"post","local_id":"article-42","data":{"title":%q,"body_html":"<p>Pushed body</p>","status":"publish",
					"categories":["Pushed ✓","News"],"tags":["joinery-push-%s"],"featured_image_url":%q,"featured_image_alt":"A cover"}}`, title, backend, img.URL+"/cover.png")
				got := r.do("POST", "/v1/integrations/"+id+"/records", editor, body)
				want(t, got, http.StatusAccepted, "push")
				return waitPush(t, r, editor, id, got.body["push_id"].(string))
			}

			first := push("Pushed from Joinery (" + backend + ")")
			ext, _ := first["external_id"].(string)
			if first["status"] != "done" || ext == "" {
				t.Fatalf("first push: %v", first)
			}
			post := wpPost(t, ext)
			if post["title"] != "Pushed from Joinery ("+backend+")" || post["status"] != "publish" || post["thumbnail"].(float64) == 0 ||
				fmt.Sprint(post["categories"]) != "[News Pushed ✓]" || fmt.Sprint(post["tags"]) != "[joinery-push-"+backend+"]" {
				t.Fatalf("the post in WordPress: %v", post)
			}

			gets := imageGets.Load()
			second := push("Pushed again (" + backend + ")")
			if n := imageGets.Load() - gets; n != 0 {
				t.Fatalf("the second push fetched the same featured image again (%d times)", n)
			}
			if second["status"] != "done" || second["external_id"] != ext || second["seq"].(float64) != 2 {
				t.Fatalf("second push: %v (first went to %s)", second, ext)
			}
			if post := wpPost(t, ext); post["title"] != "Pushed again ("+backend+")" {
				t.Fatalf("after the second push: %v", post)
			}
			n := wptest.PHP(t, fmt.Sprintf(`echo count(get_posts(['post_type' => 'post', 'post_status' => 'any', 'tag' => 'joinery-push-%s', 'numberposts' => -1]));`, backend))
			if strings.TrimSpace(n) != "1" {
				t.Fatalf("%s posts carry this test's tag, want 1", n)
			}
			rec := allRecords(t, r, editor, id, "")[ext]
			if rec["title"] != "Pushed again ("+backend+")" {
				t.Fatalf("the pushed post's record: %v", rec)
			}

			// Someone edits the post in WordPress; under "manual" the next
			// push leaves both versions and records a conflict.
			want(t, r.do("PATCH", "/v1/integrations/"+id, editor, `{"config":{"conflict_policy":"manual"}}`), http.StatusOK, "set the policy")
			time.Sleep(1100 * time.Millisecond) // WordPress keeps modification times to the second
			wptest.PHP(t, fmt.Sprintf(`wp_update_post(['ID' => %s, 'post_title' => 'Edited in WordPress']);`, ext))
			third := push("Third push (" + backend + ")")
			if third["status"] != "conflict" || third["external_id"] != ext || !strings.Contains(third["error"].(string), "changed on the platform") {
				t.Fatalf("push over a remote edit: %v", third)
			}
			if post := wpPost(t, ext); post["title"] != "Edited in WordPress" {
				t.Fatalf("a conflicting push overwrote the remote edit: %v", post)
			}
			evs := r.do("GET", "/v1/integrations/"+id+"/events?type=conflict", editor, "")
			if items := evs.body["items"].([]any); len(items) != 1 {
				t.Fatalf("conflict events: %s", evs.raw)
			}
			health := r.do("GET", "/v1/integrations/"+id+"/sync_health", editor, "")
			if health.body["pending_pushes"].(float64) != 0 {
				t.Fatalf("sync_health: %s", health.raw)
			}
			for _, b := range []string{evs.raw, health.raw} {
				if strings.Contains(b, wp["WP_ADMIN_APP_PASSWORD"]) {
					t.Fatal("a response shows the Application Password")
				}
			}
			wptest.PHP(t, fmt.Sprintf(`wp_delete_post(%s, true);`, ext))
		})
	}
}
