package webhook

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"
)

type vector struct {
	Scheme      string `json:"scheme"`
	Source      string `json:"source"`
	Secret      string `json:"secret"`
	ID          string `json:"id"`
	Timestamp   string `json:"timestamp"`
	Body        string `json:"body"`
	CallbackURL string `json:"callback_url"`
	Header      string `json:"header"`
	Expected    string `json:"expected"`
}

// notInbound are vectors of schemes that are not inbound webhooks of
// Joinery: GitHub posts none to it, and Shopify's query HMAC signs the
// OAuth callback, not a delivery.
var notInbound = map[string]bool{"github": true, "shopify-oauth-callback-query-hmac": true}

func loadVectors(t *testing.T) []vector {
	t.Helper()
	raw, err := os.ReadFile("testdata/webhook-signature-vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Vectors []vector `json:"vectors"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	return f.Vectors
}

// vectorCase is a vector as a delivery to one of Joinery's schemes.
type vectorCase struct {
	platform string
	req      Request
	keys     Keys
	now      time.Time
	sign     func() string // the signer's value for the vector's inputs
	// wrong is keys with the vector's secret replaced.
	wrong Keys
}

const vectorHookID = "4f9c2e1ab37d4c0e9a1f6b2d8e7c3a51"

func vectorAsDelivery(t *testing.T, v vector) (vectorCase, bool) {
	t.Helper()
	var ts time.Time
	if v.Timestamp != "" {
		sec, err := strconv.ParseInt(v.Timestamp, 10, 64)
		if err != nil {
			t.Fatalf("%s: timestamp %q", v.Scheme, v.Timestamp)
		}
		ts = time.Unix(sec, 0)
	} else {
		ts = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC) // no freshness check: any time
	}
	h := http.Header{}
	h.Set(v.Header, v.Expected)
	body := []byte(v.Body)
	c := vectorCase{now: ts}
	switch v.Scheme {
	case "slack-v0", "slack-v0-json":
		h.Set("X-Slack-Request-Timestamp", v.Timestamp)
		h.Set("Content-Type", "application/json")
		if v.Scheme == "slack-v0" {
			h.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		c.platform = "slack"
		c.keys, c.wrong = Keys{AppSecret: v.Secret}, Keys{AppSecret: v.Secret + "x"}
		c.sign = func() string { return SignSlack(v.Secret, ts, body) }
	case "standard-webhooks-v1":
		h.Set("Webhook-Id", v.ID)
		h.Set("Webhook-Timestamp", v.Timestamp)
		c.platform = "wordpress"
		c.keys = Keys{HookID: vectorHookID, HookSecret: v.Secret}
		other, _ := NewStandardSecret()
		c.wrong = Keys{HookID: vectorHookID, HookSecret: other}
		c.sign = func() string { return SignStandard(v.Secret, v.ID, ts, body) }
	case "shopify-webhook":
		c.platform = "shopify"
		c.keys, c.wrong = Keys{AppSecret: v.Secret}, Keys{AppSecret: v.Secret + "x"}
		c.sign = func() string { return SignShopify(v.Secret, body) }
	case "tiktok-t-s":
		c.platform = "tiktok"
		c.keys, c.wrong = Keys{AppSecret: v.Secret}, Keys{AppSecret: v.Secret + "x"}
		c.sign = func() string { return SignTikTok(v.Secret, ts, body) }
	case "jira-admin-x-hub-signature":
		c.platform = "jira"
		c.keys = Keys{HookID: vectorHookID, HookSecret: v.Secret}
		c.wrong = Keys{HookID: vectorHookID, HookSecret: v.Secret + "x"}
		c.sign = func() string { return SignJiraHub(v.Secret, body) }
	case "trello-hmac-sha1-body-plus-url":
		c.platform = "trello"
		c.keys = Keys{HookIDHash: Hash(vectorHookID), AppSecret: v.Secret, CallbackURL: v.CallbackURL}
		c.wrong = Keys{HookIDHash: Hash(vectorHookID), AppSecret: v.Secret + "x", CallbackURL: v.CallbackURL}
		c.sign = func() string { return SignTrello(v.Secret, v.CallbackURL, body) }
	default:
		return c, false
	}
	path := "/webhooks/" + c.platform
	if c.keys.HookID != "" || c.keys.HookIDHash != "" {
		path += "/" + vectorHookID
	}
	c.req = Request{Method: http.MethodPost, Path: path, Header: h, Body: body}
	return c, true
}

// TestVectors checks every scheme against the published and computed
// vectors: each verifies at its own time, each signer reproduces it, and
// a body changed by one byte or a wrong secret fails.
func TestVectors(t *testing.T) {
	covered := map[string]bool{}
	for _, v := range loadVectors(t) {
		if v.Source == "" {
			t.Errorf("%s: vector without a source", v.Scheme)
		}
		c, ok := vectorAsDelivery(t, v)
		if !ok {
			if !notInbound[v.Scheme] {
				t.Errorf("vector %q is neither checked nor named as not inbound", v.Scheme)
			}
			continue
		}
		covered[c.platform] = true
		t.Run(v.Scheme, func(t *testing.T) {
			s, _ := For(c.platform)
			if err := s.Verify(c.req, c.keys, c.now); err != nil {
				t.Fatalf("vector does not verify: %v", err)
			}
			if got := c.sign(); got != v.Expected {
				t.Errorf("signer gives %q, want %q", got, v.Expected)
			}
			changed := c.req
			changed.Body = append([]byte(nil), c.req.Body...)
			changed.Body[len(changed.Body)/2] ^= 0x01
			if err := s.Verify(changed, c.keys, c.now); !errors.Is(err, ErrUnauthorized) {
				t.Errorf("body changed by one byte: got %v, want ErrUnauthorized", err)
			}
			if err := s.Verify(c.req, c.wrong, c.now); !errors.Is(err, ErrUnauthorized) {
				t.Errorf("wrong secret: got %v, want ErrUnauthorized", err)
			}
		})
	}
	// Google Calendar's notifications are not signed: no vector can exist.
	for _, p := range Platforms {
		if !covered[p] && p != "google_calendar" {
			t.Errorf("no vector checks %s", p)
		}
	}
}
