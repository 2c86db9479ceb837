package main

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// A settings page's ETag outlives what happens in the background: a
// connection test, a structure push from the plugin and a sync between
// its GET and its PATCH do not make the PATCH's If-Match stale, and none
// of them is lost to the PATCH.
func TestBackgroundWritesKeepTheETag(t *testing.T) {
	// A site that refuses every request: tests and syncs against it fail
	// at once, and record that.
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"code":"rest_not_logged_in","message":"no","data":{"status":401}}`))
	}))
	t.Cleanup(site.Close)
	t.Setenv("JOINERY_ALLOW_PRIVATE_NETWORKS", hostPort(t, site.URL))
	for _, backend := range []string{"embedded", "aws"} {
		t.Run(backend, func(t *testing.T) {
			r := startRunner(t, backend)
			acct := "acct-etag-" + backend
			editor := r.token(acct, "editor", "")
			created := r.do("POST", "/v1/integrations", editor, `{"site_id":"blog","platform":"wordpress","external_site_url":"`+site.URL+`","credentials":{"username":"admin","app_password":"abcd efgh ijkl mnop qrst uvwx"}}`)
			want(t, created, http.StatusCreated, "create")
			id := created.body["id"].(string)
			key := r.do("POST", "/v1/sites/blog/keys", editor, `{"name":"plugin"}`)
			want(t, key, http.StatusCreated, "site key")

			read := r.do("GET", "/v1/integrations/"+id, editor, "")
			want(t, read, http.StatusOK, "get")
			etag := read.header.Get("ETag")

			test := r.do("POST", "/v1/integrations/"+id+"/test_connection", editor, "")
			if test.body["ok"] != false {
				t.Fatalf("test_connection against a refusing site: %s", test.raw)
			}
			want(t, r.do("POST", "/v1/integrations/"+id+"/update_structure", key.body["key"].(string),
				`{"post_types":[{"name":"post","label":"Posts"}],"taxonomies":[]}`), http.StatusOK, "update_structure")
			want(t, r.do("POST", "/v1/integrations/"+id+"/sync", editor, `{"direction":"from_external"}`), http.StatusAccepted, "start a sync")
			var after reply
			for deadline := time.Now().Add(30 * time.Second); ; {
				after = r.do("GET", "/v1/integrations/"+id, editor, "")
				if s := after.body["sync_status"]; s == "error" || s == "completed" {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the sync did not end: %s", after.raw)
				}
				time.Sleep(20 * time.Millisecond) // waits for the worker, not a backoff
			}
			if got := after.header.Get("ETag"); got != etag {
				t.Fatalf("ETag %s after background writes, want %s unchanged", got, etag)
			}

			patched := r.do("PATCH", "/v1/integrations/"+id, editor, `{"config":{"language":"en"}}`, "If-Match", etag)
			want(t, patched, http.StatusOK, "PATCH with the ETag read before the background writes")
			if patched.header.Get("ETag") == etag {
				t.Fatalf("a user edit kept the ETag %s", etag)
			}
			cfg, _ := patched.body["config"].(map[string]any)
			if patched.body["connection_status"] == "unknown" || patched.body["sync_status"] != after.body["sync_status"] || cfg["language"] != "en" {
				t.Fatalf("a background write was lost to the edit: %s", patched.raw)
			}
			if ct := r.do("GET", "/v1/integrations/"+id+"/content_types", editor, ""); ct.body["source"] != "plugin" {
				t.Fatalf("the pushed structure was lost to the edit: %s", ct.raw)
			}
			want(t, r.do("PATCH", "/v1/integrations/"+id, editor, `{"is_active":false}`, "If-Match", etag), http.StatusPreconditionFailed, "PATCH with the ETag from before a user edit")
		})
	}
}
