package main

import (
	"fmt"
	"net/http"
	"testing"
)

// Through the runner: a site key cannot move its site's integration to
// another host, and is refused before that host is called; an editor's
// PATCH can. Query strings and fragments are refused everywhere.
func TestOnboardingCannotMoveASite(t *testing.T) {
	r := startRunner(t, "embedded")
	editor := r.token("acct-move", "editor", "")
	created := r.do("POST", "/v1/integrations", editor,
		`{"site_id":"move-1","platform":"wordpress","external_site_url":"https://blog.example.com","credentials":{"username":"admin","app_password":"abcd efgh ijkl mnop qrst uvwx"}}`)
	want(t, created, http.StatusCreated, "create")
	id := created.body["id"].(string)
	k := r.do("POST", "/v1/sites/move-1/keys", editor, `{"name":"plugin"}`)
	want(t, k, http.StatusCreated, "site key")
	key := k.body["key"].(string)

	// 192.0.2.1 (TEST-NET-1) is never called: the refusal comes first.
	moved := r.do("POST", "/v1/integrations/test_connection", key, `{"site_url":"http://192.0.2.1","username":"admin","app_password":"abcd efgh ijkl mnop qrst uvwx"}`)
	want(t, moved, http.StatusForbidden, "a site key moving the integration")
	if msg := moved.body["error"].(map[string]any)["message"]; msg != "Only an editor can move this integration to another host." {
		t.Fatalf("message %q", msg)
	}
	for _, u := range []string{"https://blog.example.com/?p=1", "https://blog.example.com/#x"} {
		fieldError(t, r.do("POST", "/v1/integrations/test_connection", key, fmt.Sprintf(`{"site_url":%q,"username":"admin","app_password":"x"}`, u)), "external_site_url")
		fieldError(t, r.do("PATCH", "/v1/integrations/"+id, editor, fmt.Sprintf(`{"external_site_url":%q}`, u)), "external_site_url")
		fieldError(t, r.do("POST", "/v1/integrations", editor, fmt.Sprintf(`{"site_id":"move-2","platform":"wordpress","external_site_url":%q}`, u)), "external_site_url")
	}
	got := r.do("PATCH", "/v1/integrations/"+id, editor, `{"external_site_url":"https://new-home.example.org"}`)
	want(t, got, http.StatusOK, "an editor's move")
	if got.body["external_site_url"] != "https://new-home.example.org" {
		t.Fatalf("after the move: %s", got.raw)
	}
}
