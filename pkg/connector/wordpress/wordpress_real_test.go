package wordpress

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/connector/wordpress/wptest"
	"github.com/joinery/joinery/pkg/integration"
	"github.com/joinery/joinery/pkg/safehttp"
)

func TestMain(m *testing.M) { os.Exit(wptest.Main(m)) }

func realConn(t *testing.T) (connector.Connection, wptest.Env) {
	t.Helper()
	wp := wptest.Start(t, "connector")
	return connector.Connection{SiteURL: wp["WP_URL"], HTTP: &http.Client{Timeout: 30 * time.Second},
		Credentials: map[string]string{"username": "admin", "app_password": wp["WP_ADMIN_APP_PASSWORD"]}}, wp
}

func listAll(t *testing.T, c *Connector, conn connector.Connection, model string, after time.Time) ([]integration.Record, int) {
	t.Helper()
	var all []integration.Record
	pages, total := 0, -1
	for page := ""; ; {
		p, err := c.List(context.Background(), conn, connector.ListRequest{Model: model, Page: page, ModifiedAfter: after})
		if err != nil {
			t.Fatalf("list %s page %q: %v", model, page, err)
		}
		all = append(all, p.Records...)
		pages++
		total = p.Total
		if p.NextPage == "" {
			return all, total
		}
		page = p.NextPage
	}
}

func TestListEveryPost(t *testing.T) {
	conn, wp := realConn(t)
	c := New()
	posts, total := listAll(t, c, conn, "post", time.Time{})
	want, _ := strconv.Atoi(wp["WP_POSTS_TOTAL"])
	if len(posts) != want || total != want || want < 1000 {
		t.Fatalf("listed %d posts, X-WP-Total %d, seeded %d", len(posts), total, want)
	}
	seen := map[string]bool{}
	statuses := map[string]int{}
	for _, p := range posts {
		if seen[p.ExternalID] {
			t.Fatalf("post %s listed twice", p.ExternalID)
		}
		seen[p.ExternalID] = true
		statuses[p.Status]++
		if p.ModifiedAt.IsZero() || p.Title == "" {
			t.Fatalf("post %s not mapped: %+v", p.ExternalID, p)
		}
	}
	for _, s := range []string{"publish", "draft", "pending", "private", "future", "trash"} {
		if statuses[s] == 0 {
			t.Fatalf("no %s posts listed: %v", s, statuses)
		}
	}
	for _, model := range []string{"category", "tag", "page"} {
		if recs, _ := listAll(t, c, conn, model, time.Time{}); len(recs) == 0 {
			t.Fatalf("no %s listed", model)
		}
	}
	cats, _ := listAll(t, c, conn, "category", time.Time{})
	found := false
	for _, cat := range cats {
		found = found || cat.Title == "Café ☕"
	}
	if !found {
		t.Fatalf("unicode category names not unescaped: %+v", cats)
	}
}

// The seeded site is in Asia/Kathmandu (UTC+05:45); modified_after must
// still select exactly the posts changed after the cursor.
func TestIncrementalListing(t *testing.T) {
	conn, _ := realConn(t)
	c := New()
	// The cursor is when the listing started, not the newest modification
	// seen: scheduled posts carry modification times in the future.
	cursor := time.Now().UTC().Truncate(time.Second)
	all, _ := listAll(t, c, conn, "post", time.Time{})
	time.Sleep(1100 * time.Millisecond) // past the cursor's second
	edited := []string{all[10].ExternalID, all[500].ExternalID, all[900].ExternalID}
	wptest.PHP(t, fmt.Sprintf(`foreach ([%s] as $id) { wp_update_post(['ID' => $id, 'post_content' => 'edited ' . time()]); }`, strings.Join(edited, ",")))
	changed, _ := listAll(t, c, conn, "post", cursor)
	var newer []string
	for _, p := range changed {
		// Scheduled posts carry a future modification time, so WordPress
		// returns them after any cursor; unchanged, they cost no write.
		if p.ModifiedAt.After(cursor) && p.Status != "future" {
			newer = append(newer, p.ExternalID)
		}
	}
	if strings.Join(newer, ",") != strings.Join(edited, ",") {
		t.Fatalf("incremental listing after %v returned %v (of %d with the overlap), want %v", cursor, newer, len(changed), edited)
	}
	if len(changed) >= len(all)/2 {
		t.Fatalf("incremental listing returned %d of %d posts", len(changed), len(all))
	}
}

var png1x1, _ = base64.StdEncoding.DecodeString("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")

func TestPostLifecycle(t *testing.T) {
	conn, _ := realConn(t)
	c := New()
	ctx := context.Background()
	img := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write(png1x1)
	}))
	defer img.Close()
	cat, err := c.EnsureTerm(ctx, conn, "category", "Joinery Tests ✓")
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.EnsureTerm(ctx, conn, "category", "joinery tests ✓")
	if err != nil || again.ExternalID != cat.ExternalID {
		t.Fatalf("EnsureTerm made a second term: %v %v", again, err)
	}
	tag, err := c.EnsureTerm(ctx, conn, "tag", fmt.Sprintf("tag-%d", time.Now().UnixNano()))
	if err != nil {
		t.Fatal(err)
	}
	created, err := c.Create(ctx, conn, integration.Record{Model: "post", Title: "Hello from Joinery — ünïcode", BodyHTML: "<p>Body</p>", Status: "publish",
		Categories: []integration.Term{cat}, Tags: []integration.Term{tag},
		FeaturedImage: &integration.Image{URL: img.URL + "/pictures/cover.png", Alt: "A cover"}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Get(ctx, conn, "post", created.ExternalID)
	if err != nil || got.Title != "Hello from Joinery — ünïcode" || got.Categories[0].ExternalID != cat.ExternalID || got.Tags[0].ExternalID != tag.ExternalID || got.FeaturedImage == nil {
		t.Fatalf("read back %+v %v", got, err)
	}
	media, _ := listAll(t, c, conn, "media", time.Time{})
	var alt string
	for _, m := range media {
		if m.ExternalID == got.FeaturedImage.ExternalID {
			alt = m.FeaturedImage.Alt
		}
	}
	if alt != "A cover" {
		t.Fatalf("featured image %s not found with its alt text (%q)", got.FeaturedImage.ExternalID, alt)
	}
	got.Title = "Hello, updated"
	got.FeaturedImage = nil
	if _, err := c.Update(ctx, conn, got); err != nil {
		t.Fatal(err)
	}
	if again, _ := c.Get(ctx, conn, "post", created.ExternalID); again.Title != "Hello, updated" {
		t.Fatalf("update not read back: %+v", again)
	}
	if err := c.Delete(ctx, conn, "post", created.ExternalID, false); err != nil {
		t.Fatal(err)
	}
	if trashed, _ := c.Get(ctx, conn, "post", created.ExternalID); trashed.Status != "trash" || !trashed.Deleted {
		t.Fatalf("not trashed: %+v", trashed)
	}
	if err := c.Delete(ctx, conn, "post", created.ExternalID, true); err != nil {
		t.Fatal(err)
	}
	_, err = c.Get(ctx, conn, "post", created.ExternalID)
	if ce, ok := err.(*connector.Error); !ok || ce.Kind != connector.ErrNotFound {
		t.Fatalf("after delete: %v", err)
	}
}

// fixedResolver resolves a few names to fixed addresses and leaves the
// rest to the system, so a test can make a name resolve to a private
// address without real DNS.
type fixedResolver map[string][]net.IPAddr

func (f fixedResolver) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	if a, ok := f[host]; ok {
		return a, nil
	}
	return net.DefaultResolver.LookupIPAddr(ctx, host)
}

// A featured image is fetched through the SSRF-safe client: internal
// addresses, names resolving to them and redirects to them are refused
// with a clear message, no request reaches them, and no post is created.
func TestFeaturedImageRefusesInternalAddresses(t *testing.T) {
	conn, wp := realConn(t)
	var hits atomic.Int32
	internal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write(png1x1)
	}))
	defer internal.Close()
	_, internalPort, _ := net.SplitHostPort(internal.Listener.Addr().String())
	redirector := httptest.NewServer(http.RedirectHandler(internal.URL+"/x.png", http.StatusFound))
	defer redirector.Close()
	// Only WordPress and the redirector are allowed, as the dev option would.
	policy, err := safehttp.ParsePolicy(hostPortOf(t, wp["WP_URL"]) + "," + redirector.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	conn.HTTP = safehttp.New(safehttp.Options{Policy: policy, Resolver: fixedResolver{
		"images.internal.example": {{IP: net.ParseIP("10.0.0.1")}},
		"loopback.example":        {{IP: net.ParseIP("127.0.0.1")}},
	}})
	c := New()
	before, _ := listAll(t, c, conn, "post", time.Now().Add(-time.Minute))
	for _, src := range []string{
		"http://169.254.169.254/latest/meta-data/x.png",
		internal.URL + "/x.png",
		"http://[::1]/x.png",
		"http://10.0.0.1/x.png",
		"http://images.internal.example/x.png",
		"http://loopback.example:" + internalPort + "/x.png",
		redirector.URL + "/x.png",
	} {
		_, err := c.Create(context.Background(), conn, integration.Record{Model: "post", Title: "SSRF " + src, Status: "draft",
			FeaturedImage: &integration.Image{URL: src}})
		var ce *connector.Error
		if !errors.As(err, &ce) || ce.Kind != connector.ErrBlocked || !strings.Contains(ce.Message, "Featured image") || !strings.Contains(ce.Message, "points at a private or reserved address") {
			t.Fatalf("%s: %v, want a refusal naming the featured image", src, err)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the internal server received %d requests", n)
	}
	after, _ := listAll(t, c, conn, "post", time.Now().Add(-time.Minute))
	if len(after) != len(before) {
		t.Fatalf("refused creates left %d posts behind", len(after)-len(before))
	}
}

func hostPortOf(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// windowSeed gives every model of the real site enough items for several
// windows: categories past one page of 100 (WordPress ignores offset for
// them, so their windows are cut out of two pages), a few media items.
var windowSeed sync.Once

func seedWindows(t *testing.T) {
	t.Helper()
	windowSeed.Do(func() {
		wptest.PHP(t, `
for ($i = 1; $i <= 130; $i++) { wp_insert_term("Window category $i", 'category'); }
for ($i = 1; $i <= 3; $i++) { wp_insert_term("window-tag-$i", 'post_tag'); }
for ($i = 1; $i <= 5; $i++) { wp_insert_attachment(['post_title' => "Window media $i", 'post_mime_type' => 'image/png', 'post_status' => 'inherit'], "window-$i.png"); }
for ($i = 1; $i <= 3; $i++) { wp_insert_post(['post_type' => 'page', 'post_title' => "Window page $i", 'post_status' => 'draft']); }`)
	})
}

// Windows against the real WordPress, every model: each window holds
// exactly the items of the numbered listing at its positions, X-WP-Total
// is the listing's size with an offset too, and a window past the end is
// empty — no rest_post_invalid_page_number — with the right total.
func TestWindowsOnRealWordPress(t *testing.T) {
	conn, _ := realConn(t)
	seedWindows(t)
	c := New()
	ctx := context.Background()
	for _, tt := range []struct {
		model string
		size  int // the first window's; later ones are one larger, starting one early
	}{{"post", 99}, {"category", 99}, {"tag", 3}, {"page", 2}, {"media", 2}} {
		t.Run(tt.model, func(t *testing.T) {
			var ref []string
			for page := ""; ; {
				p, err := c.List(ctx, conn, connector.ListRequest{Model: tt.model, Page: page, PageSize: 100})
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range p.Records {
					ref = append(ref, r.ExternalID)
				}
				if page = p.NextPage; page == "" {
					break
				}
			}
			if len(ref) < tt.size+2 {
				t.Fatalf("only %d %s items to window", len(ref), tt.model)
			}
			check := func(offset, size int) {
				t.Helper()
				req := connector.ListRequest{Model: tt.model, Page: c.WindowToken(offset), PageSize: size}
				p, err := c.List(ctx, conn, req)
				if err != nil {
					t.Fatalf("window %d+%d: %v", offset, size, err)
				}
				var got []string
				for _, r := range p.Records {
					got = append(got, r.ExternalID)
				}
				want := ref[min(offset, len(ref)):min(offset+size, len(ref))]
				if strings.Join(got, ",") != strings.Join(want, ",") || p.Total != len(ref) {
					t.Fatalf("window %d+%d: %v total %d, want %v total %d", offset, size, got, p.Total, want, len(ref))
				}
				if (offset+size < len(ref)) != (p.NextPage != "") {
					t.Fatalf("window %d+%d of %d: next %q", offset, size, len(ref), p.NextPage)
				}
				if d := time.Since(p.ServerTime); d < -time.Minute || d > time.Minute {
					t.Fatalf("ServerTime %v, now %v", p.ServerTime, time.Now())
				}
				ids, err := c.ListIDs(ctx, conn, req)
				if err != nil || strings.Join(ids, ",") != strings.Join(want, ",") {
					t.Fatalf("ids of window %d+%d: %v %v", offset, size, ids, err)
				}
			}
			check(0, tt.size)
			k := 1
			for ; k*tt.size-1 < len(ref); k++ {
				check(k*tt.size-1, tt.size+1)
			}
			check(k*tt.size-1, tt.size+1) // past the end
			check(len(ref)+50, tt.size)
			t.Logf("%s: %d items, %d windows of %d", tt.model, len(ref), k+2, tt.size)
		})
	}
}

// A page larger than the HTTP client reads is ErrTooLarge; its ids are not.
func TestTooLargeOnRealWordPress(t *testing.T) {
	conn, wp := realConn(t)
	policy, err := safehttp.ParsePolicy(hostPortOf(t, wp["WP_URL"]))
	if err != nil {
		t.Fatal(err)
	}
	conn.HTTP = safehttp.New(safehttp.Options{Policy: policy, MaxBodyBytes: 16 << 10})
	c := New()
	req := connector.ListRequest{Model: "post", Page: c.WindowToken(0), PageSize: 100}
	_, err = c.List(context.Background(), conn, req)
	var ce *connector.Error
	if !errors.As(err, &ce) || ce.Kind != connector.ErrTooLarge || !strings.Contains(ce.Message, "16 KiB") {
		t.Fatalf("100 posts through a 16 KiB cap: %v", err)
	}
	if ids, err := c.ListIDs(context.Background(), conn, req); err != nil || len(ids) != 100 {
		t.Fatalf("their ids: %d, %v", len(ids), err)
	}
}

// Get reads any model; a trashed post is Deleted, a gone one ErrNotFound.
func TestGetOnRealWordPress(t *testing.T) {
	conn, _ := realConn(t)
	seedWindows(t)
	c := New()
	ctx := context.Background()
	trashed := strings.TrimSpace(wptest.PHP(t, `echo get_posts(['post_status' => 'trash', 'numberposts' => 1, 'fields' => 'ids'])[0];`))
	r, err := c.Get(ctx, conn, "post", trashed)
	if err != nil || !r.Deleted || r.Status != "trash" {
		t.Fatalf("trashed post %s: %+v %v", trashed, r, err)
	}
	for _, model := range []string{"category", "tag", "page", "media"} {
		p, err := c.List(ctx, conn, connector.ListRequest{Model: model, Page: c.WindowToken(1), PageSize: 1})
		if err != nil || len(p.Records) != 1 {
			t.Fatalf("%s: %v", model, err)
		}
		got, err := c.Get(ctx, conn, model, p.Records[0].ExternalID)
		if err != nil || got.ExternalID != p.Records[0].ExternalID || got.Title != p.Records[0].Title || got.Model != model {
			t.Fatalf("%s %s: %+v %v, listed %+v", model, p.Records[0].ExternalID, got, err, p.Records[0])
		}
	}
	for _, model := range []string{"post", "page", "media", "category", "tag"} {
		_, err := c.Get(ctx, conn, model, "987654")
		var ce *connector.Error
		if !errors.As(err, &ce) || ce.Kind != connector.ErrNotFound {
			t.Fatalf("a %s that never existed: %v", model, err)
		}
	}
}
