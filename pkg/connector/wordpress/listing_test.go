package wordpress

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/safehttp"
)

// fakeWP answers list routes the way WordPress 6 does: posts honour
// offset and say X-WP-Total 0 for an empty window, and a numbered page
// past the end is an error; categories ignore offset (WordPress registers
// it only for non-hierarchical taxonomies) and always count.
type fakeWP struct {
	mu       sync.Mutex
	posts    []int
	cats     []int
	trashed  map[int]bool
	date     time.Time
	requests []string // path?query of each request, in order
	// before, if set, runs before each request is answered (unlocked).
	before func(n int, r *http.Request)
}

func newFakeWP(posts, cats int) *fakeWP {
	f := &fakeWP{trashed: map[int]bool{}, date: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)}
	for i := 1; i <= posts; i++ {
		f.posts = append(f.posts, i*2)
	}
	for i := 1; i <= cats; i++ {
		f.cats = append(f.cats, 1000+i)
	}
	return f
}

func (f *fakeWP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests = append(f.requests, r.URL.Path+"?"+r.URL.RawQuery)
	n := len(f.requests)
	before := f.before
	f.mu.Unlock()
	if before != nil {
		before(n, r)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	w.Header().Set("Date", f.date.Format(http.TimeFormat))
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	route := strings.TrimPrefix(r.URL.Path, "/wp-json/wp/v2/")
	q := r.URL.Query()
	var ids []int
	terms := false
	switch route {
	case "posts":
		ids = f.posts
	case "categories":
		ids, terms = f.cats, true
	default:
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"code":"rest_no_route","message":"No route was found matching the URL and request method."}`)
		return
	}
	perPage, page := 10, 1
	if v := q.Get("per_page"); v != "" {
		perPage, _ = strconv.Atoi(v)
	}
	if v := q.Get("page"); v != "" {
		page, _ = strconv.Atoi(v)
	}
	start := (page - 1) * perPage
	if v := q.Get("offset"); v != "" && !terms {
		start, _ = strconv.Atoi(v)
	} else if !terms && page > 1 && start >= len(ids) {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"code":"rest_post_invalid_page_number","message":"The page number requested is larger than the number of pages available."}`)
		return
	}
	window := ids[min(start, len(ids)):min(start+perPage, len(ids))]
	total := len(ids)
	if !terms && len(window) == 0 {
		total = 0 // WP_Query does not count an empty page
	}
	w.Header().Set("X-WP-Total", strconv.Itoa(total))
	w.Header().Set("X-WP-TotalPages", strconv.Itoa((total+perPage-1)/perPage))
	items := []map[string]any{}
	for _, id := range window {
		if q.Get("_fields") == "id" {
			items = append(items, map[string]any{"id": id})
			continue
		}
		if terms {
			items = append(items, map[string]any{"id": id, "name": fmt.Sprintf("Cat &amp; %d", id), "slug": fmt.Sprint("cat-", id)})
			continue
		}
		items = append(items, map[string]any{"id": id, "status": "publish", "title": map[string]any{"raw": fmt.Sprint("Post ", id)},
			"modified_gmt": time.Date(2026, 1, 1, 0, 0, id, 0, time.UTC).Format("2006-01-02T15:04:05")})
	}
	_ = json.NewEncoder(w).Encode(items)
}

func (f *fakeWP) reqs() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string{}, f.requests...)
}

func fakeConn(t *testing.T, h http.Handler) connector.Connection {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return connector.Connection{SiteURL: srv.URL, HTTP: srv.Client(), Credentials: map[string]string{"username": "u", "app_password": "p"}}
}

func pageIDs(t *testing.T, p connector.ListPage) []int {
	t.Helper()
	var out []int
	for _, r := range p.Records {
		n, err := strconv.Atoi(r.ExternalID)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	return out
}

func TestWindows(t *testing.T) {
	f := newFakeWP(252, 0)
	conn := fakeConn(t, f)
	c := New()
	ctx := context.Background()
	if c.MaxPageSize() != 100 || c.WindowToken(98) != "@98" {
		t.Fatalf("MaxPageSize %d, WindowToken %q", c.MaxPageSize(), c.WindowToken(98))
	}

	p, err := c.List(ctx, conn, connector.ListRequest{Model: "post", Page: c.WindowToken(98), PageSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	last := f.reqs()[len(f.reqs())-1]
	// Raw text fields by name: WordPress then renders nothing.
	if !strings.Contains(last, "offset=98") || !strings.Contains(last, "per_page=100") || strings.Contains(last, "&page=") ||
		!strings.Contains(last, "content.raw") || strings.Contains(last, "rendered") {
		t.Fatalf("window request %s", last)
	}
	if got := pageIDs(t, p); !slices.Equal(got, f.posts[98:198]) || p.Total != 252 || p.NextPage != "@198" || p.TotalPages != 3 {
		t.Fatalf("window @98: ids %v…, total %d, next %q, pages %d", got[:3], p.Total, p.NextPage, p.TotalPages)
	}
	if !p.ServerTime.Equal(f.date) || p.MaxModified.IsZero() {
		t.Fatalf("ServerTime %v (Date %v), MaxModified %v", p.ServerTime, f.date, p.MaxModified)
	}

	// The last window: no next one.
	p, err = c.List(ctx, conn, connector.ListRequest{Model: "post", Page: "@197", PageSize: 100})
	if err != nil || len(p.Records) != 55 || p.NextPage != "" || p.Total != 252 {
		t.Fatalf("last window: %d records, next %q, total %d, %v", len(p.Records), p.NextPage, p.Total, err)
	}

	// Past the end WordPress says X-WP-Total 0; the count is asked for.
	before := len(f.reqs())
	p, err = c.List(ctx, conn, connector.ListRequest{Model: "post", Page: "@300", PageSize: 100})
	if err != nil || len(p.Records) != 0 || p.Total != 252 || p.NextPage != "" {
		t.Fatalf("past the end: %d records, total %d, next %q, %v", len(p.Records), p.Total, p.NextPage, err)
	}
	if reqs := f.reqs()[before:]; len(reqs) != 2 || strings.Contains(reqs[1], "offset") || !strings.Contains(reqs[1], "_fields=id") {
		t.Fatalf("past the end, requests %v", reqs)
	}
	// An empty listing is empty, whatever the window.
	empty := newFakeWP(0, 0)
	p, err = c.List(ctx, fakeConn(t, empty), connector.ListRequest{Model: "post", Page: "@0", PageSize: 99})
	if err != nil || len(p.Records) != 0 || p.Total != 0 || len(empty.reqs()) != 1 {
		t.Fatalf("empty listing: %+v %v (%d requests)", p, err, len(empty.reqs()))
	}

	// Numbered pages still work, past the end included.
	p, err = c.List(ctx, conn, connector.ListRequest{Model: "post", Page: "2", PageSize: 100})
	if err != nil || !slices.Equal(pageIDs(t, p), f.posts[100:200]) || p.NextPage != "3" {
		t.Fatalf("page 2: %v next %q", err, p.NextPage)
	}
	p, err = c.List(ctx, conn, connector.ListRequest{Model: "post", Page: "9", PageSize: 100})
	if err != nil || len(p.Records) != 0 || p.NextPage != "" {
		t.Fatalf("page 9: %+v %v", p, err)
	}

	// Ids alone: the same window, with _fields=id.
	got, err := c.ListIDs(ctx, conn, connector.ListRequest{Model: "post", Page: "@98", PageSize: 100})
	last = f.reqs()[len(f.reqs())-1]
	if err != nil || len(got) != 100 || got[0] != strconv.Itoa(f.posts[98]) || got[99] != strconv.Itoa(f.posts[197]) || !strings.Contains(last, "_fields=id") || !strings.Contains(last, "offset=98") {
		t.Fatalf("ListIDs: %v %v (%s)", got, err, last)
	}

	for _, bad := range []string{"@x", "@-1", "x", "0"} {
		var ce *connector.Error
		if _, err := c.List(ctx, conn, connector.ListRequest{Model: "post", Page: bad}); !errors.As(err, &ce) || ce.Kind != connector.ErrInvalid {
			t.Fatalf("token %q: %v", bad, err)
		}
	}
}

// Categories ignore offset: windows are cut out of numbered pages.
func TestCategoryWindows(t *testing.T) {
	f := newFakeWP(0, 250)
	conn := fakeConn(t, f)
	c := New()
	ctx := context.Background()
	for _, w := range []struct{ offset, size int }{{0, 99}, {98, 100}, {100, 100}, {197, 100}, {240, 100}, {249, 100}, {250, 100}, {400, 100}} {
		before := len(f.reqs())
		p, err := c.List(ctx, conn, connector.ListRequest{Model: "category", Page: c.WindowToken(w.offset), PageSize: w.size})
		if err != nil {
			t.Fatal(err)
		}
		want := f.cats[min(w.offset, 250):min(w.offset+w.size, 250)]
		if got := pageIDs(t, p); !slices.Equal(got, want) || p.Total != 250 {
			t.Fatalf("window %v: %d ids from %v, want %d from %v; total %d", w, len(got), got, len(want), want, p.Total)
		}
		if len(p.Records) > 0 && p.Records[0].Title != fmt.Sprintf("Cat & %d", want[0]) {
			t.Fatalf("term not mapped: %+v", p.Records[0])
		}
		if next := p.NextPage; (w.offset+w.size < 250) != (next != "") {
			t.Fatalf("window %v: next %q", w, next)
		}
		reqs := f.reqs()[before:]
		for _, r := range reqs {
			if strings.Contains(r, "offset") || !strings.Contains(r, "per_page=100") {
				t.Fatalf("window %v: request %s", w, r)
			}
		}
		// Two pages: the later one first.
		if w.offset/100 != (w.offset+w.size-1)/100 && (len(reqs) != 2 || !strings.Contains(reqs[0], fmt.Sprintf("page=%d", w.offset/100+2))) {
			t.Fatalf("window %v: requests %v", w, reqs)
		}
	}

	// A category deleted between the two reads: read again, never skipped.
	deleted := false
	f.before = func(n int, r *http.Request) {
		if !deleted && strings.Contains(r.URL.RawQuery, "page=1&") {
			f.mu.Lock()
			f.cats = slices.Delete(f.cats, 5, 6) // an item before the window
			f.mu.Unlock()
			deleted = true
		}
	}
	p, err := c.List(ctx, conn, connector.ListRequest{Model: "category", Page: "@98", PageSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	if got := pageIDs(t, p); !slices.Equal(got, f.cats[98:198]) || p.Total != 249 {
		t.Fatalf("after a deletion between reads: %v… total %d, want from %d", got[:3], p.Total, f.cats[98])
	}
	// A listing that never holds still fails the read, to be retried.
	f.before = func(n int, r *http.Request) {
		if strings.Contains(r.URL.RawQuery, "page=1&") {
			f.mu.Lock()
			f.cats = slices.Delete(f.cats, 0, 1)
			f.mu.Unlock()
		}
	}
	_, err = c.List(ctx, conn, connector.ListRequest{Model: "category", Page: "@98", PageSize: 100})
	var ce *connector.Error
	if !errors.As(err, &ce) || ce.Kind != connector.ErrUnavailable || !strings.Contains(ce.Message, "kept changing") {
		t.Fatalf("a listing that kept changing: %v", err)
	}
}

// An answer past the HTTP client's cap is ErrTooLarge, naming the cap.
func TestTooLarge(t *testing.T) {
	f := newFakeWP(252, 0)
	srv := httptest.NewServer(f)
	defer srv.Close()
	policy, err := safehttp.ParsePolicy(hostPortOf(t, srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	conn := connector.Connection{SiteURL: srv.URL, Credentials: map[string]string{"username": "u", "app_password": "p"},
		HTTP: safehttp.New(safehttp.Options{Policy: policy, MaxBodyBytes: 4 << 10})}
	c := New()
	_, err = c.List(context.Background(), conn, connector.ListRequest{Model: "post", Page: "@0", PageSize: 100})
	var ce *connector.Error
	if !errors.As(err, &ce) || ce.Kind != connector.ErrTooLarge || !strings.Contains(ce.Message, "4 KiB") || !errors.Is(err, safehttp.ErrBodyTooLarge) {
		t.Fatalf("a page past the cap: %v", err)
	}
	// Fewer items fit; their ids always do.
	if p, err := c.List(context.Background(), conn, connector.ListRequest{Model: "post", Page: "@0", PageSize: 5}); err != nil || len(p.Records) != 5 {
		t.Fatalf("a smaller window: %v", err)
	}
	if got, err := c.ListIDs(context.Background(), conn, connector.ListRequest{Model: "post", Page: "@0", PageSize: 100}); err != nil || len(got) != 100 {
		t.Fatalf("ids of the window: %d %v", len(got), err)
	}
	for n, want := range map[int64]string{10 << 20: "10 MiB", 512 << 10: "512 KiB", 1000: "1000 bytes", 0: "the size limit"} {
		if e := tooLarge(n, nil); !strings.Contains(e.Message, "larger than "+want) {
			t.Errorf("%d: %q", n, e.Message)
		}
	}
}

func TestGet(t *testing.T) {
	mux := http.NewServeMux()
	answer := func(status int, ctype, body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Get("context") != "edit" {
				t.Errorf("%s without context=edit", r.URL)
			}
			w.Header().Set("Content-Type", ctype)
			w.WriteHeader(status)
			fmt.Fprint(w, body)
		}
	}
	const js = "application/json"
	mux.Handle("/wp-json/wp/v2/posts/7", answer(200, js, `{"id":7,"status":"trash","title":{"raw":"Gone soon"},"modified_gmt":"2026-01-02T03:04:05"}`))
	mux.Handle("/wp-json/wp/v2/posts/8", answer(404, js, `{"code":"rest_post_invalid_id","message":"Invalid post ID.","data":{"status":404}}`))
	mux.Handle("/wp-json/wp/v2/posts/9", answer(404, js, `{"code":"rest_no_route","message":"No route was found matching the URL and request method."}`))
	mux.Handle("/wp-json/wp/v2/posts/10", answer(410, js, `{"code":"rest_gone","message":"Gone."}`))
	mux.Handle("/wp-json/wp/v2/posts/11", answer(503, "text/html", `<html>down</html>`))
	mux.Handle("/wp-json/wp/v2/media/12", answer(200, js, `{"id":12,"status":"inherit","source_url":"https://x/a.png","alt_text":"A"}`))
	mux.Handle("/wp-json/wp/v2/categories/13", answer(200, js, `{"id":13,"name":"Caf\u00e9 &amp; Co","slug":"cafe"}`))
	mux.Handle("/wp-json/wp/v2/tags/14", answer(404, js, `{"code":"rest_term_invalid","message":"Term does not exist."}`))
	// Any other path: the web server's own 404 page, on both URL forms.
	mux.Handle("/", answer(404, "text/html", `<html>Not Found</html>`))
	conn := fakeConn(t, mux)
	c := New()
	ctx := context.Background()
	var _ connector.Getter = c

	r, err := c.Get(ctx, conn, "post", "7")
	if err != nil || !r.Deleted || r.Status != "trash" || r.Title != "Gone soon" || r.ModifiedAt.IsZero() {
		t.Fatalf("a trashed post: %+v %v", r, err)
	}
	if r, err := c.Get(ctx, conn, "media", "12"); err != nil || r.FeaturedImage == nil || r.FeaturedImage.Alt != "A" {
		t.Fatalf("media: %+v %v", r, err)
	}
	if r, err := c.Get(ctx, conn, "category", "13"); err != nil || r.Title != "Café & Co" || r.Model != "category" {
		t.Fatalf("category: %+v %v", r, err)
	}
	for _, tt := range []struct {
		model, id string
		kind      connector.ErrorKind
	}{
		{"post", "8", connector.ErrNotFound},
		{"tag", "14", connector.ErrNotFound},
		{"post", "10", connector.ErrNotFound},
		{"post", "abc", connector.ErrNotFound},
		{"post", "9", connector.ErrUnavailable},  // the route is missing, not the item
		{"page", "99", connector.ErrUnavailable}, // the REST API is missing, not the item
		{"post", "11", connector.ErrUnavailable},
		{"book", "1", connector.ErrInvalid},
	} {
		_, err := c.Get(ctx, conn, tt.model, tt.id)
		var ce *connector.Error
		if !errors.As(err, &ce) || ce.Kind != tt.kind {
			t.Errorf("Get %s %s: %v (%#v), want kind %d", tt.model, tt.id, err, ce, tt.kind)
		}
		if tt.kind == connector.ErrInvalid {
			continue
		}
		exists, err := c.Exists(ctx, conn, tt.model, tt.id)
		if gone := tt.kind == connector.ErrNotFound; gone && (exists || err != nil) || !gone && err == nil {
			t.Errorf("Exists %s %s: %v %v", tt.model, tt.id, exists, err)
		}
	}
}
