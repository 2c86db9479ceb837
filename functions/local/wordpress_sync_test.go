package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/connector/wordpress/wptest"
	"github.com/joinery/joinery/pkg/syncer"
)

// roundTripFunc is an http.RoundTripper made of a function.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// startSyncRunner starts the runner with its sync worker, the change feed
// showing records as soon as they are written (JOINERY_FEED_SAFETY_SECONDS
// 0), the engine asking for pages of pageSize (0: its default), and hook
// called before each request the engine sends to a platform, so a test can
// act while a run is under way. It also returns the app.
func startSyncRunner(t *testing.T, backend string, pageSize int, hook func(*http.Request)) (*runner, *app) {
	t.Helper()
	return startRunnerOpts(t, backend, runnerOptions{feedSafety: "0", setup: func(a *app) {
		a.engine.PageSize = pageSize
		if hook == nil {
			return
		}
		hc := *a.engine.HTTP
		next := hc.Transport
		hc.Transport = roundTripFunc(func(r *http.Request) (*http.Response, error) {
			hook(r)
			return next.RoundTrip(r)
		})
		a.engine.HTTP = &hc
	}})
}

// wpItem is what the test compares of an item: its modification time and
// whether it is in the trash.
type wpItem struct {
	id       string
	modified time.Time
	trashed  bool
}

// wpPages lists every page WordPress has, in every status, by id, straight
// from the REST API: the truth the records are compared with, read without
// the connector under test.
func wpPages(t *testing.T, wp wptest.Env) []wpItem {
	t.Helper()
	var out []wpItem
	for page := 1; ; page++ {
		q := url.Values{"context": {"edit"}, "status": {"publish,future,draft,pending,private,trash"}, "orderby": {"id"}, "order": {"asc"},
			"per_page": {"100"}, "page": {strconv.Itoa(page)}, "_fields": {"id,modified_gmt,status"}}
		req, err := http.NewRequest("GET", wp["WP_URL"]+"/wp-json/wp/v2/pages?"+q.Encode(), nil)
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth("admin", wp["WP_ADMIN_APP_PASSWORD"])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var items []struct {
			ID          int    `json:"id"`
			ModifiedGMT string `json:"modified_gmt"`
			Status      string `json:"status"`
		}
		err = json.NewDecoder(resp.Body).Decode(&items)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("list WordPress pages: HTTP %d, %v", resp.StatusCode, err)
		}
		for _, it := range items {
			mod, err := time.Parse("2006-01-02T15:04:05", it.ModifiedGMT)
			if err != nil {
				t.Fatalf("page %d modified %q", it.ID, it.ModifiedGMT)
			}
			out = append(out, wpItem{strconv.Itoa(it.ID), mod, it.Status == "trash"})
		}
		if pages, _ := strconv.Atoi(resp.Header.Get("X-WP-TotalPages")); page >= pages {
			return out
		}
	}
}

// feed reads a model's whole change feed, a few records a page (some are
// large).
func feed(t *testing.T, r *runner, token, id, model string) map[string]map[string]any {
	t.Helper()
	return feedPages(t, r, token, id, "model="+model+"&limit=20")
}

// events lists an integration's events of a type for one run.
func runEvents(t *testing.T, r *runner, token, id, typ, runID string) []map[string]any {
	t.Helper()
	got := r.do("GET", "/v1/integrations/"+id+"/events?limit=100&type="+typ, token, "")
	want(t, got, http.StatusOK, "events")
	var out []map[string]any
	for _, it := range got.body["items"].([]any) {
		ev := it.(map[string]any)
		if ev["run_id"] == runID {
			out = append(out, ev)
		}
	}
	return out
}

// finishRun waits for a run to complete and returns its progress. A run
// that fails or does not finish in time fails the test with its status
// and latest events.
func finishRun(t *testing.T, r *runner, token, id, runID string) map[string]any {
	t.Helper()
	var st reply
	for deadline := time.Now().Add(4 * time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		st = r.do("GET", "/v1/integrations/"+id+"/sync_status", token, "")
		want(t, st, http.StatusOK, "sync_status")
		run, _ := st.body["run"].(map[string]any)
		if run == nil || run["id"] != runID || run["status"] == "running" {
			continue
		}
		if run["status"] == "completed" && st.body["sync_status"] == "completed" {
			return run["progress"].(map[string]any)
		}
		break
	}
	evs := r.do("GET", "/v1/integrations/"+id+"/events?limit=15", token, "")
	t.Fatalf("run %s did not complete in time: %s\nlatest events: %s", runID, st.raw, evs.raw)
	return nil
}

// startRun starts a run and returns its id.
func startRun(t *testing.T, r *runner, token, id, body string) string {
	t.Helper()
	start := r.do("POST", "/v1/integrations/"+id+"/sync", token, body)
	want(t, start, http.StatusAccepted, "sync")
	return start.body["run_id"].(string)
}

// seedPages gives the site at least n pages, once per test binary: the
// sync tests read WordPress pages (posts of type page), which the other
// tests leave alone, in few windows, so they stay quick on both backends.
var pagesSeeded sync.Once

func seedPages(t *testing.T, n int) {
	t.Helper()
	pagesSeeded.Do(func() {
		wptest.PHP(t, fmt.Sprintf(`$have = (int) wp_count_posts('page')->publish;
for ($i = $have; $i < %d; $i++) { wp_insert_post(['post_type' => 'page', 'post_title' => "Sync test page $i", 'post_status' => 'publish', 'post_content' => "<p>Page $i</p>"]); }`, n))
	})
}

// A full run during which pages are deleted from a window already read
// and others are added: the run sees its listing shift, finishes without
// moving the cursor or marking anything deleted, and the next run ends
// with Joinery's records exactly WordPress's pages. Windows of 20 keep
// the listing to a few of them.
func TestWordPressShiftedListing(t *testing.T) {
	wp := wptest.Start(t, "local")
	t.Setenv("JOINERY_ALLOW_PRIVATE_NETWORKS", hostPort(t, wp["WP_URL"]))
	seedPages(t, 70)
	const model = "page"
	for _, backend := range []string{"embedded", "aws"} {
		t.Run(backend, func(t *testing.T) {
			began := time.Now()
			var armed, changed, firstReadAfter atomic.Bool
			var shiftOnce sync.Once
			var victims, added []string
			var shiftErr error
			hook := func(req *http.Request) {
				// The first later window, once armed: the plan has read the
				// first window already.
				off := req.URL.Query().Get("offset")
				if !armed.Load() || !strings.HasSuffix(req.URL.Path, "/wp/v2/pages") || off == "" {
					return
				}
				if off == "0" {
					// The first window read again after the change (a plan
					// delivered again): the run then read one consistent
					// listing, and no shift is the right answer.
					if changed.Load() {
						firstReadAfter.Store(true)
					}
					return
				}
				shiftOnce.Do(func() {
					out, err := wptest.RunPHP(fmt.Sprintf(`
foreach ([%s] as $id) { if (!wp_delete_post($id, true)) { echo "not deleted: $id"; exit(1); } }
$ids = [];
for ($i = 1; $i <= 3; $i++) { $ids[] = wp_insert_post(['post_type' => 'page', 'post_title' => "Added during the run $i", 'post_status' => 'publish', 'post_content' => 'new'], true); }
echo implode(',', $ids);`, strings.Join(victims, ",")))
					if err != nil {
						shiftErr = err
						return
					}
					added = strings.Split(strings.TrimSpace(out), ",")
					changed.Store(true)
				})
			}
			r, a := startSyncRunner(t, backend, 20, hook)
			editor := r.token("acct-shift", "editor", "")
			id := r.connectWordPress(t, editor, "shift-"+backend, wp["WP_URL"], wp["WP_ADMIN_APP_PASSWORD"])
			full := `{"direction":"from_external","models":["page"],"full":true}`
			cursor := func() time.Time {
				c, err := a.engine.Store.Cursors(context.Background(), id)
				if err != nil {
					t.Fatal(err)
				}
				return c[syncer.CursorKey(a.engine.Connectors["wordpress"], model)]
			}

			// A first run, undisturbed: every page stored, a cursor set.
			finishRun(t, r, editor, id, startRun(t, r, editor, id, full))
			first := cursor()
			if first.IsZero() || time.Since(first) > time.Minute || time.Until(first) > time.Minute {
				t.Fatalf("cursor after the first run: %v (now %v)", first, time.Now())
			}
			t.Logf("%s: first run done after %s", backend, time.Since(began).Round(time.Millisecond))

			// Three pages of the first window go while the run reads later
			// windows, and three new ones arrive: the total does not change,
			// only the positions do.
			pages := wpPages(t, wp)
			victims = []string{pages[3].id, pages[8].id, pages[13].id}
			armed.Store(true)
			time.Sleep(1100 * time.Millisecond) // a cursor that moved would show: WordPress's clock is in seconds
			shiftedRun := startRun(t, r, editor, id, full)
			finishRun(t, r, editor, id, shiftedRun)
			armed.Store(false)
			shiftOnce.Do(func() {}) // what the hook did happens before this
			if shiftErr != nil || len(added) != 3 {
				t.Fatalf("changing WordPress during the run: %v (added %v)", shiftErr, added)
			}
			evs := runEvents(t, r, editor, id, "listing_shifted", shiftedRun)
			shiftSeen := len(evs) > 0
			switch {
			case len(evs) == 0 && firstReadAfter.Load():
				t.Logf("%s: the first window was read again after the change; the run read one consistent listing", backend)
			case len(evs) != 1 || evs[0]["model"] != model || evs[0]["status"] != "warning":
				t.Fatalf("listing_shifted events of the run: %v", evs)
			default:
				t.Logf("%s: %s", backend, evs[0]["message"])
				if got := cursor(); !got.Equal(first) {
					t.Fatalf("the cursor moved from %v to %v after a shifted run", first, got)
				}
			}
			recs := feed(t, r, editor, id, model)
			truth := map[string]wpItem{}
			for _, it := range wpPages(t, wp) {
				truth[it.id] = it
			}
			for ext, rec := range recs {
				if _, ok := truth[ext]; ok && rec["deleted"] == true && rec["status"] != "trash" {
					t.Fatalf("page %s, still in WordPress, marked deleted by a shifted run", ext)
				}
			}
			for _, v := range victims {
				if shiftSeen && recs[v]["deleted"] == true { // (no shift: the plan read after the change)
					t.Fatalf("page %s marked deleted by a run that did not read its listing consistently", v)
				}
			}

			// The next run reads it all again and ends equal to WordPress.
			next := startRun(t, r, editor, id, full)
			p := finishRun(t, r, editor, id, next)
			if evs := runEvents(t, r, editor, id, "listing_shifted", next); len(evs) != 0 {
				t.Fatalf("the next run saw a shift too: %v", evs)
			}
			if got := cursor(); !got.After(first) || time.Since(got) > time.Minute {
				t.Fatalf("cursor after the next run: %v (first %v)", got, first)
			}
			recs = feed(t, r, editor, id, model)
			truth = map[string]wpItem{}
			for _, it := range wpPages(t, wp) {
				truth[it.id] = it
			}
			live := 0
			for ext, w := range truth {
				rec, ok := recs[ext]
				if !ok {
					t.Fatalf("page %s of WordPress has no record", ext)
				}
				mod, err := time.Parse(time.RFC3339Nano, fmt.Sprint(rec["modified_at"]))
				if err != nil || !mod.Equal(w.modified) || rec["deleted"] != w.trashed {
					t.Fatalf("page %s: record modified %v deleted %v, WordPress %v trashed %v", ext, rec["modified_at"], rec["deleted"], w.modified, w.trashed)
				}
				if !w.trashed {
					live++
				}
			}
			for ext, rec := range recs {
				if _, ok := truth[ext]; !ok && rec["deleted"] != true {
					t.Fatalf("page %s is gone from WordPress, its record is not deleted: %v", ext, rec)
				}
			}
			for _, v := range victims {
				if recs[v]["deleted"] != true {
					t.Fatalf("deleted page %s: %v", v, recs[v])
				}
			}
			for _, n := range added {
				if recs[n] == nil || recs[n]["deleted"] == true {
					t.Fatalf("added page %s: %v", n, recs[n])
				}
			}
			health := r.do("GET", "/v1/integrations/"+id+"/sync_health", editor, "")
			if n := health.body["records"].(map[string]any)[model].(float64); int(n) != live {
				t.Fatalf("sync_health counts %v pages, WordPress has %d not in the trash", n, live)
			}
			t.Logf("%s: %d pages equal to WordPress after %v items seen in the next run; %s in all", backend, len(truth), p["items_seen"], time.Since(began).Round(time.Millisecond))
		})
	}
}

// bigContent is about size bytes of post HTML: paragraphs of words from a
// vocabulary with non-ASCII letters, emoji, entities and markup; noisy
// ones are random tokens, which compress poorly.
func bigContent(rng *rand.Rand, size int, noisy bool) string {
	vocab := []string{"joinery", "café", "naïve", "日本語", "Ελληνικά", "emoji 🎉", "&amp;", "<strong>bold</strong>", "“quoted”", "it's", "a/b", `back\slash`, "<a href=\"https://example.com/?a=1&amp;b=2\">link</a>"}
	const tokens = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	var b strings.Builder
	for b.Len() < size {
		b.WriteString("<p>")
		for w := 0; w < 40; w++ {
			if noisy {
				for range 12 {
					b.WriteByte(tokens[rng.IntN(len(tokens))])
				}
			} else {
				b.WriteString(vocab[rng.IntN(len(vocab))])
				b.WriteString(strconv.Itoa(rng.IntN(1000)))
			}
			b.WriteByte(' ')
		}
		b.WriteString("</p>\n")
	}
	return b.String()
}

// A site with dozens of posts of ~300 KB (WordPress pages, which the other
// tests leave alone): a listing page of them is larger than the HTTP
// client reads (10 MiB), the engine reads it in smaller windows, and every
// one is stored, its body byte for byte.
func TestWordPressLargePosts(t *testing.T) {
	wp := wptest.Start(t, "local")
	t.Setenv("JOINERY_ALLOW_PRIVATE_NETWORKS", hostPort(t, wp["WP_URL"]))

	// Written straight to the posts table: exactly these bytes, and fast.
	began := time.Now()
	rng := rand.New(rand.NewPCG(1, 2))
	dir := t.TempDir()
	var files []string
	contents := map[int]string{}
	for i := range 32 {
		size, noisy := 280<<10+rng.IntN(40<<10), false
		if i >= 30 {
			size, noisy = 450<<10, true // past 300 KiB even compressed
		}
		c := bigContent(rng, size, noisy)
		f := filepath.Join(dir, fmt.Sprint(i, ".html"))
		if err := os.WriteFile(f, []byte(c), 0o600); err != nil {
			t.Fatal(err)
		}
		files = append(files, strconv.Quote(f))
		contents[i] = c
	}
	out := wptest.PHP(t, fmt.Sprintf(`
global $wpdb;
$ids = [];
foreach ([%s] as $i => $file) {
  $now = gmdate('Y-m-d H:i:s'); $local = get_date_from_gmt($now);
  $ok = $wpdb->insert($wpdb->posts, ['post_author' => 1, 'post_date' => $local, 'post_date_gmt' => $now, 'post_content' => file_get_contents($file),
    'post_title' => "Large page $i", 'post_excerpt' => '', 'post_status' => 'publish', 'comment_status' => 'closed', 'ping_status' => 'closed',
    'post_password' => '', 'post_name' => "large-page-$i", 'to_ping' => '', 'pinged' => '', 'post_modified' => $local, 'post_modified_gmt' => $now,
    'post_content_filtered' => '', 'post_parent' => 0, 'guid' => '', 'menu_order' => 0, 'post_type' => 'page', 'post_mime_type' => '', 'comment_count' => 0]);
  if (!$ok) { echo $wpdb->last_error; exit(1); }
  $ids[] = $wpdb->insert_id;
  clean_post_cache($wpdb->insert_id);
}
echo implode(',', $ids);`, strings.Join(files, ",")))
	large := map[string]string{}
	for i, ext := range strings.Split(strings.TrimSpace(out), ",") {
		large[ext] = contents[i]
	}
	if len(large) != 32 {
		t.Fatalf("inserted %q", out)
	}
	t.Cleanup(func() {
		wptest.PHP(t, fmt.Sprintf(`foreach ([%s] as $id) { wp_delete_post($id, true); }`, strings.Join(slices.Collect(maps.Keys(large)), ",")))
	})
	t.Logf("32 large pages written in %s", time.Since(began).Round(time.Millisecond))

	for _, backend := range []string{"embedded", "aws"} {
		t.Run(backend, func(t *testing.T) {
			began := time.Now()
			var mu sync.Mutex
			sizes := map[int]int{} // per_page of the engine's page listings → requests
			r, _ := startSyncRunner(t, backend, 0, func(req *http.Request) {
				if strings.HasSuffix(req.URL.Path, "/wp/v2/pages") && req.URL.Query().Get("_fields") != "id" {
					n, _ := strconv.Atoi(req.URL.Query().Get("per_page"))
					mu.Lock()
					sizes[n]++
					mu.Unlock()
				}
			})
			editor := r.token("acct-large", "editor", "")
			id := r.connectWordPress(t, editor, "large-"+backend, wp["WP_URL"], wp["WP_ADMIN_APP_PASSWORD"])
			runID := startRun(t, r, editor, id, `{"direction":"from_external","models":["page"],"full":true}`)
			p := finishRun(t, r, editor, id, runID)
			mu.Lock()
			t.Logf("%s: run done in %s: %v; page listings by size: %v", backend, time.Since(began).Round(time.Millisecond), p, sizes)
			halved := 0
			for n, k := range sizes {
				if n < 99 {
					halved += k
				}
			}
			mu.Unlock()
			if halved == 0 {
				t.Fatalf("no window was read in halves: %v", sizes)
			}
			if fails := runEvents(t, r, editor, id, "item_failed", runID); len(fails) != 0 || p["items_failed"].(float64) != 0 {
				t.Fatalf("items failed: %v", fails)
			}

			recs := feed(t, r, editor, id, "page")
			pages := wpPages(t, wp)
			if len(recs) != len(pages) {
				t.Fatalf("%d records, WordPress has %d pages", len(recs), len(pages))
			}
			for _, it := range pages {
				if recs[it.id] == nil || recs[it.id]["deleted"] != it.trashed {
					t.Fatalf("page %s: record %v", it.id, recs[it.id])
				}
			}
			for ext, body := range large {
				got, _ := recs[ext]["body_html"].(string)
				if got != body {
					t.Fatalf("large page %s: body of %d bytes stored as %d bytes (first difference at %d)", ext, len(body), len(got), firstDiff(got, body))
				}
			}
			t.Logf("%s: %d pages, %d large ones byte-identical; %s in all", backend, len(pages), len(large), time.Since(began).Round(time.Millisecond))
		})
	}
}

func firstDiff(a, b string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
