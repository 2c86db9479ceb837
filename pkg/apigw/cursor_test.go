package apigw_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/joinery/joinery/pkg/apigw"
	"github.com/joinery/joinery/pkg/embedded"
	"github.com/joinery/joinery/pkg/integration"
	"github.com/joinery/joinery/pkg/syncer"
)

// listReq is a request of route by a caller of account with claims.
func listReq(account, sites string, path, query map[string]string) events.APIGatewayV2HTTPRequest {
	claims := map[string]string{"sub": "u", "account_id": account, "role": "owner"}
	if sites != "-" {
		claims["sites"] = sites
	}
	return events.APIGatewayV2HTTPRequest{PathParameters: path, QueryStringParameters: query,
		RequestContext: events.APIGatewayV2HTTPRequestContext{Authorizer: &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
			JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: claims}}}}
}

func createIn(t *testing.T, api *apigw.API, account, site string) string {
	t.Helper()
	it, err := api.Service.Create(context.Background(), integration.Actor{AccountID: account, Role: integration.RoleOwner},
		integration.CreateInput{SiteID: site, Platform: "wordpress", ExternalSiteURL: "https://" + site + ".example.com"})
	if err != nil {
		t.Fatal(err)
	}
	return it.ID
}

func wantCursorRefused(t *testing.T, status int, body map[string]any, what string) {
	t.Helper()
	e := errorOf(body)
	fields, _ := e["fields"].(map[string]any)
	if status != 400 || e["code"] != "invalid" || fields["cursor"] == nil {
		t.Fatalf("%s: %d %v, want 400 naming cursor", what, status, body)
	}
}

// rotatingKeys is a key store whose key an operator rotates on the
// test's clock.
type rotatingKeys struct {
	mu  sync.Mutex
	set integration.CursorKeySet
	n   int
}

func (k *rotatingKeys) CursorKeys(context.Context) (integration.CursorKeySet, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.set, nil
}

func (k *rotatingKeys) rotate(at time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.n++
	k.set = integration.CursorKeySet{Current: []byte(fmt.Sprintf("%-40d", k.n)), Previous: k.set.Current, RotatedAt: at}
}

// A cursor is the API's: altered, made up, or taken to another listing
// (another account, filter, integration or route) it is refused with a
// 400 naming cursor, and never reaches the store.
func TestCursorsAreSignedAndBoundToTheirListing(t *testing.T) {
	api := newAPI(t)
	api.Service.NewID = integration.NewID
	for i := range 3 {
		createIn(t, api, "acct-a", fmt.Sprint("site-", i+1))
	}
	createIn(t, api, "acct-b", "site-1")
	list := api.ListIntegrations()

	status, body, resp := call(t, list, listReq("acct-a", "-", nil, map[string]string{"limit": "1"}))
	cur, _ := body["next_cursor"].(string)
	if status != 200 || cur == "" {
		t.Fatalf("first page: %d %s", status, resp.Body)
	}
	// The same listing goes on, whatever the page size.
	status, body, resp = call(t, list, listReq("acct-a", "-", nil, map[string]string{"limit": "2", "cursor": cur}))
	if items, _ := body["items"].([]any); status != 200 || len(items) != 2 {
		t.Fatalf("next page: %d %s", status, resp.Body)
	}

	raw, _ := base64.RawURLEncoding.DecodeString(cur)
	flipped := append([]byte{}, raw...)
	flipped[3] ^= 1
	storeCursor := base64.RawURLEncoding.EncodeToString(raw[1 : len(raw)-16])
	for name, c := range map[string]string{
		"altered":              base64.RawURLEncoding.EncodeToString(flipped),
		"the store's own":      storeCursor,
		"garbage":              "not-a-cursor",
		"not base64":           "%%%",
		"too short":            "AQ",
		"cut short":            cur[:len(cur)-2],
		"another version":      base64.RawURLEncoding.EncodeToString(append([]byte{9}, raw[1:]...)),
		"far too long":         cur + string(make([]byte, 5000)),
		"an ordinary ULID-ish": "01JDEMO0000000000000000000",
	} {
		status, body, _ := call(t, list, listReq("acct-a", "-", nil, map[string]string{"limit": "1", "cursor": c}))
		wantCursorRefused(t, status, body, name)
	}
	status, body, _ = call(t, list, listReq("acct-b", "-", nil, map[string]string{"limit": "1", "cursor": cur}))
	wantCursorRefused(t, status, body, "another account")
	status, body, _ = call(t, list, listReq("acct-a", "-", nil, map[string]string{"limit": "1", "cursor": cur, "site_id": "site-1"}))
	wantCursorRefused(t, status, body, "another filter")
	status, body, _ = call(t, list, listReq("acct-a", "-", nil, map[string]string{"limit": "1", "cursor": cur, "platform": "wordpress"}))
	wantCursorRefused(t, status, body, "a filter added")
	status, body, _ = call(t, api.ListSiteKeys(), listReq("acct-a", "-", map[string]string{"site_id": "site-1"}, map[string]string{"cursor": cur}))
	wantCursorRefused(t, status, body, "another route")

	// A filtered listing's cursor needs its filter.
	status, body, _ = call(t, list, listReq("acct-a", "-", nil, map[string]string{"limit": "1", "platform": "wordpress"}))
	platCur, _ := body["next_cursor"].(string)
	if status != 200 || platCur == "" {
		t.Fatalf("platform page: %d %v", status, body)
	}
	status, body, _ = call(t, list, listReq("acct-a", "-", nil, map[string]string{"limit": "1", "cursor": platCur}))
	wantCursorRefused(t, status, body, "the filter dropped")
	status, body, _ = call(t, list, listReq("acct-a", "-", nil, map[string]string{"limit": "1", "cursor": platCur, "platform": "shopify"}))
	wantCursorRefused(t, status, body, "another filter value")
	if status, _, resp := call(t, list, listReq("acct-a", "-", nil, map[string]string{"limit": "1", "cursor": platCur, "platform": "wordpress"})); status != 200 {
		t.Fatalf("the same filter: %d %s", status, resp.Body)
	}
}

// A key rotation leaves listings under way working for a day: a cursor
// signed with the previous key is accepted until 24 hours after the
// rotation, and not after.
func TestCursorsOfThePreviousKeyWorkForADay(t *testing.T) {
	api := newAPI(t)
	api.Service.NewID = integration.NewID
	for i := range 3 {
		createIn(t, api, "acct-a", fmt.Sprint("site-", i+1))
	}
	keys := &rotatingKeys{}
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	var clock sync.Mutex
	keys.rotate(now.Add(-48 * time.Hour))
	api.Cursors = &apigw.Cursors{Keys: keys, Now: func() time.Time { clock.Lock(); defer clock.Unlock(); return now }}
	advance := func(d time.Duration) { clock.Lock(); now = now.Add(d); clock.Unlock() }
	list := api.ListIntegrations()
	first := func() string {
		t.Helper()
		_, body, resp := call(t, list, listReq("acct-a", "-", nil, map[string]string{"limit": "1"}))
		c, _ := body["next_cursor"].(string)
		if c == "" {
			t.Fatalf("no cursor: %s", resp.Body)
		}
		return c
	}
	use := func(c string) (int, map[string]any) {
		status, body, _ := call(t, list, listReq("acct-a", "-", nil, map[string]string{"limit": "1", "cursor": c}))
		return status, body
	}
	old := first()
	advance(time.Minute)
	keys.rotate(now)
	// Read again within minutes: the new key signs, the old still opens.
	advance(6 * time.Minute)
	if fresh := first(); fresh == old {
		t.Fatal("the rotated key does not sign")
	}
	if status, body := use(old); status != 200 {
		t.Fatalf("a cursor of the previous key just after the rotation: %d %v", status, body)
	}
	advance(23*time.Hour + 50*time.Minute)
	if status, body := use(old); status != 200 {
		t.Fatalf("a cursor of the previous key 23h56m after the rotation: %d %v", status, body)
	}
	advance(5 * time.Minute)
	status, body := use(old)
	wantCursorRefused(t, status, body, "a cursor of the previous key a day after the rotation")
}

// A cursor signed with a key newer than the one an instance keeps (another
// instance read the rotation first) makes it read the keys again.
func TestACursorOfANewerKeyIsRecognised(t *testing.T) {
	api := newAPI(t)
	api.Service.NewID = integration.NewID
	for i := range 3 {
		createIn(t, api, "acct-a", fmt.Sprint("site-", i+1))
	}
	keys := &rotatingKeys{}
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	keys.rotate(now.Add(-48 * time.Hour))
	clock := func() time.Time { return now }
	stale := *api
	stale.Cursors = &apigw.Cursors{Keys: keys, Now: clock}
	if status, _, resp := call(t, stale.ListIntegrations(), listReq("acct-a", "-", nil, map[string]string{"limit": "1"})); status != 200 {
		t.Fatalf("%d %s", status, resp.Body)
	}
	keys.rotate(now)
	fresh := *api
	fresh.Cursors = &apigw.Cursors{Keys: keys, Now: clock}
	_, body, _ := call(t, fresh.ListIntegrations(), listReq("acct-a", "-", nil, map[string]string{"limit": "1"}))
	c, _ := body["next_cursor"].(string)
	now = now.Add(10 * time.Second)
	if status, body, _ := call(t, stale.ListIntegrations(), listReq("acct-a", "-", nil, map[string]string{"limit": "1", "cursor": c})); status != 200 {
		t.Fatalf("a cursor of the newer key: %d %v", status, body)
	}
}

// No empty page carries a next_cursor: items the caller may not see (other
// sites of a site-limited token) are read past.
func TestNoEmptyPageHasANextCursor(t *testing.T) {
	api := newAPI(t)
	api.Service.NewID = integration.NewID
	for i := range 4 {
		createIn(t, api, "acct-a", fmt.Sprint("hidden-", i))
	}
	seen := createIn(t, api, "acct-a", "site-a")
	createIn(t, api, "acct-a", "hidden-last")
	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		q := map[string]string{"limit": "1"}
		if cursor != "" {
			q["cursor"] = cursor
		}
		status, body, resp := call(t, api.ListIntegrations(), listReq("acct-a", "site-a,site-b", nil, q))
		items, _ := body["items"].([]any)
		cursor, _ = body["next_cursor"].(string)
		if status != 200 || (len(items) == 0 && cursor != "") || pages > 10 {
			t.Fatalf("page %d: %d %s", pages, status, resp.Body)
		}
		for _, it := range items {
			got = append(got, it.(map[string]any)["id"].(string))
		}
		if cursor == "" {
			break
		}
	}
	if len(got) != 1 || got[0] != seen {
		t.Fatalf("listed %v, want [%s]", got, seen)
	}
}

// An empty sites claim allows no site: the listing is empty, and an
// integration of the account is not found.
func TestAnEmptySitesClaimMeansNoSites(t *testing.T) {
	api := newAPI(t)
	id := createIn(t, api, "acct-a", "site-1")
	status, body, resp := call(t, api.ListIntegrations(), listReq("acct-a", "", nil, nil))
	if items, _ := body["items"].([]any); status != 200 || len(items) != 0 || body["next_cursor"] != nil {
		t.Fatalf("list: %d %s", status, resp.Body)
	}
	if status, _, resp := call(t, api.GetIntegration(), listReq("acct-a", "", map[string]string{"id": id}, nil)); status != 404 {
		t.Fatalf("get: %d %s", status, resp.Body)
	}
}

// Every listing refuses a cursor it did not issue, even one its store
// would have read (a run id, a key past every item), which used to end the
// listing early with an empty last page.
func TestEveryListingRefusesACursorItDidNotIssue(t *testing.T) {
	api := newAPI(t)
	id := createIn(t, api, "acct-a", "site-1")
	s := &apigw.SyncAPI{API: api, Engine: &syncer.Engine{Integrations: api.Service, Store: api.Service.Store.(*embedded.Store)}}
	storeLike := base64.RawURLEncoding.EncodeToString([]byte("~"))
	for name, c := range map[string]struct {
		h     apigw.Handler
		path  map[string]string
		query map[string]string
	}{
		"integrations": {api.ListIntegrations(), nil, nil},
		"site keys":    {api.ListSiteKeys(), map[string]string{"site_id": "site-1"}, nil},
		"runs":         {s.Runs(), map[string]string{"id": id}, nil},
		"events":       {s.Events(), map[string]string{"id": id}, map[string]string{"status": "error"}},
		"records":      {s.Records(), map[string]string{"id": id}, map[string]string{"model": "post"}},
	} {
		for _, cursor := range []string{storeLike, "garbage"} {
			q := map[string]string{"cursor": cursor}
			for k, v := range c.query {
				q[k] = v
			}
			status, body, _ := call(t, c.h, listReq("acct-a", "-", c.path, q))
			wantCursorRefused(t, status, body, name+" with "+cursor)
		}
	}
}
