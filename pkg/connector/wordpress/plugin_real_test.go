package wordpress

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/connector/wordpress/wptest"
	"github.com/joinery/joinery/pkg/webhook"
)

// TestPluginPHPLint runs php -l on every PHP file of the plugin.
func TestPluginPHPLint(t *testing.T) {
	php, err := exec.LookPath("php")
	if err != nil {
		msg := "SKIPPED (real dependency missing): php (wptest/wp.sh install): " + err.Error()
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	var files []string
	err = filepath.Walk(wptest.PluginDir(), func(path string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && strings.HasSuffix(path, ".php") {
			files = append(files, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 5 {
		t.Fatalf("found only %d PHP files under %s", len(files), wptest.PluginDir())
	}
	for _, f := range files {
		if out, err := exec.Command(php, "-l", f).CombinedOutput(); err != nil {
			t.Errorf("php -l %s: %v\n%s", f, err, out)
		}
	}
	header, err := os.ReadFile(filepath.Join(wptest.PluginDir(), "joinery.php"))
	if err != nil || !bytes.Contains(header, []byte("Plugin Name:")) {
		t.Fatalf("joinery.php has no Plugin Name header: %v", err)
	}
	for _, f := range []string{"readme.txt", "uninstall.php"} {
		if _, err := os.Stat(filepath.Join(wptest.PluginDir(), f)); err != nil {
			t.Fatal(err)
		}
	}
}

// delivery is one webhook the fake Joinery received, signature verified.
type delivery struct {
	ID        string
	Timestamp int64
	Action    string `json:"action"`
	PostID    int    `json:"post_id"`
	PostType  string `json:"post_type"`
	SiteURL   string `json:"site_url"`
}

// fakeJoinery answers the plugin's three calls: onboarding (it checks the
// Application Password against WordPress, as Joinery does), structure
// pushes and webhook deliveries, which it verifies with Standard Webhooks.
type fakeJoinery struct {
	t      *testing.T
	srv    *httptest.Server
	wpURL  string
	key    string
	secret string
	id     string

	mu         sync.Mutex
	password   string
	structures []map[string]any
	deliveries []delivery
	attempts   []delivery    // every signed attempt, failed or not
	fail       int           // answer this status to deliveries while set
	hang       time.Duration // wait this long before answering a delivery
	rejected   []string      // why deliveries were refused
}

func newFakeJoinery(t *testing.T, wpURL string) *fakeJoinery {
	f := &fakeJoinery{t: t, wpURL: wpURL, key: "jsk_test_site_key", id: "int-plugin-1",
		secret: "whsec_" + base64.StdEncoding.EncodeToString([]byte("a thirty-two byte webhook secret"))}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/integrations/test_connection", f.onboard)
	mux.HandleFunc("POST /v1/integrations/{id}/update_structure", f.structure)
	mux.HandleFunc("POST /webhooks/wordpress/{id}", f.webhook)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeJoinery) port() int {
	_, p, _ := net.SplitHostPort(f.srv.Listener.Addr().String())
	n, _ := strconv.Atoi(p)
	return n
}

func (f *fakeJoinery) refuse(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"error":{"code":"unauthorized","message":%q}}`, msg)
}

func (f *fakeJoinery) onboard(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") == "Bearer html-key" {
		f.refuse(w, http.StatusUnauthorized, "<script>alert(1)</script>")
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+f.key {
		f.refuse(w, http.StatusUnauthorized, "The site key is not valid.")
		return
	}
	var in struct {
		SiteURL     string `json:"site_url"`
		Username    string `json:"username"`
		AppPassword string `json:"app_password"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		f.refuse(w, http.StatusBadRequest, err.Error())
		return
	}
	if in.SiteURL != f.wpURL {
		f.refuse(w, http.StatusBadRequest, "site_url "+in.SiteURL)
		return
	}
	if code := wpStatus(f.wpURL, in.Username, in.AppPassword); code != http.StatusOK {
		f.refuse(w, http.StatusUnprocessableEntity, fmt.Sprintf("users/me answered %d", code))
		return
	}
	f.mu.Lock()
	f.password = in.AppPassword
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"ok": true, "integration_id": f.id, "created": true, "message": "Connected.",
		"webhook_url": f.srv.URL + "/webhooks/wordpress/" + f.id, "webhook_secret": f.secret})
}

func (f *fakeJoinery) structure(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+f.key || r.PathValue("id") != f.id {
		f.refuse(w, http.StatusUnauthorized, "no")
		return
	}
	var s map[string]any
	if err := json.NewDecoder(r.Body).Decode(&s); err != nil {
		f.refuse(w, http.StatusBadRequest, err.Error())
		return
	}
	f.mu.Lock()
	f.structures = append(f.structures, s)
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprint(w, `{}`)
}

// webhook verifies a delivery the way the Standard Webhooks specification
// says, independently of the plugin's code.
func (f *fakeJoinery) webhook(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	id, ts, sigs := r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp"), r.Header.Get("webhook-signature")
	key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(f.secret, "whsec_"))
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "." + string(body)))
	want := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	ok := false
	for _, s := range strings.Fields(sigs) {
		if v, sig, _ := strings.Cut(s, ","); v == "v1" && hmac.Equal([]byte(sig), []byte(want)) {
			ok = true
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	// Joinery's own verifier must accept it too.
	scheme, _ := webhook.For("wordpress")
	req := webhook.Request{Method: r.Method, Path: r.URL.Path, Header: r.Header, Body: body}
	joineryErr := scheme.Verify(req, webhook.Keys{HookSecret: f.secret, HookID: f.id}, time.Now())
	if joineryErr == nil {
		_, joineryErr = scheme.Parse(req)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case r.PathValue("id") != f.id:
		f.rejected = append(f.rejected, "integration "+r.PathValue("id"))
	case id == "" || !ok:
		f.rejected = append(f.rejected, "signature "+sigs)
	case err != nil || time.Since(time.Unix(sec, 0)).Abs() > 5*time.Minute:
		f.rejected = append(f.rejected, "timestamp "+ts)
	case joineryErr != nil:
		f.rejected = append(f.rejected, "Joinery's verifier: "+joineryErr.Error())
	default:
		d := delivery{ID: id, Timestamp: sec}
		if err := json.Unmarshal(body, &d); err != nil {
			f.rejected = append(f.rejected, "body "+string(body))
			break
		}
		f.attempts = append(f.attempts, d)
		if f.hang > 0 {
			hang := f.hang
			f.mu.Unlock()
			select { // a Joinery that does not answer in time
			case <-time.After(hang):
			case <-r.Context().Done():
			}
			f.mu.Lock()
			if r.Context().Err() != nil {
				return // the plugin gave up: not delivered
			}
		}
		if f.fail != 0 {
			w.WriteHeader(f.fail)
			return
		}
		f.deliveries = append(f.deliveries, d)
		w.WriteHeader(http.StatusOK)
		return
	}
	w.WriteHeader(http.StatusUnauthorized)
}

// take returns and forgets the deliveries received so far.
func (f *fakeJoinery) take() []delivery {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.rejected) > 0 {
		f.t.Fatalf("deliveries refused: %v", f.rejected)
	}
	d := f.deliveries
	f.deliveries = nil
	return d
}

func (f *fakeJoinery) setFail(status int) {
	f.mu.Lock()
	f.fail = status
	f.mu.Unlock()
}

// wpStatus is the status WordPress answers users/me with these credentials.
func wpStatus(site, user, password string) int {
	req, _ := http.NewRequest("GET", site+"/wp-json/wp/v2/users/me", nil)
	req.SetBasicAuth(user, password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// wpClient calls a WordPress site's REST API as one user.
type wpClient struct {
	t              *testing.T
	site           string
	user, password string
}

func (c wpClient) call(method, path string, body any) (int, map[string]any, string) {
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
	req.SetBasicAuth(c.user, c.password)
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

// cron runs WordPress's due scheduled events, as a system cron would.
func (c wpClient) cron() {
	c.t.Helper()
	resp, err := (&http.Client{Timeout: 60 * time.Second}).Get(c.site + "/wp-cron.php")
	if err != nil {
		c.t.Fatalf("wp-cron.php: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

func (c wpClient) status() map[string]any {
	c.t.Helper()
	code, m, raw := c.call("GET", "/wp-json/joinery/v1/status", nil)
	if code != http.StatusOK {
		c.t.Fatalf("status: %d %s", code, raw)
	}
	return m
}

// retryNow moves the plugin's clock past its backoff: the next attempt is
// due now, and so is its scheduled event.
func retryNow(t *testing.T) {
	t.Helper()
	wptest.PHP(t, `update_option('joinery_next_attempt', time(), false); wp_clear_scheduled_hook('joinery_send_queue'); wp_schedule_single_event(time(), 'joinery_send_queue');`)
}

func num(v any) int {
	f, _ := v.(float64)
	return int(f)
}

// The plugin on the real WordPress, against a fake Joinery: connect,
// deliveries for each change, signatures, backoff, the queue's bound,
// structure pushes and disconnect.
func TestPluginOnRealWordPress(t *testing.T) {
	_, wp := realConn(t)
	site := wp["WP_URL"]
	f := newFakeJoinery(t, site)
	wptest.Plugin(t, f.port())
	admin := wpClient{t: t, site: site, user: "admin", password: wp["WP_ADMIN_APP_PASSWORD"]}
	author := wpClient{t: t, site: site, user: "author", password: wp["WP_AUTHOR_APP_PASSWORD"]}
	joineryPasswords := func() int {
		out := wptest.PHP(t, `$n = 0; foreach (get_users(['fields' => 'ID']) as $u) { foreach (WP_Application_Passwords::get_user_application_passwords($u) as $p) { if ($p['name'] === 'Joinery') $n++; } } echo $n;`)
		n, _ := strconv.Atoi(strings.TrimSpace(out))
		return n
	}
	t.Cleanup(func() { admin.call("POST", "/wp-json/joinery/v1/disconnect", nil) })

	// Only administrators manage the connection.
	if code, _, raw := author.call("GET", "/wp-json/joinery/v1/status", nil); code != http.StatusForbidden {
		t.Fatalf("an author read the status: %d %s", code, raw)
	}
	if code, _, raw := author.call("POST", "/wp-json/joinery/v1/connect", map[string]any{"joinery_url": f.srv.URL, "site_key": f.key}); code != http.StatusForbidden {
		t.Fatalf("an author connected: %d %s", code, raw)
	}
	// A wrong key: Joinery's message, nothing kept, no password left behind.
	code, _, raw := admin.call("POST", "/wp-json/joinery/v1/connect", map[string]any{"joinery_url": f.srv.URL, "site_key": "wrong"})
	if code != http.StatusBadRequest || !strings.Contains(raw, "The site key is not valid.") {
		t.Fatalf("connect with a wrong key: %d %s", code, raw)
	}
	if n := joineryPasswords(); n != 0 || admin.status()["connected"] != false {
		t.Fatalf("a failed connect left %d Application Passwords, status %v", n, admin.status())
	}
	if code, _, raw := admin.call("POST", "/wp-json/joinery/v1/connect", map[string]any{"joinery_url": "ftp://x", "site_key": f.key}); code != http.StatusBadRequest {
		t.Fatalf("connect with a bad URL: %d %s", code, raw)
	}

	code, got, raw := admin.call("POST", "/wp-json/joinery/v1/connect", map[string]any{"joinery_url": f.srv.URL + "/", "site_key": f.key})
	if code != http.StatusOK || got["connected"] != true || got["integration_id"] != f.id || got["webhooks"] != true || got["structure_pushed"] != true {
		t.Fatalf("connect: %d %s", code, raw)
	}
	for _, secret := range []string{f.secret, f.key, f.password} {
		if strings.Contains(raw, secret) || strings.Contains(fmt.Sprint(admin.status()), secret) {
			t.Fatalf("a secret is in the plugin's answers: %s", raw)
		}
	}
	if n := joineryPasswords(); n != 1 {
		t.Fatalf("%d Joinery Application Passwords after connecting", n)
	}
	f.mu.Lock()
	if len(f.structures) != 1 || !strings.Contains(fmt.Sprint(f.structures[0]["post_types"]), "name:post") ||
		!strings.Contains(fmt.Sprint(f.structures[0]["taxonomies"]), "name:category") || f.structures[0]["plugin_version"] != "1.0.0" {
		t.Fatalf("structure pushed on connect: %v", f.structures)
	}
	f.mu.Unlock()

	// Each change of a post is one signed delivery once cron runs.
	expect := func(what string, want ...string) []delivery {
		t.Helper()
		admin.cron()
		got := f.take()
		var actions []string
		for _, d := range got {
			actions = append(actions, fmt.Sprintf("%s:%d", d.Action, d.PostID))
			if d.SiteURL != site || d.ID == "" {
				t.Fatalf("%s: delivery %+v", what, d)
			}
		}
		if strings.Join(actions, " ") != strings.Join(want, " ") {
			t.Fatalf("%s: deliveries %v, want %v", what, actions, want)
		}
		return got
	}
	code, post, raw := admin.call("POST", "/wp-json/wp/v2/posts", map[string]any{"title": "Plugin post", "status": "publish"})
	if code != http.StatusCreated {
		t.Fatalf("create: %d %s", code, raw)
	}
	id := num(post["id"])
	pid := func(action string) string { return fmt.Sprintf("%s:%d", action, id) }
	created := expect("create", pid("post_created"))
	if created[0].PostType != "post" {
		t.Fatalf("post_type %q", created[0].PostType)
	}
	admin.call("POST", fmt.Sprintf("/wp-json/wp/v2/posts/%d", id), map[string]any{"title": "Edited"})
	expect("update", pid("post_updated"))
	// A burst of saves of one post coalesces; an autosave is not sent.
	for i := range 3 {
		admin.call("POST", fmt.Sprintf("/wp-json/wp/v2/posts/%d", id), map[string]any{"content": fmt.Sprint("burst ", i)})
	}
	expect("burst", pid("post_updated"))
	if code, _, raw := admin.call("POST", fmt.Sprintf("/wp-json/wp/v2/posts/%d/autosaves", id), map[string]any{"content": "autosaved"}); code != http.StatusOK {
		t.Fatalf("autosave: %d %s", code, raw)
	}
	expect("autosave")
	admin.call("DELETE", fmt.Sprintf("/wp-json/wp/v2/posts/%d", id), nil)
	expect("trash", pid("post_trashed"))
	wptest.PHP(t, fmt.Sprintf(`wp_untrash_post(%d);`, id))
	expect("untrash", pid("post_untrashed"))
	admin.call("DELETE", fmt.Sprintf("/wp-json/wp/v2/posts/%d?force=true", id), nil)
	expect("delete", pid("post_deleted"))
	code, page, _ := admin.call("POST", "/wp-json/wp/v2/pages", map[string]any{"title": "Plugin page", "status": "draft"})
	if code != http.StatusCreated {
		t.Fatalf("create page: %d", code)
	}
	if d := expect("page", fmt.Sprintf("post_created:%d", num(page["id"]))); d[0].PostType != "page" {
		t.Fatalf("page delivery: %+v", d[0])
	}
	admin.call("POST", fmt.Sprintf("/wp-json/wp/v2/pages/%d", num(page["id"])), map[string]any{"status": "publish"})
	expect("page published", fmt.Sprintf("post_updated:%d", num(page["id"])))

	// Where the response can be flushed first (PHP-FPM), the request that
	// made the change sends it at shutdown, without WP-Cron. PHP's
	// built-in server cannot flush, so a stand-in says it did.
	wptest.MustUse(t, "joinery-test-flush.php", `<?php if (!function_exists('fastcgi_finish_request')) { function fastcgi_finish_request() { return true; } }`)
	admin.call("POST", fmt.Sprintf("/wp-json/wp/v2/pages/%d", num(page["id"])), map[string]any{"title": "Sent at shutdown"})
	wptest.MustUse(t, "joinery-test-flush.php", "")
	if got := f.take(); len(got) != 1 || got[0].Action != "post_updated" || got[0].PostID != num(page["id"]) {
		t.Fatalf("sent at shutdown: %+v", got)
	}
	admin.call("DELETE", fmt.Sprintf("/wp-json/wp/v2/pages/%d?force=true", num(page["id"])), nil)
	expect("page delete", fmt.Sprintf("post_deleted:%d", num(page["id"])))

	// A Joinery that does not answer: the editor does not wait for it, and
	// an attempt gives up after 5 s.
	code, post, raw = admin.call("POST", "/wp-json/wp/v2/posts", map[string]any{"title": "Timeout post", "status": "draft"})
	if code != http.StatusCreated {
		t.Fatalf("create: %d %s", code, raw)
	}
	slow := num(post["id"])
	t.Cleanup(func() { wptest.RunPHP(fmt.Sprintf("wp_delete_post(%d, true);", slow)) })
	expect("create", fmt.Sprintf("post_created:%d", slow))
	f.mu.Lock()
	f.hang = 8 * time.Second
	f.mu.Unlock()
	began := time.Now()
	admin.call("POST", fmt.Sprintf("/wp-json/wp/v2/posts/%d", slow), map[string]any{"title": "Edited while Joinery hangs"})
	edit := time.Since(began)
	began = time.Now()
	admin.cron()
	attempt := time.Since(began)
	f.mu.Lock()
	f.hang = 0
	f.mu.Unlock()
	if st := admin.status(); num(st["failures"]) != 1 || num(st["queue_length"]) != 1 || attempt < 5*time.Second || attempt > 7500*time.Millisecond || edit > attempt/2 {
		t.Fatalf("a Joinery that does not answer: the edit took %v, the attempt %v; status %v", edit, attempt, st)
	}
	retryNow(t)
	expect("after the timeout", fmt.Sprintf("post_updated:%d", slow))

	// Joinery down: the change stays queued, attempts wait 1, 2, 4 … s,
	// never more than 60, and none is made before its time.
	code, post, raw = admin.call("POST", "/wp-json/wp/v2/posts", map[string]any{"title": "Backoff post", "status": "draft"})
	if code != http.StatusCreated {
		t.Fatalf("create: %d %s", code, raw)
	}
	id = num(post["id"])
	t.Cleanup(func() { wptest.RunPHP(fmt.Sprintf("wp_delete_post(%d, true);", id)) })
	expect("create", pid("post_created"))
	f.setFail(http.StatusServiceUnavailable)
	admin.call("POST", fmt.Sprintf("/wp-json/wp/v2/posts/%d", id), map[string]any{"title": "Edited while Joinery is down"})
	var firstID string
	delays := []int64{1, 2, 4, 8, 16, 32, 60, 60}
	for i, wantDelay := range delays {
		f.mu.Lock()
		before := len(f.attempts)
		f.mu.Unlock()
		if i > 0 {
			if delays[i-1] >= 8 {
				admin.cron() // not due yet: nothing is sent
			}
			retryNow(t)
		}
		admin.cron()
		f.mu.Lock()
		attempts := f.attempts[before:]
		f.mu.Unlock()
		if len(attempts) != 1 {
			t.Fatalf("failure %d: %d attempts", i+1, len(attempts))
		}
		if firstID == "" {
			firstID = attempts[0].ID
		} else if attempts[0].ID != firstID {
			t.Fatalf("a retry changed the webhook-id: %s, then %s", firstID, attempts[0].ID)
		}
		st := admin.status()
		next, err := time.Parse(time.RFC3339, fmt.Sprint(st["next_attempt_at"]))
		if err != nil || num(st["failures"]) != i+1 || num(st["queue_length"]) != 1 || !strings.Contains(fmt.Sprint(st["last_error"]), "503") {
			t.Fatalf("failure %d: status %v", i+1, st)
		}
		if delay := next.Unix() - attempts[0].Timestamp; delay < wantDelay || delay > wantDelay+1 {
			t.Fatalf("failure %d: next attempt in %d s, want %d", i+1, delay, wantDelay)
		}
	}
	f.setFail(0)
	retryNow(t)
	if d := expect("after recovery", pid("post_updated")); d[0].ID != firstID {
		t.Fatalf("delivered as %s, attempted as %s", d[0].ID, firstID)
	}
	if st := admin.status(); num(st["failures"]) != 0 || num(st["queue_length"]) != 0 || st["last_delivery_at"] == nil || st["last_error"] != "" {
		t.Fatalf("status after recovery: %v", st)
	}

	// The queue holds 1,000: beyond that the oldest are dropped and counted.
	f.setFail(http.StatusServiceUnavailable)
	wptest.PHP(t, `for ($i = 1; $i <= 1010; $i++) { Joinery_Queue::push('post_updated', 5000000 + $i, 'post'); }`)
	if st := admin.status(); num(st["queue_length"]) != 1000 || num(st["dropped"]) != 10 {
		t.Fatalf("after 1,010 changes: %v", st)
	}
	f.setFail(0)
	// The scheduled send is lost, as when two requests write WordPress's
	// cron option at once: the next request schedules it again.
	wptest.PHP(t, `update_option('joinery_next_attempt', time(), false); wp_clear_scheduled_hook('joinery_send_queue');`)
	var all []delivery
	for range 20 {
		admin.cron()
		all = append(all, f.take()...)
		if len(all) >= 1000 {
			break
		}
	}
	if len(all) != 1000 || all[0].PostID != 5000011 || all[999].PostID != 5001010 {
		t.Fatalf("delivered %d of the bounded queue (first %+v)", len(all), all[:min(1, len(all))])
	}

	// A new post type: the structure is pushed again.
	wptest.MustUse(t, "joinery-test-book.php", `<?php add_action('init', function () { register_post_type('book', ['public' => true, 'show_in_rest' => true, 'label' => 'Books']); });`)
	t.Cleanup(func() { wptest.MustUse(t, "joinery-test-book.php", "") })
	admin.status() // any request notices the change
	admin.cron()
	f.mu.Lock()
	pushes := len(f.structures)
	last := fmt.Sprint(f.structures[pushes-1]["post_types"])
	f.mu.Unlock()
	if pushes != 2 || !strings.Contains(last, "name:book") {
		t.Fatalf("after registering a post type: %d pushes, last %s", pushes, last)
	}
	admin.status()
	admin.cron()
	if f.mu.Lock(); len(f.structures) != 2 {
		t.Fatalf("an unchanged structure was pushed again")
	}
	f.mu.Unlock()

	// Disconnect revokes the password Joinery was given.
	if wpStatus(site, "admin", f.password) != http.StatusOK {
		t.Fatal("Joinery's Application Password does not work before disconnecting")
	}
	code, got, raw = admin.call("POST", "/wp-json/joinery/v1/disconnect", nil)
	if code != http.StatusOK || got["connected"] != false || got["revoked"] != true {
		t.Fatalf("disconnect: %d %s", code, raw)
	}
	if c := wpStatus(site, "admin", f.password); c != http.StatusUnauthorized {
		t.Fatalf("Joinery's Application Password answers %d after disconnecting", c)
	}
	if n := joineryPasswords(); n != 0 {
		t.Fatalf("%d Joinery Application Passwords after disconnecting", n)
	}
	// Not connected: changes are not queued.
	admin.call("POST", fmt.Sprintf("/wp-json/wp/v2/posts/%d", id), map[string]any{"title": "Edited after disconnecting"})
	if st := admin.status(); num(st["queue_length"]) != 0 {
		t.Fatalf("a change was queued while disconnected: %v", st)
	}
}

// TestPluginI18n: every translatable string of the plugin is in its text
// domain, and the translation template lists them.
func TestPluginI18n(t *testing.T) {
	call := regexp.MustCompile(`\b(__|_e|esc_html__|esc_html_e|esc_attr__|esc_attr_e)\(\s*'((?:[^'\\]|\\.)*)'\s*(,\s*'([a-z-]*)')?`)
	pot, err := os.ReadFile(filepath.Join(wptest.PluginDir(), "languages", "joinery.pot"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	err = filepath.Walk(wptest.PluginDir(), func(path string, info os.FileInfo, err error) error {
		if err != nil || !strings.HasSuffix(path, ".php") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range call.FindAllStringSubmatch(string(b), -1) {
			n++
			if m[4] != "joinery" {
				t.Errorf("%s: %s('%s') is not in the joinery text domain", filepath.Base(path), m[1], m[2])
			}
			if !bytes.Contains(pot, []byte(`msgid "`+strings.ReplaceAll(m[2], `"`, `\"`)+`"`)) {
				t.Errorf("%s: %q is missing from languages/joinery.pot (regenerate it, in the plugin's directory: xgettext --no-wrap --language=PHP --from-code=UTF-8 --add-comments=translators: --keyword=__ --keyword=_e --keyword=esc_html__ --keyword=esc_html_e --keyword=esc_attr__ --keyword=esc_attr_e --package-name=Joinery -o languages/joinery.pot $(find . -name '*.php' | sort))", filepath.Base(path), m[2])
			}
		}
		return nil
	})
	if err != nil || n < 20 {
		t.Fatalf("found %d translatable strings: %v", n, err)
	}
}

// The settings page: its forms carry nonces, refuse requests without
// them, and escape what Joinery says.
func TestPluginSettingsPage(t *testing.T) {
	_, wp := realConn(t)
	site := wp["WP_URL"]
	f := newFakeJoinery(t, site)
	wptest.Plugin(t, f.port())
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 60 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := browser.Get(site + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	post := func(path string, form url.Values) (int, string) {
		t.Helper()
		resp, err := browser.PostForm(site+path, form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, resp.Header.Get("Location")
	}
	get("/wp-login.php") // the test cookie
	if code, loc := post("/wp-login.php", url.Values{"log": {"admin"}, "pwd": {"admin-login-password"}, "testcookie": {"1"}, "redirect_to": {site + "/wp-admin/"}}); code != http.StatusFound || !strings.Contains(loc, "/wp-admin/") {
		t.Fatalf("log in: %d %s", code, loc)
	}
	t.Cleanup(func() {
		wpClient{t: t, site: site, user: "admin", password: wp["WP_ADMIN_APP_PASSWORD"]}.call("POST", "/wp-json/joinery/v1/disconnect", nil)
	})
	nonce := regexp.MustCompile(`name="_wpnonce" value="([0-9a-f]+)"`)
	page := func(notice string) (string, string) {
		t.Helper()
		code, body := get("/wp-admin/options-general.php?page=joinery&joinery_notice=" + notice)
		if code != http.StatusOK {
			t.Fatalf("settings page: %d", code)
		}
		m := nonce.FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("no nonce on the settings page: %s", body)
		}
		return body, m[1]
	}
	body, n := page("")
	if !strings.Contains(body, `name="joinery_site_key"`) {
		t.Fatalf("no connect form: %s", body)
	}
	connect := func(nonce, key string) (int, string) {
		return post("/wp-admin/admin-post.php", url.Values{"action": {"joinery_connect"}, "_wpnonce": {nonce}, "joinery_url": {f.srv.URL}, "joinery_site_key": {key}})
	}
	if code, _ := connect("", f.key); code != http.StatusForbidden {
		t.Fatalf("connect without a nonce: %d", code)
	}
	if code, _ := connect("0123456789", f.key); code != http.StatusForbidden {
		t.Fatalf("connect with a wrong nonce: %d", code)
	}
	if code, loc := connect(n, "html-key"); code != http.StatusFound || !strings.Contains(loc, "joinery_notice=error") {
		t.Fatalf("connect refused by Joinery: %d %s", code, loc)
	}
	body, n = page("error")
	if strings.Contains(body, "<script>alert(1)</script>") || !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Fatalf("Joinery's message is not escaped on the page: %s", body)
	}
	if code, loc := connect(n, f.key); code != http.StatusFound || !strings.Contains(loc, "joinery_notice=connected") {
		t.Fatalf("connect: %d %s", code, loc)
	}
	body, n = page("connected")
	if !strings.Contains(body, "Connected to Joinery.") || !strings.Contains(body, f.id) || strings.Contains(body, f.secret) || strings.Contains(body, f.key) || !strings.Contains(body, "joinery_disconnect") {
		t.Fatalf("the connected page: %s", body)
	}
	if code, _ := post("/wp-admin/admin-post.php", url.Values{"action": {"joinery_disconnect"}}); code != http.StatusForbidden {
		t.Fatalf("disconnect without a nonce: %d", code)
	}
	if code, loc := post("/wp-admin/admin-post.php", url.Values{"action": {"joinery_disconnect"}, "_wpnonce": {n}}); code != http.StatusFound || !strings.Contains(loc, "joinery_notice=disconnected") {
		t.Fatalf("disconnect: %d %s", code, loc)
	}
	if c := wpStatus(site, "admin", f.password); c != http.StatusUnauthorized {
		t.Fatalf("Joinery's Application Password answers %d after disconnecting", c)
	}
}

// Uninstalling removes every option, the queue's table, the scheduled
// events and the Application Password Joinery was given.
func TestPluginUninstall(t *testing.T) {
	_, wp := realConn(t)
	site := wp["WP_URL"]
	f := newFakeJoinery(t, site)
	wptest.Plugin(t, f.port())
	admin := wpClient{t: t, site: site, user: "admin", password: wp["WP_ADMIN_APP_PASSWORD"]}
	if code, _, raw := admin.call("POST", "/wp-json/joinery/v1/connect", map[string]any{"joinery_url": f.srv.URL, "site_key": f.key}); code != http.StatusOK {
		t.Fatalf("connect: %d %s", code, raw)
	}
	f.setFail(http.StatusServiceUnavailable)
	admin.call("POST", "/wp-json/wp/v2/posts", map[string]any{"title": "Uninstall post", "status": "draft"})
	admin.cron() // fails: a backoff is scheduled
	out := wptest.PHP(t, `require_once ABSPATH . 'wp-admin/includes/plugin.php';
global $wpdb;
$before = (int) $wpdb->get_var("SELECT COUNT(*) FROM {$wpdb->options} WHERE option_name LIKE 'joinery\_%'");
deactivate_plugins('joinery/joinery.php');
uninstall_plugin('joinery/joinery.php');
$left = $wpdb->get_col("SELECT option_name FROM {$wpdb->options} WHERE option_name LIKE 'joinery\_%'");
$table = $wpdb->get_var($wpdb->prepare('SHOW TABLES LIKE %s', $wpdb->prefix . 'joinery_queue'));
$passwords = 0;
foreach (WP_Application_Passwords::get_user_application_passwords(get_user_by('login', 'admin')->ID) as $p) { if ($p['name'] === 'Joinery') $passwords++; }
$events = (wp_next_scheduled('joinery_send_queue') ? 1 : 0) + (wp_next_scheduled('joinery_push_structure') ? 1 : 0);
$r = activate_plugin('joinery/joinery.php');
echo json_encode(['before' => $before, 'left' => $left, 'table' => $table, 'passwords' => $passwords, 'events' => $events, 'reactivated' => !is_wp_error($r)]);`)
	var got struct {
		Before      int
		Left        []string
		Table       *string
		Passwords   int
		Events      int
		Reactivated bool
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if got.Before < 5 || len(got.Left) != 0 || got.Table != nil || got.Passwords != 0 || got.Events != 0 || !got.Reactivated {
		t.Fatalf("after uninstalling: %s", out)
	}
	if wpStatus(site, "admin", f.password) != http.StatusUnauthorized {
		t.Fatal("Joinery's Application Password still works after uninstalling")
	}
	if st := admin.status(); st["connected"] != false || num(st["queue_length"]) != 0 {
		t.Fatalf("status after reinstalling: %v", st)
	}
}
