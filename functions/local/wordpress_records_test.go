package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/connector/wordpress/wptest"
)

// The records of a real WordPress, through the runner's API: titles and
// term names in plain text (WordPress stores "&" as "&amp;" for a user
// without unfiltered_html, as here), bodies and excerpts as HTML, the
// parents of pages and categories, the menu order of pages, and the local
// id of a post a push created.
func TestWordPressRecordShapes(t *testing.T) {
	began := time.Now()
	wp := wptest.Start(t, "local")
	t.Setenv("JOINERY_ALLOW_PRIVATE_NETWORKS", hostPort(t, wp["WP_URL"]))
	out := wptest.PHP(t, `
$parent = wp_insert_term('Shapes & Parents', 'category');
$child = wp_insert_term('Shapes Child', 'category', ['parent' => $parent['term_id']]);
$top = wp_insert_post(['post_type' => 'page', 'post_title' => 'Shapes Top', 'post_status' => 'publish'], true);
$sub = wp_insert_post(['post_type' => 'page', 'post_title' => 'Shapes Sub & Co', 'post_status' => 'publish', 'post_parent' => $top, 'menu_order' => 3], true);
$post = wp_insert_post(['post_title' => "Don't Stop: Rock & Roll", 'post_status' => 'publish', 'post_content' => '<p>Tom &amp; Jerry</p>',
	'post_excerpt' => '<em>Short</em> & sweet', 'post_category' => [$child['term_id']]], true);
echo json_encode(['parent' => $parent['term_id'], 'child' => $child['term_id'], 'top' => $top, 'sub' => $sub, 'post' => $post,
	'stored_title' => get_post($post)->post_title]);`)
	var ids struct {
		Parent, Child, Top, Sub, Post int
		StoredTitle                   string `json:"stored_title"`
	}
	if err := json.Unmarshal([]byte(out), &ids); err != nil || ids.Post == 0 || ids.Sub == 0 || ids.Child == 0 {
		t.Fatalf("seed: %q %v", out, err)
	}
	// The entities this test is about: WordPress keeps them in the title.
	if !strings.Contains(ids.StoredTitle, "&amp;") {
		t.Logf("WordPress stored the title as %q", ids.StoredTitle)
	}
	str := func(n int) string { return fmt.Sprint(n) }
	parentOf := func(rec map[string]any) any {
		p, _ := rec["parent"].(map[string]any)
		return p["external_id"]
	}

	for _, backend := range []string{"embedded", "aws"} {
		t.Run(backend, func(t *testing.T) {
			r := startRunner(t, backend)
			editor := r.token("acct-shapes", "editor", "")
			id := r.connectWordPress(t, editor, "shapes-"+backend, wp["WP_URL"], wp["WP_ADMIN_APP_PASSWORD"])
			syncAndWait(t, r, editor, id, `{"direction":"from_external","models":["category","page","post"]}`)

			cats := feedPages(t, r, editor, id, "model=category&limit=100")
			if c := cats[str(ids.Child)]; c["title"] != "Shapes Child" || parentOf(c) != str(ids.Parent) {
				t.Fatalf("child category: %v", c)
			}
			if c := cats[str(ids.Parent)]; c["title"] != "Shapes & Parents" || c["parent"] != nil {
				t.Fatalf("parent category: %v", c)
			}
			pages := feedPages(t, r, editor, id, "model=page&limit=100")
			if p := pages[str(ids.Sub)]; p["title"] != "Shapes Sub & Co" || parentOf(p) != str(ids.Top) || p["menu_order"] != float64(3) {
				t.Fatalf("child page: %v", p)
			}
			if p := pages[str(ids.Top)]; p["parent"] != nil || p["menu_order"] != float64(0) {
				t.Fatalf("top-level page: %v", p)
			}
			checkSchemas(t, "category", cats)
			checkSchemas(t, "page", pages)
			checkSchemas(t, "post", feedPages(t, r, editor, id, "model=post&limit=100"))
			post := r.do("GET", fmt.Sprintf("/v1/integrations/%s/records/post/%d", id, ids.Post), editor, "")
			want(t, post, http.StatusOK, "the post's record")
			if post.body["title"] != "Don't Stop: Rock & Roll" || !strings.Contains(post.body["body_html"].(string), "<p>Tom &amp; Jerry</p>") ||
				!strings.Contains(post.body["excerpt"].(string), "<em>Short</em>") || post.body["local_id"] != nil {
				t.Fatalf("the post's record: %s", post.raw)
			}

			// A push's post carries its local id, and keeps it when a run
			// reads the post again after an edit in WordPress.
			pushed := r.do("POST", "/v1/integrations/"+id+"/records", editor,
				`{"model":"post","local_id":"shapes-1","data":{"title":"Tom & Jerry's","body_html":"<p>Pushed</p>","status":"draft"}}`)
			want(t, pushed, http.StatusAccepted, "push")
			done := waitPush(t, r, editor, id, pushed.body["push_id"].(string))
			ext, _ := done["external_id"].(string)
			if done["status"] != "done" || ext == "" {
				t.Fatalf("push: %v", done)
			}
			got := r.do("GET", "/v1/integrations/"+id+"/records/post/"+ext, editor, "")
			if got.body["local_id"] != "shapes-1" || got.body["title"] != "Tom & Jerry's" {
				t.Fatalf("the pushed post's record: %s", got.raw)
			}
			time.Sleep(1100 * time.Millisecond) // WordPress keeps modification times to the second
			wptest.PHP(t, fmt.Sprintf(`wp_update_post(['ID' => %s, 'post_title' => 'Tom & Jerry, edited']);`, ext))
			syncAndWait(t, r, editor, id, `{"direction":"from_external","models":["post"]}`)
			got = r.do("GET", "/v1/integrations/"+id+"/records/post/"+ext, editor, "")
			if got.body["local_id"] != "shapes-1" || got.body["title"] != "Tom & Jerry, edited" {
				t.Fatalf("the pushed post's record after a sync: %s", got.raw)
			}
		})
	}
	t.Logf("took %s", time.Since(began).Round(time.Millisecond))
}
