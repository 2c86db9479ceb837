package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/integration"
)

// stubConnector stands in for a platform in the engine: every listing of
// its one model is the same n items, ids prefixed, on one page.
type stubConnector struct {
	model, prefix string
	n             int
	modified      time.Time
}

func (c *stubConnector) TestConnection(context.Context, connector.Connection) (connector.TestResult, error) {
	return connector.TestResult{OK: true, Status: integration.ConnectionConnected}, nil
}

func (c *stubConnector) Structure(context.Context, connector.Connection) (connector.Structure, error) {
	return connector.Structure{ContentTypes: []connector.ContentType{{Name: c.model, Label: c.model}}}, nil
}

func (c *stubConnector) Models() []string { return []string{c.model} }

func (c *stubConnector) List(_ context.Context, _ connector.Connection, req connector.ListRequest) (connector.ListPage, error) {
	page := connector.ListPage{Total: c.n, TotalPages: 1, MaxModified: c.modified, ServerTime: time.Now()}
	for i := range c.n {
		id := fmt.Sprintf("%s-%d", c.prefix, i+1)
		page.Records = append(page.Records, integration.Record{ExternalID: id, Model: req.Model, Title: "Item " + id, Status: "publish",
			CreatedAt: c.modified, ModifiedAt: c.modified})
	}
	return page, nil
}

func (c *stubConnector) Create(context.Context, connector.Connection, integration.Record) (integration.Record, error) {
	return integration.Record{}, &connector.Error{Kind: connector.ErrInvalid, Message: "read only"}
}

func (c *stubConnector) Update(context.Context, connector.Connection, integration.Record) (integration.Record, error) {
	return integration.Record{}, &connector.Error{Kind: connector.ErrInvalid, Message: "read only"}
}

func (c *stubConnector) Delete(context.Context, connector.Connection, string, string, bool) error {
	return &connector.Error{Kind: connector.ErrInvalid, Message: "read only"}
}

// siteFeed pages through a site feed, limit items a page, and returns
// the items and how many pages it took.
func siteFeed(t *testing.T, r *runner, token, site, query string) ([]map[string]any, int) {
	t.Helper()
	var items []map[string]any
	cursor := ""
	for pages := 1; ; pages++ {
		path := "/v1/sites/" + site + "/records?" + query
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		got := r.do("GET", path, token, "")
		want(t, got, http.StatusOK, "site feed "+path)
		for _, it := range got.body["items"].([]any) {
			items = append(items, it.(map[string]any))
		}
		next, _ := got.body["next_cursor"].(string)
		if next == "" || pages > 20 {
			return items, pages
		}
		cursor = next
	}
}

// Two integrations of one site, on two platforms, sync posts; the site's
// feed lists both in one change order, each item with its integration and
// platform, in pages whose cursors serve that site and model only, to
// tokens that may see the site.
func TestSiteFeed(t *testing.T) {
	for _, backend := range []string{"embedded", "aws"} {
		t.Run(backend, func(t *testing.T) {
			modified := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
			r, _ := startRunnerOpts(t, backend, runnerOptions{setup: func(a *app) {
				// A stand-in for each platform, so the test needs no site.
				a.engine.Connectors["wordpress"] = &stubConnector{model: "post", prefix: "wp", n: 3, modified: modified}
				a.engine.Connectors["trello"] = &stubConnector{model: "post", prefix: "tr", n: 2, modified: modified}
			}})
			acct := "acct-sitefeed-" + backend
			editor, viewer := r.token(acct, "editor", ""), r.token(acct, "viewer", "")
			create := func(site, body string) string {
				t.Helper()
				got := r.do("POST", "/v1/integrations", editor, `{"site_id":"`+site+`",`+body+`}`)
				want(t, got, http.StatusCreated, "create on "+site)
				return got.body["id"].(string)
			}
			wp := create("site-1", `"platform":"wordpress","external_site_url":"https://blog.example.com","credentials":{"username":"admin","app_password":"`+secretPassword+`"}`)
			tr := create("site-1", `"platform":"trello","credentials":{"api_key":"k","token":"t"}`)
			other := create("site-2", `"platform":"wordpress","external_site_url":"https://other.example.com","credentials":{"username":"admin","app_password":"`+secretPassword+`"}`)
			for _, id := range []string{wp, tr, other} {
				finishRun(t, r, editor, id, startRun(t, r, editor, id, `{"direction":"from_external"}`))
			}

			items, _ := siteFeed(t, r, viewer, "site-1", "model=post")
			platformOf := map[string]string{wp: "wordpress", tr: "trello"}
			var got []string
			last := ""
			for _, it := range items {
				id, _ := it["integration_id"].(string)
				if it["platform"] != platformOf[id] || it["type"] != "post" || it["deleted"] != false {
					t.Fatalf("an item of the site feed: %v", it)
				}
				if at := it["changed_at"].(string); at < last {
					t.Fatalf("the site feed is not in change order: %s after %s", at, last)
				} else {
					last = at
				}
				got = append(got, it["platform"].(string)+":"+it["external_id"].(string))
			}
			sort.Strings(got)
			if strings.Join(got, " ") != "trello:tr-1 trello:tr-2 wordpress:wp-1 wordpress:wp-2 wordpress:wp-3" {
				t.Fatalf("the site feed of site-1 lists %v", got)
			}

			// Pages of two: the same items, in the same order.
			paged, pages := siteFeed(t, r, viewer, "site-1", "model=post&limit=2")
			if pages != 3 || len(paged) != len(items) {
				t.Fatalf("pages of two: %d items in %d pages, want %d in 3", len(paged), pages, len(items))
			}
			for i := range paged {
				if paged[i]["integration_id"] != items[i]["integration_id"] || paged[i]["external_id"] != items[i]["external_id"] {
					t.Fatalf("item %d paged: %v, unpaged %v", i, paged[i], items[i])
				}
			}

			// A cursor serves the site and model it was issued for only.
			first := r.do("GET", "/v1/sites/site-1/records?model=post&limit=2", viewer, "")
			want(t, first, http.StatusOK, "first page")
			cursor := url.QueryEscape(first.body["next_cursor"].(string))
			fieldError(t, r.do("GET", "/v1/sites/site-2/records?model=post&limit=2&cursor="+cursor, viewer, ""), "cursor")
			fieldError(t, r.do("GET", "/v1/sites/site-1/records?model=page&limit=2&cursor="+cursor, viewer, ""), "cursor")
			want(t, r.do("GET", "/v1/sites/site-1/records?model=post&limit=2&cursor="+cursor, r.token("acct-else", "viewer", ""), ""),
				http.StatusBadRequest, "another account's use of the cursor")
			fieldError(t, r.do("GET", "/v1/sites/site-1/records", viewer, ""), "model")

			// A token limited to site-2 sees site-2's feed, not site-1's.
			limited := r.token(acct, "viewer", "site-2")
			want(t, r.do("GET", "/v1/sites/site-1/records?model=post", limited, ""), http.StatusNotFound, "a site the token may not see")
			if items, _ := siteFeed(t, r, limited, "site-2", "model=post"); len(items) != 3 || items[0]["integration_id"] != other {
				t.Fatalf("site-2 for its token: %v", items)
			}
			// Another account's site of the same name is its own: empty.
			if items, _ := siteFeed(t, r, r.token("acct-else", "viewer", ""), "site-1", "model=post"); len(items) != 0 {
				t.Fatalf("another account sees site-1's records: %v", items)
			}
			want(t, r.do("GET", "/v1/sites/site-1/records?model=post", "", ""), http.StatusUnauthorized, "no token")

			// A deleted integration's records leave the site feed at once,
			// while its data is purged.
			want(t, r.do("DELETE", "/v1/integrations/"+tr, editor, ""), http.StatusNoContent, "delete")
			if items, _ := siteFeed(t, r, viewer, "site-1", "model=post"); len(items) != 3 || items[0]["integration_id"] != wp {
				t.Fatalf("the site feed after a delete: %v", items)
			}
		})
	}
}

// The site feed waits for the safety window as the integration's feed
// does: records written just now are not listed yet.
func TestSiteFeedWaitsForTheSafetyWindow(t *testing.T) {
	modified := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	r, _ := startRunnerOpts(t, "embedded", runnerOptions{feedSafety: "300", setup: func(a *app) {
		a.engine.Connectors["wordpress"] = &stubConnector{model: "post", prefix: "wp", n: 2, modified: modified}
	}})
	editor := r.token("acct-sitefeed-w", "editor", "")
	created := r.do("POST", "/v1/integrations", editor, `{"site_id":"site-1","platform":"wordpress","external_site_url":"https://blog.example.com","credentials":{"username":"admin","app_password":"`+secretPassword+`"}}`)
	want(t, created, http.StatusCreated, "create")
	id := created.body["id"].(string)
	finishRun(t, r, editor, id, startRun(t, r, editor, id, `{"direction":"from_external"}`))
	if items, _ := siteFeed(t, r, editor, "site-1", "model=post"); len(items) != 0 {
		t.Fatalf("the site feed lists records changed less than W ago: %v", items)
	}
}
