package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/joinery/joinery/pkg/embedded"
	"github.com/joinery/joinery/pkg/integration"
	"github.com/joinery/joinery/pkg/smsecrets"
)

// Cursors through the runner, on the embedded backends (key file in the
// data dir) and on moto (the stack's secret): a tampered cursor, or one
// from another integration's listing, is 400 naming cursor; after a key
// rotation a cursor of the previous key works for 24 hours on the API's
// clock, and not after.
func TestCursorsThroughTheRunner(t *testing.T) {
	for _, backend := range []string{"embedded", "aws"} {
		t.Run(backend, func(t *testing.T) {
			secret := ""
			if backend == "aws" {
				secret = fmt.Sprint("joinery-e2e-cursor-", time.Now().UnixNano())
				t.Setenv("JOINERY_CURSOR_KEY_SECRET", secret)
			}
			start := time.Now()
			var offset atomic.Int64 // the API's clock, ahead of the real one
			r, a := startRunnerOpts(t, backend, runnerOptions{noWorker: true, setup: func(a *app) {
				a.cursors.Now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
			}})
			acct := "acct-cursor-" + backend
			editor, viewer := r.token(acct, "editor", ""), r.token(acct, "viewer", "")
			var ids []string
			for i := range 2 {
				created := r.do("POST", "/v1/integrations", editor, fmt.Sprintf(`{"site_id":"site-%d","platform":"wordpress","external_site_url":"https://s%d.example.com"}`, i, i))
				want(t, created, http.StatusCreated, "create")
				id := created.body["id"].(string)
				ids = append(ids, id)
				var evs []integration.SyncEvent
				for j := range 3 {
					evs = append(evs, integration.SyncEvent{ID: integration.NewID(), IntegrationID: id, Type: "sync", Status: "ok",
						Message: fmt.Sprint("event ", j), At: time.Now().UTC()})
				}
				if err := a.engine.Store.AddEvents(context.Background(), evs); err != nil {
					t.Fatal(err)
				}
			}
			events := func(id, cursor string) reply {
				q := url.Values{"limit": {"1"}}
				if cursor != "" {
					q.Set("cursor", cursor)
				}
				return r.do("GET", "/v1/integrations/"+id+"/events?"+q.Encode(), viewer, "")
			}
			first := events(ids[0], "")
			want(t, first, http.StatusOK, "events")
			cur, _ := first.body["next_cursor"].(string)
			if cur == "" {
				t.Fatalf("no next_cursor: %s", first.raw)
			}
			next := events(ids[0], cur)
			want(t, next, http.StatusOK, "the next page")
			if items, _ := next.body["items"].([]any); len(items) != 1 || items[0].(map[string]any)["id"] == first.body["items"].([]any)[0].(map[string]any)["id"] {
				t.Fatalf("the next page: %s", next.raw)
			}

			raw, _ := base64.RawURLEncoding.DecodeString(cur)
			raw[len(raw)/2] ^= 0x20
			fieldError(t, events(ids[0], base64.RawURLEncoding.EncodeToString(raw)), "cursor")
			fieldError(t, events(ids[0], "garbage"), "cursor")
			fieldError(t, events(ids[1], cur), "cursor")
			fieldError(t, r.do("GET", "/v1/integrations/"+ids[0]+"/events?status=ok&limit=1&cursor="+cur, viewer, ""), "cursor")
			fieldError(t, r.do("GET", "/v1/integrations/"+ids[0]+"/runs?cursor="+cur, viewer, ""), "cursor")
			fieldError(t, r.do("GET", "/v1/integrations/"+ids[0]+"/events?limit=1&cursor="+cur, r.token("acct-other", "owner", ""), ""), "cursor")

			// The key rotated as an operator would.
			ctx := context.Background()
			switch backend {
			case "embedded":
				if err := a.cursors.Keys.(*embedded.CursorKeyFile).Rotate(ctx); err != nil {
					t.Fatal(err)
				}
			case "aws":
				cfg, err := config.LoadDefaultConfig(ctx)
				if err != nil {
					t.Fatal(err)
				}
				key, err := smsecrets.NewCursorKey()
				if err == nil {
					_, err = secretsmanager.NewFromConfig(cfg).PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(secret), SecretString: aws.String(key)})
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			// Past the time keys are kept: the runner reads the new one.
			offset.Store(int64(6 * time.Minute))
			fresh := events(ids[0], "")
			if c, _ := fresh.body["next_cursor"].(string); c == "" || c == cur {
				t.Fatalf("the rotated key does not sign: %s", fresh.raw)
			}
			want(t, events(ids[0], cur), http.StatusOK, "a cursor of the previous key after the rotation")
			offset.Store(int64(integration.CursorKeyGrace - time.Minute - time.Since(start)))
			want(t, events(ids[0], cur), http.StatusOK, "a cursor of the previous key within 24 hours")
			offset.Store(int64(integration.CursorKeyGrace + time.Minute))
			fieldError(t, events(ids[0], cur), "cursor")
		})
	}
}

// An empty sites claim allows no site: the runner lists nothing and finds
// nothing for such a token.
func TestAnEmptySitesClaimSeesNoSites(t *testing.T) {
	r := startRunner(t, "embedded")
	created := r.do("POST", "/v1/integrations", r.token("acct-nosites", "editor", ""), `{"site_id":"site-1","platform":"wordpress","external_site_url":"https://s.example.com"}`)
	want(t, created, http.StatusCreated, "create")
	tok, err := r.auth.mint("tester", "acct-nosites", "owner", []string{}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	list := r.do("GET", "/v1/integrations", tok, "")
	if items, _ := list.body["items"].([]any); list.status != http.StatusOK || len(items) != 0 {
		t.Fatalf("list with no sites: %s", list.raw)
	}
	want(t, r.do("GET", "/v1/integrations/"+created.body["id"].(string), tok, ""), http.StatusNotFound, "get with no sites")
}
