package wordpress

import (
	"context"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/integration"
)

// fixtureWP answers each list route with a fixture of WordPress's own
// JSON (context=edit, the fields Joinery asks for), and /wp/v2/posts/14
// with a post as WordPress renders it without raw fields.
func fixtureWP(t *testing.T) (connector.Connection, *[]string) {
	t.Helper()
	var asked []string
	files := map[string]string{"/wp-json/wp/v2/posts": "posts.json", "/wp-json/wp/v2/pages": "pages.json",
		"/wp-json/wp/v2/categories": "categories.json", "/wp-json/wp/v2/tags": "tags.json", "/wp-json/wp/v2/posts/14": "post-rendered.json"}
	conn := fakeConn(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked = append(asked, r.URL.Path+"?"+r.URL.Query().Get("_fields"))
		name, ok := files[r.URL.Path]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		b, err := os.ReadFile("testdata/records/" + name)
		if err != nil {
			t.Error(err)
		}
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		w.Header().Set("X-WP-Total", "3")
		w.Header().Set("X-WP-TotalPages", "1")
		_, _ = w.Write(b)
	}))
	return conn, &asked
}

func list(t *testing.T, conn connector.Connection, model string) map[string]integration.Record {
	t.Helper()
	p, err := New().List(context.Background(), conn, connector.ListRequest{Model: model})
	if err != nil || len(p.Failed) > 0 {
		t.Fatalf("list %s: %v %v", model, err, p.Failed)
	}
	out := map[string]integration.Record{}
	for _, r := range p.Records {
		out[r.ExternalID] = r
	}
	return out
}

func TestTitlesAndTermNamesArePlainText(t *testing.T) {
	conn, _ := fixtureWP(t)
	posts := list(t, conn, "post")
	if got, want := posts["12"].Title, "Don't Stop: Rock & Roll"; got != want {
		t.Errorf("title %q, want %q", got, want)
	}
	if got, want := posts["13"].Title, "Fish <3 chips"; got != want {
		t.Errorf("title with a tag %q, want %q", got, want)
	}
	// Bodies and excerpts stay HTML, entities and all.
	if got := posts["12"].BodyHTML; !strings.Contains(got, "<p>Tom &amp; Jerry</p>") {
		t.Errorf("body_html %q", got)
	}
	if got, want := posts["12"].Excerpt, "A <em>short</em> summary &amp; more"; got != want {
		t.Errorf("excerpt %q, want %q", got, want)
	}
	if got, want := list(t, conn, "tag")["7"].Title, "Rock & Roll"; got != want {
		t.Errorf("tag name %q, want %q", got, want)
	}
	// An answer with rendered fields only (older WordPress, some plugins).
	r, err := New().Get(context.Background(), conn, "post", "14")
	if err != nil {
		t.Fatal(err)
	}
	if want := "Don’t “panic” & relax"; r.Title != want {
		t.Errorf("rendered title %q, want %q", r.Title, want)
	}
}

func TestPagesCarryParentAndMenuOrder(t *testing.T) {
	conn, asked := fixtureWP(t)
	pages := list(t, conn, "page")
	if p := pages["40"]; p.Parent != "39" || p.MenuOrder == nil || *p.MenuOrder != 2 {
		t.Errorf("page 40: parent %q, menu_order %v", p.Parent, p.MenuOrder)
	}
	if p := pages["39"]; p.Parent != "" || p.MenuOrder == nil || *p.MenuOrder != 0 {
		t.Errorf("top-level page 39: parent %q, menu_order %v", p.Parent, p.MenuOrder)
	}
	// Posts have neither.
	if p := list(t, conn, "post")["12"]; p.Parent != "" || p.MenuOrder != nil {
		t.Errorf("post: parent %q, menu_order %v", p.Parent, p.MenuOrder)
	}
	for _, a := range *asked {
		// Listings ask for the fields; other reads (the user, when a
		// listing comes back short of its count) are not listings.
		if strings.Contains(a, "/wp/v2/pages") && !strings.Contains(a, "parent") {
			t.Errorf("parent not asked for: %s", a)
		}
	}
}

func TestCategoriesCarryParent(t *testing.T) {
	conn, _ := fixtureWP(t)
	cats := list(t, conn, "category")
	if c := cats["5"]; c.Parent != "4" || c.Title != "Local & Regional" {
		t.Errorf("category 5: parent %q, name %q", c.Parent, c.Title)
	}
	if c := cats["4"]; c.Parent != "" {
		t.Errorf("top-level category 4: parent %q", c.Parent)
	}
}
