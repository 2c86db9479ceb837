package wordpress

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/joinery/joinery/pkg/connector"
)

func TestURLs(t *testing.T) {
	q := url.Values{"context": {"edit"}, "per_page": {"100"}}
	if got := prettyURL("http://x/blog", "/wp/v2/posts", q); got != "http://x/blog/wp-json/wp/v2/posts?context=edit&per_page=100" {
		t.Fatalf("pretty %s", got)
	}
	if got := restRouteURL("http://x/blog", "/wp/v2/posts", q); got != "http://x/blog/?context=edit&per_page=100&rest_route=%2Fwp%2Fv2%2Fposts" {
		t.Fatalf("rest_route %s", got)
	}
}

func TestStatusErrors(t *testing.T) {
	tests := []struct {
		status      int
		ctype, body string
		kind        connector.ErrorKind
		msg         string
	}{
		{401, "application/json", `{"code":"incorrect_password","message":"x"}`, connector.ErrAuth, "Application Password"},
		{401, "application/json", `{"code":"invalid_username"}`, connector.ErrAuth, "username"},
		{403, "application/json", `{"code":"rest_forbidden"}`, connector.ErrForbidden, "capabilities"},
		{404, "text/html", `<html>`, connector.ErrNotFound, "REST API was not found"},
		{404, "application/json", `{"code":"rest_post_invalid_id","message":"Invalid post ID."}`, connector.ErrNotFound, "Invalid post ID."},
		{429, "text/plain", ``, connector.ErrRateLimited, "rate limiting"},
		{503, "text/html", `<html>`, connector.ErrUnavailable, "HTTP 503"},
		{400, "application/json", `{"code":"rest_invalid_param","message":"Invalid parameter(s): status"}`, connector.ErrInvalid, "Invalid parameter"},
	}
	for _, tt := range tests {
		resp := &http.Response{StatusCode: tt.status, Header: http.Header{"Content-Type": {tt.ctype}}}
		err := statusError(resp, []byte(tt.body)).(*connector.Error)
		if err.Kind != tt.kind || !strings.Contains(err.Message, tt.msg) {
			t.Errorf("%d %s: kind %v message %q", tt.status, tt.body, err.Kind, err.Message)
		}
	}
}

func FuzzParseUser(f *testing.F) {
	f.Add([]byte(`{"id":1,"username":"admin","name":"admin","roles":["administrator"],"capabilities":{"publish_posts":true,"upload_files":true}}`))
	f.Add([]byte(`{"id":"1"}`))
	f.Add([]byte(`{"id":2,"roles":null,"capabilities":[]}`))
	f.Add([]byte(`<html>blocked</html>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		u, err := parseUser(b)
		if err == nil && u.ID == 0 {
			t.Fatal("a user without an id was accepted")
		}
	})
}

func FuzzParsePosts(f *testing.F) {
	f.Add([]byte(`[{"id":5,"date_gmt":"2026-01-02T03:04:05","modified_gmt":"2026-01-02T03:04:06","status":"trash","title":{"raw":"T","rendered":"T"},"content":"plain","categories":[1],"tags":[],"featured_media":0}]`))
	f.Add([]byte(`[{"id":0}]`))
	f.Add([]byte(`[{"id":1,"title":null,"modified_gmt":"not a date"}]`))
	f.Add([]byte(`{"code":"rest_forbidden"}`))
	f.Add([]byte(`[{"id":7,"title":{"raw":"ok"}},{"id":8,"title":42,"modified_gmt":"2026-01-02T03:04:06"}]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, failed, err := parsePosts(b, "post")
		if err != nil {
			return
		}
		for _, f := range failed {
			if f.ExternalID == "" || f.ExternalID == "0" || f.Message == "" {
				t.Fatalf("failure without an id or a reason: %+v", f)
			}
		}
		for _, r := range recs {
			if r.ExternalID == "" || r.ExternalID == "0" {
				t.Fatalf("record without an id: %+v", r)
			}
			if r.Deleted != (r.Status == "trash") {
				t.Fatalf("deleted %v for status %q", r.Deleted, r.Status)
			}
		}
	})
}
