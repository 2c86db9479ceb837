package webhook

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// now is the frozen clock of these tests.
var now = time.Date(2026, 11, 20, 9, 30, 0, 0, time.UTC)

const hookID = "9b1de3c27a4f4e0d8c6b5a4938271605"

// fixture is one genuine delivery of a platform with the keys that verify
// it, and how to break each of them.
type fixture struct {
	platform string
	req      Request
	keys     Keys
	// wrongSecret is keys with the secret the signature depends on replaced.
	wrongSecret Keys
	// required are the headers without which the delivery is not genuine.
	required []string
	// timed: the scheme checks a signed timestamp against Window.
	timed bool
	// resign signs req again at ts (timed schemes), so a stale delivery is
	// otherwise genuine.
	resign func(r *Request, ts time.Time)
}

func header(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

func post(path string, h http.Header, body string) Request {
	return Request{Method: http.MethodPost, Path: path, Header: h, Body: []byte(body)}
}

func unix(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

const (
	shopifyBody   = `{"id":9554194432293,"title":"T-Shirt","status":"active","updated_at":"2025-04-22T14:30:00-05:00"}`
	slackBody     = `{"token":"x","team_id":"T043DB835ML","api_app_id":"A0442TUPHGR","event":{"type":"message","text":"hi","user":"U1","ts":"1663966382.046509","channel":"C1"},"type":"event_callback","event_id":"Ev043T7CKN84","event_time":1663966382}`
	tiktokBody    = `{"client_key":"aw123","event":"im_receive_msg","create_time":1700000000,"user_openid":"biz-123","content":"{\"conversation_id\":\"tt-conv-1\",\"message_id\":\"tt-msg-1\",\"type\":\"text\",\"text\":{\"body\":\"Hello\"}}"}`
	jiraBody      = `{"timestamp":1700000000000,"webhookEvent":"jira:issue_updated","issue_event_type_name":"issue_generic","issue":{"id":"10001","key":"PRJ-1","self":"https://example.atlassian.net/rest/api/2/issue/10001"}}`
	trelloBody    = `{"action":{"id":"5f1a2b3c4d5e6f7a8b9c0d1e","type":"updateCard","data":{"card":{"id":"6a7b8c9d0e1f2a3b4c5d6e7f","name":"Ship it"}}},"model":{"id":"b1"}}`
	wordpressBody = `{"action":"post_updated","post_id":42,"post_type":"post","site_url":"https://blog.example.com"}`
	shopSecret    = "shpss_0123456789abcdef"
	slackSecret   = "8f742231b10e8888abcd99yyyzzz85a5"
	tiktokSecret  = "test-tiktok-secret"
	jiraSecret    = "jira-admin-secret"
	jiraClient    = "jira-client-secret"
	trelloSecret  = "trello-app-secret"
	trelloURL     = "https://hooks.joinery.example/webhooks/trello/" + hookID
	channelToken  = "c2f0e7d1a9b84f6e8d7c6b5a49382716"
	wpSecret      = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
)

func fixtures(t testing.TB) []fixture {
	t.Helper()
	jwtAuth, err := SignJiraJWT(jiraClient, now.Add(3*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	return []fixture{{
		platform: "shopify",
		req: post("/webhooks/shopify", header(
			"X-Shopify-Hmac-Sha256", SignShopify(shopSecret, []byte(shopifyBody)),
			"X-Shopify-Topic", "products/update", "X-Shopify-Shop-Domain", "acme.myshopify.com",
			"X-Shopify-Event-Id", "98880550-7158-44d4-b7cd-2c97c8a091b5",
			"X-Shopify-Webhook-Id", "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"), shopifyBody),
		keys:        Keys{AppSecret: shopSecret},
		wrongSecret: Keys{AppSecret: shopSecret + "x"},
		required:    []string{"X-Shopify-Hmac-Sha256"},
	}, {
		platform: "slack",
		req: post("/webhooks/slack", header(
			"Content-Type", "application/json", "X-Slack-Request-Timestamp", unix(now),
			"X-Slack-Signature", SignSlack(slackSecret, now, []byte(slackBody))), slackBody),
		keys:        Keys{AppSecret: slackSecret},
		wrongSecret: Keys{AppSecret: "8f742231b10e8888abcd99yyyzzz85a6"},
		required:    []string{"X-Slack-Request-Timestamp", "X-Slack-Signature"},
		timed:       true,
		resign: func(r *Request, ts time.Time) {
			r.Header.Set("X-Slack-Request-Timestamp", unix(ts))
			r.Header.Set("X-Slack-Signature", SignSlack(slackSecret, ts, r.Body))
		},
	}, {
		platform: "tiktok",
		req: post("/webhooks/tiktok", header(
			"Tiktok-Signature", SignTikTok(tiktokSecret, now, []byte(tiktokBody))), tiktokBody),
		keys:        Keys{AppSecret: tiktokSecret},
		wrongSecret: Keys{AppSecret: "test-tiktok-secreT"},
		required:    []string{"Tiktok-Signature"},
		timed:       true,
		resign: func(r *Request, ts time.Time) {
			r.Header.Set("Tiktok-Signature", SignTikTok(tiktokSecret, ts, r.Body))
		},
	}, {
		platform: "google_calendar",
		req: Request{Method: http.MethodPost, Path: "/webhooks/google_calendar", Header: header(
			"X-Goog-Channel-ID", "01234567-89ab-cdef-0123456789ab", "X-Goog-Channel-Token", channelToken,
			"X-Goog-Resource-State", "exists", "X-Goog-Message-Number", "7",
			"X-Goog-Resource-ID", "ret08u3rv24htgh289g")},
		keys:        Keys{TokenHash: Hash(channelToken)},
		wrongSecret: Keys{TokenHash: Hash(channelToken + "x")},
		required:    []string{"X-Goog-Channel-Token", "X-Goog-Channel-ID"},
	}, {
		platform: "jira",
		req: post("/webhooks/jira/"+hookID, header(
			"X-Hub-Signature", SignJiraHub(jiraSecret, []byte(jiraBody)),
			"X-Atlassian-Webhook-Identifier", "1a2b3c4d-0001", "Authorization", jwtAuth), jiraBody),
		keys:        Keys{HookIDHash: Hash(hookID), HookSecret: jiraSecret, AppSecret: jiraClient},
		wrongSecret: Keys{HookIDHash: Hash(hookID), HookSecret: jiraSecret + "x", AppSecret: jiraClient},
		required:    []string{"X-Hub-Signature"},
	}, {
		platform: "trello",
		req: post("/webhooks/trello/"+hookID, header(
			"X-Trello-Webhook", SignTrello(trelloSecret, trelloURL, []byte(trelloBody))), trelloBody),
		keys:        Keys{HookIDHash: Hash(hookID), AppSecret: trelloSecret, CallbackURL: trelloURL},
		wrongSecret: Keys{HookIDHash: Hash(hookID), AppSecret: trelloSecret + "x", CallbackURL: trelloURL},
		required:    []string{"X-Trello-Webhook"},
	}, {
		platform: "wordpress",
		req: post("/webhooks/wordpress/01JD4ZQ8N6V3WQ9KX2T5R7M8PA", header(
			"Webhook-Id", "msg_2b7Yc0q", "Webhook-Timestamp", unix(now),
			"Webhook-Signature", SignStandard(wpSecret, "msg_2b7Yc0q", now, []byte(wordpressBody))), wordpressBody),
		keys:        Keys{HookID: "01JD4ZQ8N6V3WQ9KX2T5R7M8PA", HookSecret: wpSecret},
		wrongSecret: Keys{HookID: "01JD4ZQ8N6V3WQ9KX2T5R7M8PA", HookSecret: "whsec_" + strings.Repeat("A", 43) + "="},
		required:    []string{"Webhook-Id", "Webhook-Timestamp", "Webhook-Signature"},
		timed:       true,
		resign: func(r *Request, ts time.Time) {
			r.Header.Set("Webhook-Timestamp", unix(ts))
			r.Header.Set("Webhook-Signature", SignStandard(wpSecret, "msg_2b7Yc0q", ts, r.Body))
		},
	}}
}

func clone(r Request) Request {
	c := r
	c.Header = r.Header.Clone()
	c.Body = append([]byte(nil), r.Body...)
	return c
}

func secretsOf(k Keys) []string {
	return []string{k.AppSecret, k.HookSecret, k.HookID, k.TokenHash, k.HookIDHash}
}

// wantUnauthorized fails unless err is ErrUnauthorized, and checks it
// names no secret and quotes no body.
func wantUnauthorized(t *testing.T, err error, r Request, k Keys) {
	t.Helper()
	if !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("got %v, want ErrUnauthorized", err)
	}
	msg := err.Error()
	for _, s := range append(secretsOf(k), string(r.Body), channelToken, hookID) {
		if s != "" && strings.Contains(msg, s) {
			t.Fatalf("error %q shows a secret or the body", msg)
		}
	}
	for _, vs := range r.Header {
		for _, v := range vs {
			if len(v) > 8 && strings.Contains(msg, v) {
				t.Fatalf("error %q quotes a header value", msg)
			}
		}
	}
}

// TestVerify: each platform's genuine delivery verifies, and every way of
// not being genuine is ErrUnauthorized.
func TestVerify(t *testing.T) {
	for _, f := range fixtures(t) {
		t.Run(f.platform, func(t *testing.T) {
			s, ok := For(f.platform)
			if !ok {
				t.Fatal("no scheme")
			}
			if err := s.Verify(f.req, f.keys, now); err != nil {
				t.Fatalf("genuine delivery: %v", err)
			}
			if len(f.req.Body) > 0 {
				for _, i := range []int{0, len(f.req.Body) / 2, len(f.req.Body) - 1} {
					r := clone(f.req)
					r.Body[i]++
					wantUnauthorized(t, s.Verify(r, f.keys, now), r, f.keys)
				}
				r := clone(f.req)
				r.Body = append(r.Body, ' ')
				wantUnauthorized(t, s.Verify(r, f.keys, now), r, f.keys)
			}
			wantUnauthorized(t, s.Verify(f.req, f.wrongSecret, now), f.req, f.wrongSecret)
			wantUnauthorized(t, s.Verify(f.req, Keys{}, now), f.req, Keys{})
			for _, h := range f.required {
				r := clone(f.req)
				r.Header.Del(h)
				wantUnauthorized(t, s.Verify(r, f.keys, now), r, f.keys)
				r.Header.Set(h, "")
				wantUnauthorized(t, s.Verify(r, f.keys, now), r, f.keys)
			}
			// The signature with one character changed.
			sig := f.required[0]
			r := clone(f.req)
			v := []byte(r.Header.Get(sig))
			v[len(v)-2] ^= 0x01
			r.Header.Set(sig, string(v))
			wantUnauthorized(t, s.Verify(r, f.keys, now), r, f.keys)
			if !f.timed {
				return
			}
			for _, d := range []time.Duration{Window + time.Second, -Window - time.Second, 48 * time.Hour} {
				r := clone(f.req)
				f.resign(&r, now.Add(-d))
				wantUnauthorized(t, s.Verify(r, f.keys, now), r, f.keys)
			}
			for _, d := range []time.Duration{Window, -Window} {
				r := clone(f.req)
				f.resign(&r, now.Add(-d))
				if err := s.Verify(r, f.keys, now); err != nil {
					t.Errorf("signed %v ago, at the window's edge: %v", d, err)
				}
			}
		})
	}
}
