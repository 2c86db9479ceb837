package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/integration"
	"github.com/joinery/joinery/pkg/webhook"
	"github.com/joinery/joinery/pkg/webhookin"
)

// hookClock is the receivers' clock, moved by the test.
type hookClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *hookClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *hookClock) Set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }
func (c *hookClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// sendCounter counts the webhook jobs the receivers queue, and fails the
// next fail sends.
type sendCounter struct {
	integration.Queue
	mu   sync.Mutex
	sent int
	fail int
}

func (q *sendCounter) Send(ctx context.Context, msgs []integration.Message) error {
	q.mu.Lock()
	if q.fail > 0 {
		q.fail--
		q.mu.Unlock()
		return errors.New("the queue is down (injected by the test)")
	}
	q.mu.Unlock()
	if err := q.Queue.Send(ctx, msgs); err != nil {
		return err
	}
	q.mu.Lock()
	q.sent += len(msgs)
	q.mu.Unlock()
	return nil
}

func (q *sendCounter) count() int { q.mu.Lock(); defer q.mu.Unlock(); return q.sent }

// The vectors' secrets (pkg/webhook/testdata) are the deployment's app
// credentials here, so the vectors themselves verify through the runner.
const (
	vecSlack   = "8f742231b10e8888abcd99yyyzzz85a5"
	vecShopify = "hush"
	vecTikTok  = "test-tiktok-secret"
	vecJira    = "jira-secret"
	vecTrello  = "secret"
	vecWP      = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
)

type hookRunner struct {
	*runner
	app   *app
	clock *hookClock
	sends *sendCounter
}

// startHooks starts the runner with the vectors' app credentials, the
// receivers on a clock of the test's and their sends counted.
func startHooks(t *testing.T, backend string, o runnerOptions) *hookRunner {
	t.Helper()
	apps := filepath.Join(t.TempDir(), "apps.json")
	doc := fmt.Sprintf(`{"shopify":{"client_id":"c","client_secret":%q},"slack":{"client_id":"c","client_secret":"s","signing_secret":%q},`+
		`"tiktok":{"client_id":"c","client_secret":%q},"jira":{"client_id":"c","client_secret":"jira-client","webhook_secret":%q}}`, vecShopify, vecSlack, vecTikTok, vecJira)
	if err := os.WriteFile(apps, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	h := &hookRunner{clock: &hookClock{t: time.Now()}}
	inner := o.settings
	o.settings = func(s *settings) {
		s.AppsFile = apps
		if inner != nil {
			inner(s)
		}
	}
	setup := o.setup
	o.setup = func(a *app) {
		if a.hooks == nil || a.hooks.receiver == nil {
			t.Fatal("the runner receives no webhooks")
		}
		h.sends = &sendCounter{Queue: a.hooks.receiver.Queue}
		a.hooks.receiver.Queue, a.hooks.receiver.Now = h.sends, h.clock.Now
		if setup != nil {
			setup(a)
		}
	}
	h.runner, h.app = startRunnerOpts(t, backend, o)
	return h
}

// hook posts (or HEADs) a delivery as a platform would.
func (r *hookRunner) hook(method, path string, header http.Header, body []byte) reply {
	r.t.Helper()
	req, err := http.NewRequest(method, r.url+path, strings.NewReader(string(body)))
	if err != nil {
		r.t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	checkAgainstOpenAPI(r.t, req, string(body), resp.StatusCode, resp.Header, b)
	out := reply{status: resp.StatusCode, header: resp.Header, raw: string(b)}
	if len(b) > 0 {
		_ = json.Unmarshal(b, &out.body)
	}
	return out
}

// putRoute stores a route, as a connector's registration would.
func (r *hookRunner) putRoute(rt integration.WebhookRoute) {
	r.t.Helper()
	if err := r.app.hooks.receiver.Store.PutWebhookRoute(context.Background(), rt); err != nil {
		r.t.Fatal(err)
	}
}

// setWebhookSecret keeps secret as the integration's webhook secret, in a
// new version of its credentials (as a registration stores it).
func (r *hookRunner) setWebhookSecret(acct, id, secret string) {
	r.t.Helper()
	ctx := context.Background()
	store := r.app.service.Store
	it, err := store.GetIntegration(ctx, acct, id)
	if err != nil {
		r.t.Fatal(err)
	}
	ref := integration.SecretRef{AccountID: it.AccountID, IntegrationID: it.ID, SiteID: it.SiteID, Platform: it.Platform}
	values := map[string]string{}
	if it.Credentials.HasCredentials() {
		if values, err = r.app.service.Secrets.GetSecret(ctx, it.Credentials.SecretName, it.Credentials.VersionID); err != nil {
			r.t.Fatal(err)
		}
	}
	values[webhookin.SecretField] = secret
	v, err := r.app.service.Secrets.PutSecret(ctx, ref, values)
	if err != nil {
		r.t.Fatal(err)
	}
	next := *it
	next.Credentials = integration.CredentialsRef{SecretName: v.Name, VersionID: v.VersionID, Fields: append(it.Credentials.Fields, webhookin.SecretField)}
	if err := store.UpdateIntegration(ctx, &next, it.Rev); err != nil {
		r.t.Fatal(err)
	}
}

// platformHooks says how each platform signs a delivery.
type platformHooks struct {
	platform string
	path     string // where the registration's deliveries go
	// build makes a delivery with id for account (routed platforms) at
	// ts, signed with secret.
	build     func(id, account string, ts time.Time, secret string) (http.Header, []byte)
	sigHeader string // the header that proves it
	stale     bool   // the signature carries a timestamp
	// account is the routed platform's known account ("": by hook id).
	account string
	// wrongPath is a path with a wrong hook id (hook-routed platforms).
	wrongPath string
	// numeric ids (Google's message numbers).
	numeric bool
}

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

const (
	jiraHook   = "8c1f0e4a9b7d4c2e8f6a5b3c1d0e9f7a"
	trelloHook = "1f2e3d4c5b6a79880f1e2d3c4b5a6978"
	trelloURL  = "https://example.com/webhooks"
	channelID  = "01JCHANNEL0000000000000000"
	channelTok = "the-channel-token"
)

func hookPlatforms(wpIntegration string) []platformHooks {
	return []platformHooks{
		{platform: "shopify", path: "/webhooks/shopify", account: "shop-1.myshopify.com", sigHeader: "X-Shopify-Hmac-Sha256",
			build: func(id, account string, _ time.Time, secret string) (http.Header, []byte) {
				body := []byte(`{"id":9554194432293,"title":"T-Shirt","status":"active"}`)
				return hdr("X-Shopify-Hmac-Sha256", webhook.SignShopify(secret, body), "X-Shopify-Topic", "products/update",
					"X-Shopify-Shop-Domain", account, "X-Shopify-Event-Id", id, "Content-Type", "application/json"), body
			}},
		{platform: "slack", path: "/webhooks/slack", account: "T0SLACK01", sigHeader: "X-Slack-Signature", stale: true,
			build: func(id, account string, ts time.Time, secret string) (http.Header, []byte) {
				body := []byte(fmt.Sprintf(`{"token":"x","team_id":%q,"api_app_id":"A1","event":{"type":"message","channel":"C1","ts":"1.2"},"type":"event_callback","event_id":%q,"event_time":%d}`, account, id, ts.Unix()))
				return hdr("X-Slack-Request-Timestamp", fmt.Sprint(ts.Unix()), "X-Slack-Signature", webhook.SignSlack(secret, ts, body), "Content-Type", "application/json"), body
			}},
		{platform: "tiktok", path: "/webhooks/tiktok", account: "open-id-1", sigHeader: "Tiktok-Signature", stale: true,
			build: func(id, account string, ts time.Time, secret string) (http.Header, []byte) {
				content, _ := json.Marshal(map[string]string{"message_id": id, "conversation_id": "conv-1"})
				body, _ := json.Marshal(map[string]any{"client_key": "k", "event": "im_receive_msg", "create_time": ts.Unix(), "user_openid": account, "content": string(content)})
				return hdr("Tiktok-Signature", webhook.SignTikTok(secret, ts, body), "Content-Type", "application/json"), body
			}},
		{platform: "google_calendar", path: "/webhooks/google_calendar", account: channelID, sigHeader: "X-Goog-Channel-Token", numeric: true,
			build: func(id, account string, _ time.Time, secret string) (http.Header, []byte) {
				return hdr("X-Goog-Channel-Id", account, "X-Goog-Channel-Token", secret, "X-Goog-Message-Number", id, "X-Goog-Resource-State", "exists"), nil
			}},
		{platform: "jira", path: "/webhooks/jira/" + jiraHook, wrongPath: "/webhooks/jira/" + strings.Repeat("0", 32), sigHeader: "X-Hub-Signature",
			build: func(id, _ string, _ time.Time, secret string) (http.Header, []byte) {
				body := []byte(`{"timestamp":1700000000000,"webhookEvent":"jira:issue_updated","issue":{"id":"10001","key":"PRJ-1"}}`)
				return hdr("X-Atlassian-Webhook-Identifier", id, "X-Hub-Signature", webhook.SignJiraHub(secret, body), "Content-Type", "application/json"), body
			}},
		{platform: "trello", path: "/webhooks/trello/" + trelloHook, wrongPath: "/webhooks/trello/" + strings.Repeat("0", 32), sigHeader: "X-Trello-Webhook",
			build: func(id, _ string, _ time.Time, secret string) (http.Header, []byte) {
				body := []byte(fmt.Sprintf(`{"action":{"id":%q,"type":"updateCard","data":{"card":{"id":"card-1"}}},"model":{"id":"board-1"}}`, id))
				return hdr("X-Trello-Webhook", webhook.SignTrello(secret, trelloURL, body), "Content-Type", "application/json"), body
			}},
		{platform: "wordpress", path: "/webhooks/wordpress/" + wpIntegration, wrongPath: "/webhooks/wordpress/01JNOSUCHINTEGRATION000000", sigHeader: "Webhook-Signature", stale: true,
			build: func(id, _ string, ts time.Time, secret string) (http.Header, []byte) {
				body := []byte(`{"action":"post_updated","post_id":1,"post_type":"post","site_url":"https://blog.example.com"}`)
				return hdr("Webhook-Id", id, "Webhook-Timestamp", fmt.Sprint(ts.Unix()), "Webhook-Signature", webhook.SignStandard(secret, id, ts, body), "Content-Type", "application/json"), body
			}},
	}
}

// secretOf is the key each platform's deliveries are signed with here.
func secretOf(platform string) string {
	return map[string]string{"shopify": vecShopify, "slack": vecSlack, "tiktok": vecTikTok, "google_calendar": channelTok,
		"jira": vecJira, "trello": vecTrello, "wordpress": vecWP}[platform]
}

// For every platform, through the runner: the published and computed
// vectors verify; a body changed by one byte, a wrong secret, a missing
// signature and (where signed) a stale timestamp are 401 with nothing
// queued; a wrong hook id or an unknown channel is 401; a redelivery is
// 200 and queued once; an enqueue that fails once is queued exactly once
// on the retry; an unknown account is 200 and dropped; Slack's
// url_verification and Trello's HEAD are answered.
func TestWebhookReceivers(t *testing.T) {
	r := startHooks(t, "embedded", runnerOptions{noWorker: true})
	editor := r.token("acct-hooks", "editor", "")
	ids := map[string]string{}
	for _, p := range []string{"wordpress", "trello"} {
		body := `{"site_id":"hooks-` + p + `","platform":"wordpress","external_site_url":"https://blog.example.com","credentials":{"username":"u","app_password":"abcd efgh ijkl mnop"}}`
		if p == "trello" {
			body = `{"site_id":"hooks-trello","platform":"trello","credentials":{"api_key":"k","token":"t"}}`
		}
		created := r.do("POST", "/v1/integrations", editor, body)
		want(t, created, http.StatusCreated, "create "+p)
		ids[p] = created.body["id"].(string)
	}
	r.setWebhookSecret("acct-hooks", ids["wordpress"], vecWP)
	r.setWebhookSecret("acct-hooks", ids["trello"], vecTrello)
	route := func(platform, key string) integration.WebhookRoute {
		return integration.WebhookRoute{Platform: platform, Key: key, AccountID: "acct-hooks", IntegrationID: "int-" + platform}
	}
	r.putRoute(route("shopify", "shop-1.myshopify.com"))
	r.putRoute(route("slack", "T0SLACK01"))
	r.putRoute(route("tiktok", "open-id-1"))
	g := route("google_calendar", channelID)
	g.TokenHash = webhook.Hash(channelTok)
	r.putRoute(g)
	r.putRoute(route("jira", webhook.Hash(jiraHook)))
	tr := route("trello", webhook.Hash(trelloHook))
	tr.IntegrationID, tr.CallbackURL = ids["trello"], trelloURL
	r.putRoute(tr)
	wp := route("wordpress", ids["wordpress"])
	wp.IntegrationID = ids["wordpress"]
	r.putRoute(wp)

	t.Run("vectors", func(t *testing.T) { checkVectors(t, r, ids["wordpress"]) })
	for _, p := range hookPlatforms(ids["wordpress"]) {
		t.Run(p.platform, func(t *testing.T) {
			r.clock.Set(time.Now())
			n := 0
			newID := func() string {
				n++
				if p.numeric {
					return fmt.Sprint(1000 + n)
				}
				return fmt.Sprintf("%s-delivery-%d", p.platform, n)
			}
			secret := secretOf(p.platform)
			before := r.sends.count()
			refused := func(what string, h http.Header, body []byte, path string) {
				t.Helper()
				got := r.hook("POST", path, h, body)
				if got.status != http.StatusUnauthorized || !strings.Contains(got.raw, `"unauthorized"`) {
					t.Errorf("%s: %d %s, want 401", what, got.status, got.raw)
				}
			}
			// Verified, queued once; redelivered, not queued again.
			id := newID()
			h, body := p.build(id, p.account, r.clock.Now(), secret)
			got := r.hook("POST", p.path, h, body)
			if got.status != 200 || got.body["status"] != "queued" {
				t.Fatalf("a signed delivery: %d %s", got.status, got.raw)
			}
			r.clock.Add(time.Minute)
			if got = r.hook("POST", p.path, h, body); got.status != 200 || got.body["status"] != "duplicate" {
				t.Fatalf("a redelivery: %d %s", got.status, got.raw)
			}
			if r.sends.count() != before+1 {
				t.Fatalf("queued %d times, want once", r.sends.count()-before)
			}
			before = r.sends.count()

			// Refused: nothing queued.
			id = newID()
			h, body = p.build(id, p.account, r.clock.Now(), secret)
			if len(body) > 0 {
				changed := append([]byte{}, body...)
				changed[len(changed)/2] ^= 1
				refused("one byte changed", h, changed, p.path)
			} else {
				bad := h.Clone()
				v := bad.Get(p.sigHeader)
				bad.Set(p.sigHeader, v[:len(v)-1]+"x")
				refused("the token changed by one character", bad, body, p.path)
			}
			wh, wbody := p.build(id, p.account, r.clock.Now(), "whsec_"+strings.Repeat("QUFB", 8))
			refused("a wrong secret", wh, wbody, p.path)
			missing := h.Clone()
			missing.Del(p.sigHeader)
			refused("a missing signature", missing, body, p.path)
			if p.stale {
				sh, sbody := p.build(id, p.account, r.clock.Now().Add(-webhook.Window-time.Minute), secret)
				refused("a stale timestamp", sh, sbody, p.path)
			}
			if p.wrongPath != "" {
				refused("a wrong hook id", h, body, p.wrongPath)
				refused("no hook id", h, body, "/webhooks/"+p.platform)
			}
			if p.platform == "google_calendar" {
				uh, ubody := p.build(id, "01JUNKNOWNCHANNEL000000000", r.clock.Now(), secret)
				refused("an unknown channel", uh, ubody, p.path)
			}
			if r.sends.count() != before {
				t.Fatalf("refused deliveries queued %d jobs", r.sends.count()-before)
			}

			// An unknown account: 200, dropped.
			if p.account != "" && p.platform != "google_calendar" {
				uh, ubody := p.build(newID(), "unknown-account", r.clock.Now(), secret)
				if got := r.hook("POST", p.path, uh, ubody); got.status != 200 || got.body["status"] != "unrouted" {
					t.Fatalf("an unknown account: %d %s", got.status, got.raw)
				}
			}

			// The enqueue fails once after the marker is written: the
			// platform's retry, later, is queued exactly once.
			id = newID()
			h, body = p.build(id, p.account, r.clock.Now(), secret)
			r.sends.mu.Lock()
			r.sends.fail = 1
			r.sends.mu.Unlock()
			if got := r.hook("POST", p.path, h, body); got.status != http.StatusInternalServerError {
				t.Fatalf("with the queue down: %d %s", got.status, got.raw)
			}
			r.clock.Add(webhookin.StaleAfter + time.Second)
			for range 2 {
				if got := r.hook("POST", p.path, h, body); got.status != 200 {
					t.Fatalf("the platform's retry: %d %s", got.status, got.raw)
				}
			}
			if r.sends.count() != before+1 {
				t.Fatalf("after a failed enqueue and two retries, queued %d times, want once", r.sends.count()-before)
			}
		})
	}

	t.Run("handshakes", func(t *testing.T) {
		r.clock.Set(time.Now())
		before := r.sends.count()
		body := []byte(`{"token":"x","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}`)
		ts := r.clock.Now()
		h := hdr("X-Slack-Request-Timestamp", fmt.Sprint(ts.Unix()), "X-Slack-Signature", webhook.SignSlack(vecSlack, ts, body), "Content-Type", "application/json")
		got := r.hook("POST", "/webhooks/slack", h, body)
		if got.status != 200 || got.body["challenge"] != "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" {
			t.Fatalf("url_verification: %d %s", got.status, got.raw)
		}
		h.Set("X-Slack-Signature", webhook.SignSlack("wrong", ts, body))
		if got := r.hook("POST", "/webhooks/slack", h, body); got.status != 401 {
			t.Fatalf("an unsigned url_verification: %d %s", got.status, got.raw)
		}
		if got := r.hook("HEAD", "/webhooks/trello/"+trelloHook, nil, nil); got.status != 200 {
			t.Fatalf("Trello's HEAD: %d", got.status)
		}
		if r.sends.count() != before {
			t.Fatal("a handshake was queued")
		}
	})

	t.Run("too large", func(t *testing.T) {
		got := r.hook("POST", "/webhooks/shopify", hdr("Content-Type", "application/json"), make([]byte, webhookin.MaxBodyBytes+1))
		if got.status != http.StatusRequestEntityTooLarge || !strings.Contains(got.raw, `"too_large"`) {
			t.Fatalf("over 6 MB: %d %s", got.status, got.raw)
		}
	})
}

// checkVectors posts each platform's vector (pkg/webhook/testdata) as it
// was signed, the clock at its timestamp: each verifies (answered 200, or
// 400 where the vector's body is no delivery of the platform's, which is
// read only after verification), and with one byte changed is 401.
func checkVectors(t *testing.T, r *hookRunner, wpID string) {
	b, err := os.ReadFile("../../pkg/webhook/testdata/webhook-signature-vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Vectors []map[string]string `json:"vectors"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	paths := map[string]string{"slack-v0": "/webhooks/slack", "slack-v0-json": "/webhooks/slack", "shopify-webhook": "/webhooks/shopify",
		"tiktok-t-s": "/webhooks/tiktok", "jira-admin-x-hub-signature": "/webhooks/jira/" + jiraHook, "trello-hmac-sha1-body-plus-url": "/webhooks/trello/" + trelloHook,
		"standard-webhooks-v1": "/webhooks/wordpress/" + wpID}
	seen := 0
	for _, v := range doc.Vectors {
		path, ok := paths[v["scheme"]]
		if !ok {
			continue
		}
		seen++
		r.clock.Set(time.Now())
		h := hdr(v["header"], v["expected"], "Content-Type", "application/json")
		if !strings.HasPrefix(v["body"], "{") {
			h.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		if ts := v["timestamp"]; ts != "" {
			var sec int64
			fmt.Sscan(ts, &sec)
			r.clock.Set(time.Unix(sec, 0))
			switch {
			case strings.HasPrefix(v["scheme"], "slack"):
				h.Set("X-Slack-Request-Timestamp", ts)
			case v["scheme"] == "standard-webhooks-v1":
				h.Set("Webhook-Timestamp", ts)
				h.Set("Webhook-Id", v["id"])
			}
		}
		if v["scheme"] == "shopify-webhook" {
			h.Set("X-Shopify-Shop-Domain", "shop-1.myshopify.com")
			h.Set("X-Shopify-Topic", "products/update")
			h.Set("X-Shopify-Event-Id", "vector-event")
		}
		got := r.hook("POST", path, h, []byte(v["body"]))
		if got.status != 200 && got.status != 400 {
			t.Errorf("vector %s (%s): %d %s", v["scheme"], v["source"], got.status, got.raw)
		}
		changed := []byte(v["body"])
		changed[len(changed)-2] ^= 1
		if got := r.hook("POST", path, h, changed); got.status != 401 {
			t.Errorf("vector %s changed by one byte: %d %s", v["scheme"], got.status, got.raw)
		}
	}
	if seen != len(paths) {
		t.Fatalf("%d vectors of the platforms found, want %d", seen, len(paths))
	}
}

// fakeWordPress is a small WordPress for webhook processing: its posts
// read one at a time (context=edit) as the connector asks, editable by the
// test; a deleted post is WordPress's rest_post_invalid_id.
type fakeWordPress struct {
	mu    sync.Mutex
	posts map[int]fakePost
}

type fakePost struct {
	title, status string
	modified      time.Time
}

func (f *fakeWordPress) set(id int, title, status string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.posts == nil {
		f.posts = map[int]fakePost{}
	}
	// WordPress's modified_gmt has seconds: each edit a second later.
	mod := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if p, ok := f.posts[id]; ok {
		mod = p.modified.Add(time.Second)
	}
	f.posts[id] = fakePost{title: title, status: status, modified: mod}
}

func (f *fakeWordPress) remove(id int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.posts, id)
}

func (f *fakeWordPress) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	route := strings.TrimPrefix(r.URL.Path, "/wp-json/wp/v2/")
	switch {
	case route == "users/me":
		fmt.Fprint(w, `{"id":1,"name":"Editor","slug":"editor","roles":["editor"],"capabilities":{"publish_posts":true,"upload_files":true}}`)
	case route == "types" || route == "taxonomies":
		fmt.Fprint(w, `{}`)
	case strings.HasPrefix(route, "posts/") && r.Method == http.MethodGet:
		var id int
		fmt.Sscan(strings.TrimPrefix(route, "posts/"), &id)
		f.mu.Lock()
		p, ok := f.posts[id]
		f.mu.Unlock()
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"code":"rest_post_invalid_id","message":"Invalid post ID.","data":{"status":404}}`)
			return
		}
		b, _ := json.Marshal(map[string]any{"id": id, "status": p.status, "title": map[string]any{"raw": p.title}, "content": map[string]any{"raw": "<p>x</p>"},
			"date_gmt": "2026-01-01T00:00:00", "modified_gmt": p.modified.Format("2006-01-02T15:04:05"), "link": fmt.Sprint("https://wp.example.com/?p=", id)})
		_, _ = w.Write(b)
	case r.Method == http.MethodGet:
		w.Header().Set("X-WP-Total", "0")
		w.Header().Set("X-WP-TotalPages", "0")
		fmt.Fprint(w, `[]`)
	default:
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"code":"rest_no_route","message":"No route was found matching the URL and request method."}`)
	}
}

// onboardWordPress connects the fake site through the plugin's onboarding
// and returns the integration's id, its webhook URL and secret.
func (r *hookRunner) onboardWordPress(t *testing.T, editor, site, siteURL string) (id, hookURL, secret string) {
	t.Helper()
	key := r.do("POST", "/v1/sites/"+site+"/keys", editor, `{"name":"plugin"}`)
	want(t, key, http.StatusCreated, "site key")
	got := r.do("POST", "/v1/integrations/test_connection", key.body["key"].(string),
		fmt.Sprintf(`{"site_url":%q,"username":"editor","app_password":"abcd efgh ijkl mnop"}`, siteURL))
	want(t, got, http.StatusOK, "onboarding")
	id, _ = got.body["integration_id"].(string)
	hookURL, _ = got.body["webhook_url"].(string)
	secret, _ = got.body["webhook_secret"].(string)
	if id == "" || !strings.HasSuffix(hookURL, "/webhooks/wordpress/"+id) || !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("onboarding's answer: %s", got.raw)
	}
	return id, strings.TrimPrefix(hookURL, r.url), secret
}

// wpDelivery is the plugin's signed delivery of a post's change.
func wpDelivery(deliveryID, action string, postID int, secret string, ts time.Time) (http.Header, []byte) {
	body := []byte(fmt.Sprintf(`{"action":%q,"post_id":%d,"post_type":"post","site_url":"https://blog.example.com"}`, action, postID))
	return hdr("Webhook-Id", deliveryID, "Webhook-Timestamp", fmt.Sprint(ts.Unix()), "Webhook-Signature", webhook.SignStandard(secret, deliveryID, ts, body),
		"Content-Type", "application/json"), body
}

// waitRecord reads GET …/records/post/{id} until ok says it is the one
// wanted, for at most 10 s.
func waitRecord(t *testing.T, r *hookRunner, token, id string, postID int, ok func(map[string]any) bool) {
	t.Helper()
	var last reply
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(25 * time.Millisecond) {
		last = r.do("GET", fmt.Sprintf("/v1/integrations/%s/records/post/%d", id, postID), token, "")
		if last.status == http.StatusOK && ok(last.body) {
			return
		}
	}
	t.Fatalf("post %d's record after 10 s: %d %s", postID, last.status, last.raw)
}

// WordPress, on embedded and on moto: the plugin's signed deliveries for
// an edited, a trashed and a deleted post change their records within
// 10 s, with no sync run; 200 deliveries for 50 posts, some redelivered,
// leave 50 current records and one webhook event per delivery id.
func TestWordPressWebhooks(t *testing.T) {
	site := &fakeWordPress{}
	srv := httptestServer(t, site)
	t.Setenv("JOINERY_ALLOW_PRIVATE_NETWORKS", hostPort(t, srv))
	for _, backend := range []string{"embedded", "aws"} {
		t.Run(backend, func(t *testing.T) {
			// The site's rate limit (10 requests a second) is the sync's
			// business, tested with it: here it would only make 200
			// deliveries take 20 s.
			r := startHooks(t, backend, runnerOptions{setup: func(a *app) { a.engine.Rates = nil }})
			editor := r.token("acct-wphooks-"+backend, "editor", "")
			began := time.Now()
			id, path, secret := r.onboardWordPress(t, editor, "wphooks-"+backend, srv)
			t.Logf("%s: onboarded", time.Since(began))
			send := func(deliveryID, action string, postID int) {
				t.Helper()
				h, body := wpDelivery(deliveryID, action, postID, secret, time.Now())
				if got := r.hook("POST", path, h, body); got.status != 200 {
					t.Fatalf("delivery %s: %d %s", deliveryID, got.status, got.raw)
				}
			}
			for p := 1; p <= 3; p++ {
				site.set(p, fmt.Sprint("Post ", p), "publish")
				send(fmt.Sprint(backend, "-created-", p), "post_created", p)
			}
			for p := 1; p <= 3; p++ {
				waitRecord(t, r, editor, id, p, func(rec map[string]any) bool { return rec["title"] == fmt.Sprint("Post ", p) })
			}
			site.set(1, "Post 1, edited", "publish")
			send(backend+"-edited", "post_updated", 1)
			site.set(2, "Post 2", "trash")
			send(backend+"-trashed", "post_trashed", 2)
			site.remove(3)
			send(backend+"-deleted", "post_deleted", 3)
			waitRecord(t, r, editor, id, 1, func(rec map[string]any) bool { return rec["title"] == "Post 1, edited" && rec["deleted"] != true })
			waitRecord(t, r, editor, id, 2, func(rec map[string]any) bool { return rec["deleted"] == true })
			waitRecord(t, r, editor, id, 3, func(rec map[string]any) bool { return rec["deleted"] == true })
			t.Logf("%s: single changes done", time.Since(began))
			runs := r.do("GET", "/v1/integrations/"+id+"/runs", editor, "")
			if items, _ := runs.body["items"].([]any); len(items) != 0 {
				t.Fatalf("a sync ran: %s", runs.raw)
			}

			// 200 deliveries for 50 posts, four edits each, sent eight at a
			// time in no particular order, a quarter of them twice.
			for p := 101; p <= 150; p++ {
				site.set(p, fmt.Sprint("Bulk ", p, " v0"), "publish")
			}
			type job struct {
				deliveryID string
				post       int
			}
			var jobs []job
			for v := 1; v <= 4; v++ {
				for p := 101; p <= 150; p++ {
					site.set(p, fmt.Sprint("Bulk ", p, " v", v), "publish")
					jobs = append(jobs, job{fmt.Sprintf("%s-bulk-%d-%d", backend, p, v), p})
				}
			}
			var wg sync.WaitGroup
			work := make(chan job)
			for range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for j := range work {
						h, body := wpDelivery(j.deliveryID, "post_updated", j.post, secret, time.Now())
						if got := r.hook("POST", path, h, body); got.status != 200 {
							t.Errorf("delivery %s: %d %s", j.deliveryID, got.status, got.raw)
						}
					}
				}()
			}
			for i := len(jobs) - 1; i >= 0; i-- {
				work <- jobs[i]
			}
			close(work)
			wg.Wait()
			t.Logf("%s: 200 sent", time.Since(began))
			// A quarter redelivered, as a platform whose answer was lost
			// would: answered 200, queued no more.
			before := r.sends.count()
			for i := 0; i < len(jobs); i += 4 {
				h, body := wpDelivery(jobs[i].deliveryID, "post_updated", jobs[i].post, secret, time.Now())
				if got := r.hook("POST", path, h, body); got.status != 200 || got.body["status"] != "duplicate" {
					t.Fatalf("redelivery of %s: %d %s", jobs[i].deliveryID, got.status, got.raw)
				}
			}
			if r.sends.count() != before {
				t.Fatalf("redeliveries queued %d jobs", r.sends.count()-before)
			}
			for p := 101; p <= 150; p++ {
				waitRecord(t, r, editor, id, p, func(rec map[string]any) bool { return rec["title"] == fmt.Sprint("Bulk ", p, " v4") })
			}
			t.Logf("%s: records current", time.Since(began))
			recs := allRecords(t, r.runner, editor, id, "")
			bulk := 0
			for ext, rec := range recs {
				var n int
				fmt.Sscan(ext, &n)
				if n >= 101 && n <= 150 {
					bulk++
					if rec["title"] != fmt.Sprint("Bulk ", n, " v4") {
						t.Errorf("post %s: %v", ext, rec["title"])
					}
				}
			}
			if bulk != 50 {
				t.Fatalf("%d records of the 50 posts", bulk)
			}
			// One webhook event per delivery id, once processing is done.
			wantEvents := 3 + 3 + len(jobs)
			var events map[string]int
			// moto takes its time over 200 jobs' writes; the embedded store
			// is done in a few seconds.
			for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
				if events = webhookEvents(t, r, editor, id); len(events) >= wantEvents {
					break
				}
			}
			t.Logf("%s: events %d", time.Since(began), len(events))
			if len(events) != wantEvents {
				t.Fatalf("%d webhook events, want one for each of %d deliveries", len(events), wantEvents)
			}
			for d, n := range events {
				if n != 1 {
					t.Fatalf("delivery %s has %d webhook events", d, n)
				}
			}
		})
	}
}

// webhookEvents counts the integration's webhook events by delivery id.
func webhookEvents(t *testing.T, r *hookRunner, token, id string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for cursor := ""; ; {
		got := r.do("GET", "/v1/integrations/"+id+"/events?type=webhook&limit=100"+cursor, token, "")
		want(t, got, http.StatusOK, "events")
		for _, it := range got.body["items"].([]any) {
			ev := it.(map[string]any)
			details, _ := ev["details"].(map[string]any)
			d, _ := details["delivery_id"].(string)
			out[d]++
		}
		next, _ := got.body["next_cursor"].(string)
		if next == "" {
			return out
		}
		cursor = "&cursor=" + url.QueryEscape(next)
	}
}

// httptestServer serves h for the test and returns its URL.
func httptestServer(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}
