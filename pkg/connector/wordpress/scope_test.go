package wordpress

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/joinery/joinery/pkg/connector"
)

// narrowingWP lists posts with context=edit as WordPress does: only those
// the user may edit (its own, unless it may edit others'), while
// X-WP-Total counts every post the query matched.
type narrowingWP struct {
	mu       sync.Mutex
	me       string // users/me
	meID     int
	others   bool // the user may edit others' posts
	requests []string
}

func (f *narrowingWP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	route := strings.TrimPrefix(r.URL.Path, "/wp-json")
	f.requests = append(f.requests, route+"?"+r.URL.Query().Get("author"))
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	if route == meRoute {
		fmt.Fprint(w, f.me)
		return
	}
	q := r.URL.Query()
	author, _ := strconv.Atoi(q.Get("author"))
	var matched []int // posts 1..30; every third is the user's
	for id := 1; id <= 30; id++ {
		owner := 1
		if id%3 == 0 {
			owner = f.meID
		}
		if author == 0 || owner == author {
			matched = append(matched, id)
		}
	}
	perPage, _ := strconv.Atoi(q.Get("per_page"))
	offset, _ := strconv.Atoi(q.Get("offset"))
	items := []map[string]any{}
	for _, id := range matched[min(offset, len(matched)):min(offset+perPage, len(matched))] {
		if id%3 == 0 || f.others {
			items = append(items, map[string]any{"id": id, "author": map[bool]int{true: f.meID, false: 1}[id%3 == 0], "modified_gmt": "2026-01-02T03:04:05"})
		}
	}
	w.Header().Set("X-WP-Total", strconv.Itoa(len(matched)))
	w.Header().Set("X-WP-TotalPages", strconv.Itoa((len(matched)+perPage-1)/perPage))
	_ = json.NewEncoder(w).Encode(items)
}

func (f *narrowingWP) reqs() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.requests
	f.requests = nil
	return out
}

// An Author's listings are narrowed to its own posts, so positions and
// counts agree; the user is read once. An administrator's cost nothing
// more.
func TestListingsNarrowedToTheUsersOwn(t *testing.T) {
	ctx := context.Background()
	f := &narrowingWP{me: wpAuthorMe, meID: 2}
	srv := httptest.NewServer(f)
	defer srv.Close()
	conn := connector.Connection{SiteURL: srv.URL, Credentials: map[string]string{"username": "author", "app_password": "x"}, HTTP: srv.Client()}
	c := New()
	page, err := c.List(ctx, conn, connector.ListRequest{Model: "post", Page: c.WindowToken(0), PageSize: 4})
	if err != nil || page.Total != 10 || len(page.Records) != 4 || page.Records[0].ExternalID != "3" || page.Records[3].ExternalID != "12" {
		t.Fatalf("first window: %v, total %d, %d records %+v", err, page.Total, len(page.Records), page.Records)
	}
	if got := fmt.Sprint(f.reqs()); got != "[/wp/v2/posts? /wp/v2/users/me? /wp/v2/posts?2]" {
		t.Fatalf("requests: %s", got)
	}
	ids, err := c.ListIDs(ctx, conn, connector.ListRequest{Model: "post", Page: c.WindowToken(8), PageSize: 4})
	if err != nil || fmt.Sprint(ids) != "[27 30]" {
		t.Fatalf("last window: %v %v", ids, err)
	}
	if got := fmt.Sprint(f.reqs()); got != "[/wp/v2/posts?2]" {
		t.Fatalf("requests once the user is known: %s", got)
	}

	admin := &narrowingWP{me: wpAdminMe, meID: 1, others: true}
	srv2 := httptest.NewServer(admin)
	defer srv2.Close()
	conn.SiteURL, conn.HTTP = srv2.URL, srv2.Client()
	for _, off := range []int{0, 4, 28} {
		if page, err := c.List(ctx, conn, connector.ListRequest{Model: "post", Page: c.WindowToken(off), PageSize: 4}); err != nil || page.Total != 30 {
			t.Fatalf("admin at %d: %v %d", off, err, page.Total)
		}
	}
	if got := fmt.Sprint(admin.reqs()); got != "[/wp/v2/posts? /wp/v2/posts? /wp/v2/posts?]" {
		t.Fatalf("an administrator's requests: %s", got)
	}
}

func TestScopeOf(t *testing.T) {
	contributor := knownUser{ok: true, u: user{ID: 5, Capabilities: map[string]bool{"edit_posts": true}}}
	editor := knownUser{ok: true, u: user{ID: 6, Capabilities: map[string]bool{"edit_posts": true, "edit_others_posts": true, "edit_others_pages": true}}}
	author := knownUser{ok: true, u: user{ID: 2, Capabilities: map[string]bool{"edit_posts": true, "edit_published_posts": true}}}
	tests := []struct {
		k     knownUser
		model string
		want  scope
	}{
		{contributor, "post", scope{author: 5, statuses: "draft,pending,private,trash"}},
		{contributor, "media", scope{author: 5}},
		{author, "post", scope{author: 2}},
		{editor, "post", scope{}},
		{editor, "page", scope{}},
		{knownUser{}, "post", scope{}},
	}
	for _, tt := range tests {
		if got := scopeOf(tt.k, tt.model); got != tt.want {
			t.Errorf("%v %s: got %+v, want %+v", tt.k.u.Capabilities, tt.model, got, tt.want)
		}
	}
}
