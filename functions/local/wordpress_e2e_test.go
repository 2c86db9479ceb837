package main

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/joinery/joinery/pkg/connector/wordpress/wptest"
)

func hostPort(t *testing.T, raw string) string {
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
		if res["ok"] != false || !strings.Contains(res["message"].(string), "refused to connect") || it["connection_status"] != "error" {
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
