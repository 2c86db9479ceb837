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

	for _, target := range []string{"http://169.254.169.254", internal.URL, "http://[::1]", "http://10.0.0.1", redirector.URL} {
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
