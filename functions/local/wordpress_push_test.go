package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/joinery/joinery/pkg/connector/wordpress/wptest"
)

// wpPostFull reads all of a post that a push could change, as WordPress
// has it.
func wpPostFull(t *testing.T, id string) map[string]any {
	t.Helper()
	out := wptest.PHP(t, fmt.Sprintf(`$p = get_post(%s); echo json_encode(['title' => $p->post_title, 'status' => $p->post_status,
		'slug' => $p->post_name, 'link' => get_permalink($p->ID), 'content' => $p->post_content, 'excerpt' => $p->post_excerpt,
		'categories' => wp_get_post_categories($p->ID, ['fields' => 'names']), 'tags' => wp_get_post_tags($p->ID, ['fields' => 'names']),
		'thumbnail' => (int) get_post_thumbnail_id($p->ID)]);`, id))
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("post %s: %q", id, out)
	}
	return m
}

// wpPostsTitled counts the posts with a title in any status, the trash
// included.
func wpPostsTitled(t *testing.T, title string) string {
	t.Helper()
	return strings.TrimSpace(wptest.PHP(t, fmt.Sprintf(`global $wpdb; echo $wpdb->get_var($wpdb->prepare("SELECT COUNT(*) FROM $wpdb->posts WHERE post_title = %%s", %q));`, title)))
}

// Pushes change only what they carry, a first push that cannot succeed
// leaves nothing on the site, and pushes of up to 256 KiB go through —
// against the real WordPress, through the runner's API, on both backends.
func TestWordPressPushPatches(t *testing.T) {
	wp := wptest.Start(t, "local")
	cover := pngImage(t)
	img := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "missing") {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write(cover)
	}))
	defer img.Close()
	t.Setenv("JOINERY_ALLOW_PRIVATE_NETWORKS", hostPort(t, wp["WP_URL"])+","+hostPort(t, img.URL))
	for _, backend := range []string{"embedded", "aws"} {
		t.Run(backend, func(t *testing.T) {
			r := startRunner(t, backend)
			editor := r.token("acct-patch", "editor", "")
			id := r.connectWordPress(t, editor, "patch-"+backend, wp["WP_URL"], wp["WP_ADMIN_APP_PASSWORD"])
			push := func(localID, data string) map[string]any {
				t.Helper()
				got := r.do("POST", "/v1/integrations/"+id+"/records", editor, fmt.Sprintf(`{"model":"post","local_id":%q,"data":%s}`, localID, data))
				want(t, got, http.StatusAccepted, "push")
				return waitPush(t, r, editor, id, got.body["push_id"].(string))
			}

			// A published post with everything, then a push of its title only.
			first := push("patched", fmt.Sprintf(`{"title":"Patched (%s)","body_html":"<p>The body</p>","excerpt":"The excerpt","slug":"patched-%s",
				"status":"publish","categories":["Patched"],"tags":["patch-%s"],"featured_image_url":%q}`, backend, backend, backend, img.URL+"/cover.png"))
			ext, _ := first["external_id"].(string)
			if first["status"] != "done" || ext == "" {
				t.Fatalf("first push: %v", first)
			}
			before := wpPostFull(t, ext)
			if before["status"] != "publish" || before["slug"] != "patched-"+backend || before["thumbnail"].(float64) == 0 {
				t.Fatalf("the post as first pushed: %v", before)
			}
			if second := push("patched", `{"title":"Renamed"}`); second["status"] != "done" {
				t.Fatalf("title-only push: %v", second)
			}
			after := wpPostFull(t, ext)
			if after["title"] != "Renamed" {
				t.Fatalf("the title was not changed: %v", after)
			}
			for _, k := range []string{"status", "slug", "link", "content", "excerpt", "categories", "tags", "thumbnail"} {
				if fmt.Sprint(after[k]) != fmt.Sprint(before[k]) {
					t.Errorf("a title-only push changed %s from %v to %v", k, before[k], after[k])
				}
			}
			if rec := allRecords(t, r, editor, id, "")[ext]; rec["title"] != "Renamed" || rec["body_html"] != "<p>The body</p>" || rec["slug"] != "patched-"+backend {
				t.Fatalf("the record after a title-only push: %v", rec)
			}

			// [] and null remove every term; null clears the excerpt and
			// takes the featured image off.
			if cleared := push("patched", `{"categories":[],"tags":null,"excerpt":null,"featured_image_url":null}`); cleared["status"] != "done" {
				t.Fatalf("clearing push: %v", cleared)
			}
			if post := wpPostFull(t, ext); fmt.Sprintf("%v %v %q %v %q %q", post["categories"], post["tags"], post["excerpt"], post["thumbnail"], post["title"], post["slug"]) !=
				`[] [] "" 0 "Renamed" "patched-`+backend+`"` {
				t.Fatalf("after a clearing push: %v", post)
			}

			// A first push whose image answers 404: failed, and no post.
			title := "Broken image (" + backend + ")"
			broken := push("broken", fmt.Sprintf(`{"title":%q,"status":"publish","featured_image_url":%q}`, title, img.URL+"/missing.png"))
			if broken["status"] != "failed" || !strings.Contains(broken["error"].(string), "404") {
				t.Fatalf("push with a missing image: %v", broken)
			}
			if n := wpPostsTitled(t, title); n != "0" {
				t.Fatalf("%s posts left behind by a failed first push, want 0", n)
			}

			// 200 KB is accepted; data over 262,144 bytes or a body over
			// 300,000 is 413 too_large, naming the field.
			para := `<p>Fish & chips, "quoted", <em>émphasis</em>.</p>`
			large := strings.Repeat(para, 200_000/len(para))
			big := push("large", fmt.Sprintf(`{"title":"Large (%s)","body_html":%q}`, backend, large))
			if big["status"] != "done" {
				t.Fatalf("200 KB push: %v", big)
			}
			if post := wpPostFull(t, big["external_id"].(string)); post["content"] != large {
				t.Fatalf("the large post's body is %d bytes, want %d", len(post["content"].(string)), len(large))
			}
			for field, body := range map[string]string{
				"data": fmt.Sprintf(`{"model":"post","local_id":"huge","data":{"body_html":%q}}`, strings.Repeat("x", 262_145)),
				"body": fmt.Sprintf(`{"model":"post","local_id":"huge","data":{"body_html":"x"}}%s`, strings.Repeat(" ", 300_000)),
			} {
				got := r.do("POST", "/v1/integrations/"+id+"/records", editor, body)
				want(t, got, http.StatusRequestEntityTooLarge, "too large a push")
				e, _ := got.body["error"].(map[string]any)
				if fields, _ := e["fields"].(map[string]any); e["code"] != "too_large" || fields[field] == nil {
					t.Fatalf("too large a %s: %s", field, got.raw)
				}
			}
			wptest.PHP(t, fmt.Sprintf(`wp_delete_post(%s, true); wp_delete_post(%s, true);`, ext, big["external_id"]))
		})
	}
}
