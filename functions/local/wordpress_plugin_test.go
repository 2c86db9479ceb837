package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/connector/wordpress/wptest"
)

// wpAdmin calls the real WordPress's REST API as its administrator.
type wpAdmin struct {
	t        testing.TB
	site     string
	password string
}

func (c wpAdmin) call(method, path string, body any) (int, map[string]any, string) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.site+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	req.SetBasicAuth("admin", c.password)
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return resp.StatusCode, m, string(raw)
}

// cron runs WordPress's due events, as a system cron would: the plugin
// sends its queue from there when PHP cannot flush a response first.
func (c wpAdmin) cron() {
	c.t.Helper()
	resp, err := (&http.Client{Timeout: 60 * time.Second}).Get(c.site + "/wp-cron.php")
	if err != nil {
		c.t.Fatalf("wp-cron.php: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

func (c wpAdmin) status() map[string]any {
	c.t.Helper()
	code, m, raw := c.call("GET", "/wp-json/joinery/v1/status", nil)
	if code != http.StatusOK {
		c.t.Fatalf("plugin status: %d %s", code, raw)
	}
	return m
}

// eventually polls cond until it holds, failing after d.
func eventually(t testing.TB, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v; last: %s", what, d, state)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// The Joinery plugin on the real WordPress, connected to the runner by its
// REST route with a site key: content changes reach the records through
// the signed inbound webhook path, with no sync run.
func TestWordPressPlugin(t *testing.T) {
	wp := wptest.Start(t, "local")
	t.Setenv("JOINERY_ALLOW_PRIVATE_NETWORKS", hostPort(t, wp["WP_URL"]))
	for _, backend := range []string{"embedded", "aws"} {
		t.Run(backend, func(t *testing.T) { testWordPressPlugin(t, wp, backend) })
	}
}

func testWordPressPlugin(t *testing.T, wp wptest.Env, backend string) {
	// The runner behind a proxy that can play a stopped Joinery: the
	// plugin's connections are dropped.
	var target atomic.Pointer[url.URL]
	var down atomic.Bool
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			if c, _, err := w.(http.Hijacker).Hijack(); err == nil {
				c.Close()
			}
			return
		}
		httputil.NewSingleHostReverseProxy(target.Load()).ServeHTTP(w, r)
	}))
	defer proxy.Close()
	r, _ := startRunnerOpts(t, backend, runnerOptions{settings: func(s *settings) { s.PublicURL = proxy.URL }})
	u, _ := url.Parse(r.url)
	target.Store(u)
	// The inbound webhook path is built beside the plugin: until the
	// runner serves it, there is nothing to deliver to.
	if resp, err := http.Post(r.url+"/webhooks/wordpress/probe", "application/json", strings.NewReader("{}")); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusNotFound {
			t.Skip("SKIPPED: this runner does not serve POST /webhooks/wordpress/{id} yet")
		}
	}
	_, port, _ := net.SplitHostPort(proxy.Listener.Addr().String())
	p, _ := strconv.Atoi(port)
	wptest.Plugin(t, p)

	admin := wpAdmin{t: t, site: wp["WP_URL"], password: wp["WP_ADMIN_APP_PASSWORD"]}
	editor := r.token("acct-plugin-"+backend, "editor", "")
	created := r.do("POST", "/v1/sites/plugin-site/keys", editor, `{"name":"plugin"}`)
	want(t, created, http.StatusCreated, "site key")
	key := created.body["key"].(string)

	code, got, raw := admin.call("POST", "/wp-json/joinery/v1/connect", map[string]any{"joinery_url": proxy.URL, "site_key": key})
	if code != http.StatusOK || got["connected"] != true || got["webhooks"] != true || got["structure_pushed"] != true {
		t.Fatalf("connect: %d %s", code, raw)
	}
	t.Cleanup(func() { admin.call("POST", "/wp-json/joinery/v1/disconnect", nil) })
	id := got["integration_id"].(string)
	it := r.do("GET", "/v1/integrations/"+id, editor, "")
	want(t, it, http.StatusOK, "the integration")
	if it.body["connection_status"] != "connected" || it.body["site_id"] != "plugin-site" {
		t.Fatalf("the integration: %s", it.raw)
	}
	if res := r.do("POST", "/v1/integrations/"+id+"/test_connection", editor, ""); res.body["ok"] != true {
		t.Fatalf("test_connection: %s", res.raw)
	}
	ct := r.do("GET", "/v1/integrations/"+id+"/content_types", editor, "")
	if ct.body["source"] != "plugin" || ct.body["plugin_version"] != "1.0.0" || !strings.Contains(ct.raw, `"name":"post"`) || !strings.Contains(ct.raw, `"name":"category"`) {
		t.Fatalf("the pushed structure: %s", ct.raw)
	}

	record := func(post int) reply {
		return r.do("GET", fmt.Sprintf("/v1/integrations/%s/records/post/%d", id, post), editor, "")
	}
	// Each change reaches the record within 10 s of a cron trigger.
	changed := func(what string, post int, cond func(reply) bool) {
		t.Helper()
		admin.cron()
		eventually(t, 10*time.Second, what, func() (bool, string) {
			rec := record(post)
			return cond(rec), rec.raw
		})
	}
	code, post, raw := admin.call("POST", "/wp-json/wp/v2/posts", map[string]any{"title": "Plugin acceptance", "status": "publish"})
	if code != http.StatusCreated {
		t.Fatalf("create: %d %s", code, raw)
	}
	pid := int(post["id"].(float64))
	t.Cleanup(func() { _, _ = wptest.RunPHP(fmt.Sprintf("wp_delete_post(%d, true);", pid)) })
	changed("created", pid, func(rec reply) bool { return rec.status == 200 && rec.body["title"] == "Plugin acceptance" })
	admin.call("POST", fmt.Sprintf("/wp-json/wp/v2/posts/%d", pid), map[string]any{"title": "Plugin acceptance, edited"})
	changed("edited", pid, func(rec reply) bool { return rec.body["title"] == "Plugin acceptance, edited" })
	admin.call("DELETE", fmt.Sprintf("/wp-json/wp/v2/posts/%d", pid), nil)
	changed("trashed", pid, func(rec reply) bool { return rec.body["status"] == "trash" })
	wptest.PHP(t, fmt.Sprintf("wp_untrash_post(%d);", pid))
	changed("untrashed", pid, func(rec reply) bool { return rec.body["status"] == "draft" && rec.body["deleted"] == false })
	admin.call("DELETE", fmt.Sprintf("/wp-json/wp/v2/posts/%d?force=true", pid), nil)
	changed("deleted", pid, func(rec reply) bool { return rec.body["deleted"] == true })

	// 200 edits over 50 posts, four saves at a time, WP-Cron sending
	// between them: every record ends equal to WordPress.
	out := wptest.PHP(t, `$ids = []; for ($i = 1; $i <= 50; $i++) { $ids[] = wp_insert_post(['post_title' => "Burst $i", 'post_status' => 'publish'], true); } echo json_encode($ids);`)
	var ids []int
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &ids); err != nil || len(ids) != 50 {
		t.Fatalf("50 posts: %q %v", out, err)
	}
	t.Cleanup(func() {
		_, _ = wptest.RunPHP(fmt.Sprintf("foreach ([%s] as $id) wp_delete_post($id, true);", strings.Trim(strings.Join(strings.Fields(fmt.Sprint(ids)), ","), "[]")))
	})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := range 4 {
				for i := w; i < len(ids); i += 4 {
					admin.call("POST", fmt.Sprintf("/wp-json/wp/v2/posts/%d", ids[i]), map[string]any{"title": fmt.Sprintf("Burst %d, edit %d", ids[i], round+1)})
				}
				if w == 0 {
					admin.cron()
				}
			}
		}()
	}
	wg.Wait()
	// The truth, read from WordPress itself.
	truth := map[int]string{}
	out = wptest.PHP(t, fmt.Sprintf("$t = []; foreach ([%s] as $id) { $t[$id] = get_post($id)->post_title; } echo json_encode($t);", strings.Trim(strings.Join(strings.Fields(fmt.Sprint(ids)), ","), "[]")))
	var titles map[string]string
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &titles); err != nil {
		t.Fatalf("titles: %q %v", out, err)
	}
	for k, v := range titles {
		n, _ := strconv.Atoi(k)
		truth[n] = v
	}
	admin.cron()
	// Each delivery makes Joinery read the post from WordPress again: on a
	// loaded 2-core machine the last of some 200 reads can come well after
	// 10 s, so the bulk is given a minute (single changes keep 10 s).
	eventually(t, time.Minute, "200 edits over 50 posts", func() (bool, string) {
		for _, n := range ids {
			if rec := record(n); rec.body["title"] != truth[n] {
				if st := admin.status(); st["queue_length"].(float64) > 0 {
					admin.cron() // the queue was longer than one run sends
				}
				return false, fmt.Sprintf("post %d: record %v, WordPress %q; plugin %v", n, rec.raw, truth[n], admin.status())
			}
		}
		return true, ""
	})
	// At most one webhook event per delivery id.
	seen := map[string]int{}
	events := 0
	for cursor := ""; ; {
		q := "/v1/integrations/" + id + "/events?type=webhook&limit=100"
		if cursor != "" {
			q += "&cursor=" + url.QueryEscape(cursor)
		}
		page := r.do("GET", q, editor, "")
		want(t, page, http.StatusOK, "events")
		for _, e := range page.body["items"].([]any) {
			ev := e.(map[string]any)
			details, _ := ev["details"].(map[string]any)
			d := fmt.Sprint(details["delivery_id"])
			if details["delivery_id"] == nil {
				t.Fatalf("a webhook event without its delivery id: %v", ev)
			}
			seen[d]++
			events++
		}
		next, _ := page.body["next_cursor"].(string)
		if next == "" {
			break
		}
		cursor = next
	}
	for d, n := range seen {
		if n > 1 {
			t.Fatalf("delivery %s has %d webhook events", d, n)
		}
	}
	if events < 55 {
		t.Fatalf("only %d webhook events", events)
	}
	runs := r.do("GET", "/v1/integrations/"+id+"/runs", editor, "")
	if items, _ := runs.body["items"].([]any); len(items) != 0 {
		t.Fatalf("a sync ran: %s", runs.raw)
	}

	// Joinery stopped: edits wait in the queue, and arrive once it is back.
	down.Store(true)
	for _, n := range ids[:3] {
		admin.call("POST", fmt.Sprintf("/wp-json/wp/v2/posts/%d", n), map[string]any{"title": fmt.Sprintf("Burst %d, while Joinery was down", n)})
	}
	admin.cron()
	if st := admin.status(); st["queue_length"].(float64) != 3 || st["failures"].(float64) < 1 {
		t.Fatalf("while Joinery is down: %v", st)
	}
	down.Store(false)
	// Past the backoff, on the plugin's clock.
	wptest.PHP(t, `update_option('joinery_next_attempt', time(), false); wp_clear_scheduled_hook('joinery_send_queue'); wp_schedule_single_event(time(), 'joinery_send_queue');`)
	for _, n := range ids[:3] {
		changed("after Joinery returned", n, func(rec reply) bool { return rec.body["title"] == fmt.Sprintf("Burst %d, while Joinery was down", n) })
	}

	// Disconnect revokes the Application Password Joinery was given.
	code, got, raw = admin.call("POST", "/wp-json/joinery/v1/disconnect", nil)
	if code != http.StatusOK || got["revoked"] != true {
		t.Fatalf("disconnect: %d %s", code, raw)
	}
	res := r.do("POST", "/v1/integrations/"+id+"/test_connection", editor, "")
	if res.body["ok"] != false || res.body["connection_status"] != "reauthorization_required" {
		t.Fatalf("Joinery's call after disconnecting: %s", res.raw)
	}
}
