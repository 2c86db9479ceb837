package wordpress

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/integration"
)

// The answers of WordPress 6 (checked against a real one), by who asks.
const (
	// A request whose credentials WordPress did not take: it is no one.
	wpNotLoggedIn    = `{"code":"rest_not_logged_in","message":"You are not currently logged in.","data":{"status":401}}`
	wpStatusNoOne    = `{"code":"rest_invalid_param","message":"Invalid parameter(s): status","data":{"status":400,"params":{"status":"Status is forbidden."},"details":{"status":{"code":"rest_forbidden_status","message":"Status is forbidden.","data":{"status":401}}}}}`
	wpTermsNoOne     = `{"code":"rest_forbidden_context","message":"Sorry, you are not allowed to edit terms in this taxonomy.","data":{"status":401}}`
	wpTypesNoOne     = `{"code":"rest_cannot_view","message":"Sorry, you are not allowed to edit posts in this post type.","data":{"status":401}}`
	wpIncorrect      = `{"code":"incorrect_password","message":"The provided password is an invalid application password.","data":{"status":401}}`
	wpStatusAuthor   = `{"code":"rest_invalid_param","message":"Invalid parameter(s): status","data":{"status":400,"params":{"status":"Status is forbidden."},"details":{"status":{"code":"rest_forbidden_status","message":"Status is forbidden.","data":{"status":403}}}}}`
	wpTermsAuthor    = `{"code":"rest_forbidden_context","message":"Sorry, you are not allowed to edit terms in this taxonomy.","data":{"status":403}}`
	wpTypesForbidden = `{"code":"rest_cannot_view","message":"Sorry, you are not allowed to edit posts in this post type.","data":{"status":403}}`
	wpAuthorMe       = `{"id":2,"name":"Ada Author","slug":"author","roles":["author"],"capabilities":{"read":true,"level_2":true,"upload_files":true,"edit_posts":true,"edit_published_posts":true,"publish_posts":true,"delete_posts":true,"author":true}}`
	wpAdminMe        = `{"id":1,"name":"admin","slug":"admin","roles":["administrator"],"capabilities":{"edit_posts":true,"edit_pages":true,"upload_files":true,"manage_categories":true,"publish_posts":true,"edit_others_posts":true}}`
)

// accessWP answers each route with a fixed status and body, and counts
// the requests to each.
type accessWP struct {
	mu      sync.Mutex
	answers map[string]answer // route (after /wp-json) → answer
	calls   map[string]int
}

type answer struct {
	status int
	body   string
}

func (f *accessWP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	route := strings.TrimPrefix(r.URL.Path, "/wp-json")
	f.mu.Lock()
	f.calls[route]++
	a, ok := f.answers[route]
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	if !ok {
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"code":"rest_no_route","message":"No route was found matching the URL and request method.","data":{"status":404}}`)
		return
	}
	w.WriteHeader(a.status)
	fmt.Fprint(w, a.body)
}

func (f *accessWP) count(route string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[route]
}

func startAccessWP(t *testing.T, answers map[string]answer) (*accessWP, connector.Connection) {
	t.Helper()
	f := &accessWP{answers: answers, calls: map[string]int{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, connector.Connection{SiteURL: srv.URL, Credentials: map[string]string{"username": "author", "app_password": "abcd efgh"}, HTTP: srv.Client()}
}

func kindOf(t *testing.T, err error) *connector.Error {
	t.Helper()
	var ce *connector.Error
	if !errors.As(err, &ce) {
		t.Fatalf("want a connector error, got %v", err)
	}
	return ce
}

// A revoked Application Password, whatever the first call: WordPress
// answers as to no one, and users/me, read once, says 401.
func TestRevokedCredentialsOnEveryPath(t *testing.T) {
	ctx := context.Background()
	noOne := map[string]answer{
		"/wp/v2/users/me":   {401, wpNotLoggedIn},
		"/wp/v2/posts":      {400, wpStatusNoOne},
		"/wp/v2/pages":      {400, wpStatusNoOne},
		"/wp/v2/media":      {400, wpStatusNoOne},
		"/wp/v2/categories": {401, wpTermsNoOne},
		"/wp/v2/tags":       {401, wpTermsNoOne},
		"/wp/v2/types":      {401, wpTypesNoOne},
		"/wp/v2/taxonomies": {401, wpTypesNoOne},
		"/wp/v2/posts/7":    {401, `{"code":"rest_cannot_edit","message":"Sorry, you are not allowed to edit this post.","data":{"status":401}}`},
	}
	// Where WordPress looked at the credentials before routing, every
	// route answers incorrect_password.
	incorrect := map[string]answer{}
	for r := range noOne {
		incorrect[r] = answer{401, wpIncorrect}
	}
	for name, answers := range map[string]map[string]answer{"signed in as no one": noOne, "incorrect_password": incorrect} {
		calls := map[string]func(c *Connector, conn connector.Connection) error{}
		for _, m := range models {
			calls["list "+m] = func(c *Connector, conn connector.Connection) error {
				_, err := c.List(ctx, conn, connector.ListRequest{Model: m, Page: c.WindowToken(0), PageSize: 10})
				return err
			}
		}
		calls["structure"] = func(c *Connector, conn connector.Connection) error { _, err := c.Structure(ctx, conn); return err }
		calls["find by slug"] = func(c *Connector, conn connector.Connection) error {
			_, _, err := c.FindBySlug(ctx, conn, "post", "joinery-x")
			return err
		}
		calls["update"] = func(c *Connector, conn connector.Connection) error {
			_, err := c.Update(ctx, conn, integration.Record{Model: "post", ExternalID: "7", Title: "T"})
			return err
		}
		for what, call := range calls {
			t.Run(name+"/"+what, func(t *testing.T) {
				f, conn := startAccessWP(t, answers)
				ce := kindOf(t, call(New(), conn))
				if ce.Kind != connector.ErrAuth || !strings.Contains(ce.Message, "Application Password") {
					t.Fatalf("got kind %v %q, want ErrAuth", ce.Kind, ce.Message)
				}
				if n := f.count(meRoute); n != 1 {
					t.Fatalf("users/me read %d times, want once", n)
				}
			})
		}
	}
}

// An Author: what it may not read is ErrForbidden, never ErrAuth; a 403
// needs no check of the user.
func TestMissingCapabilityIsForbidden(t *testing.T) {
	ctx := context.Background()
	f, conn := startAccessWP(t, map[string]answer{
		"/wp/v2/users/me":   {200, wpAuthorMe},
		"/wp/v2/pages":      {400, wpStatusAuthor},
		"/wp/v2/categories": {403, wpTermsAuthor},
		"/wp/v2/tags":       {401, wpTermsNoOne}, // a 401 for a user WordPress knows: still a permission
		"/wp/v2/types":      {403, wpTypesForbidden},
	})
	c := New()
	tests := []struct {
		model  string
		probes int
		msg    string
	}{
		{"page", 1, "Ada Author (author) lacks the capability for this; WordPress says: Status is forbidden."},
		{"category", 0, "This WordPress user lacks the capability for this; WordPress says: Sorry, you are not allowed to edit terms in this taxonomy."},
		{"tag", 1, "Ada Author (author) lacks the capability for this; WordPress says: Sorry, you are not allowed to edit terms"},
	}
	for _, tt := range tests {
		before := f.count(meRoute)
		_, err := c.List(ctx, conn, connector.ListRequest{Model: tt.model, Page: c.WindowToken(0), PageSize: 10})
		ce := kindOf(t, err)
		if ce.Kind != connector.ErrForbidden || !strings.Contains(ce.Message, tt.msg) {
			t.Errorf("%s: kind %v %q, want ErrForbidden with %q", tt.model, ce.Kind, ce.Message, tt.msg)
		}
		if n := f.count(meRoute) - before; n != tt.probes {
			t.Errorf("%s: users/me read %d times, want %d", tt.model, n, tt.probes)
		}
	}
	before := f.count(meRoute)
	if _, err := c.Structure(ctx, conn); kindOf(t, err).Kind != connector.ErrForbidden || f.count(meRoute) != before {
		t.Fatalf("structure with a 403: %v (users/me read %d times)", err, f.count(meRoute)-before)
	}
}

// A check that cannot be made is retried as the site being unavailable,
// and one that says nothing leaves the answer as it was.
func TestAccessCheckFailures(t *testing.T) {
	ctx := context.Background()
	_, conn := startAccessWP(t, map[string]answer{"/wp/v2/users/me": {503, `<html>busy</html>`}, "/wp/v2/posts": {400, wpStatusNoOne}})
	if _, err := New().List(ctx, conn, connector.ListRequest{Model: "post"}); kindOf(t, err).Kind != connector.ErrUnavailable {
		t.Fatalf("users/me answering 503: %v", err)
	}
	// users/me not found (a security plugin hides users): the 401 keeps
	// its meaning.
	_, conn = startAccessWP(t, map[string]answer{"/wp/v2/categories": {401, wpIncorrect}})
	if _, err := New().List(ctx, conn, connector.ListRequest{Model: "category"}); kindOf(t, err).Kind != connector.ErrAuth {
		t.Fatalf("401 with users/me hidden: %v", err)
	}
	// Other 400s are not checked.
	f, conn := startAccessWP(t, map[string]answer{"/wp/v2/users/me": {200, wpAdminMe},
		"/wp/v2/posts": {400, `{"code":"rest_invalid_param","message":"Invalid parameter(s): per_page","data":{"status":400,"params":{"per_page":"per_page must be between 1 (inclusive) and 100 (inclusive)"}}}`}})
	if _, err := New().List(ctx, conn, connector.ListRequest{Model: "post"}); kindOf(t, err).Kind != connector.ErrInvalid || f.count(meRoute) != 0 {
		t.Fatalf("a 400 on per_page: %v, users/me read %d times", err, f.count(meRoute))
	}
}

// The connection test says, per model, what the user can read and write.
func TestConnectionTestModels(t *testing.T) {
	tests := []struct {
		me        string
		want      map[string]any
		unreadble string
	}{
		{wpAuthorMe, map[string]any{
			"post":     map[string]any{"read": true, "write": true},
			"page":     map[string]any{"read": false, "write": false},
			"media":    map[string]any{"read": true, "write": true},
			"category": map[string]any{"read": false, "write": false},
			"tag":      map[string]any{"read": false, "write": true},
		}, "cannot read category, tag, page: a sync skips them"},
		{wpAdminMe, map[string]any{
			"post":     map[string]any{"read": true, "write": true},
			"page":     map[string]any{"read": true, "write": true},
			"media":    map[string]any{"read": true, "write": true},
			"category": map[string]any{"read": true, "write": true},
			"tag":      map[string]any{"read": true, "write": true},
		}, ""},
	}
	for _, tt := range tests {
		_, conn := startAccessWP(t, map[string]answer{"/wp/v2/users/me": {200, tt.me}})
		res, err := New().TestConnection(context.Background(), conn)
		if err != nil || !res.OK {
			t.Fatalf("test: %v %+v", err, res)
		}
		if got := res.Details["models"]; !reflect.DeepEqual(got, tt.want) {
			t.Errorf("models: got %v, want %v", got, tt.want)
		}
		if (tt.unreadble == "") != !strings.Contains(res.Message, "cannot read") || !strings.Contains(res.Message, tt.unreadble) {
			t.Errorf("message %q, want it to say %q", res.Message, tt.unreadble)
		}
	}
	// A revoked password is still a result saying so, with one call.
	f, conn := startAccessWP(t, map[string]answer{"/wp/v2/users/me": {401, wpNotLoggedIn}})
	res, err := New().TestConnection(context.Background(), conn)
	if err != nil || res.OK || res.Status != integration.ConnectionReauthorizationNeeded || f.count(meRoute) != 1 {
		t.Fatalf("revoked: %v %+v, users/me read %d times", err, res, f.count(meRoute))
	}
}
