package conformance

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/integration"
)

// AppsStore is one place the deployment's app credentials can be kept,
// opened for a test: Apps reads it; Write sets the document; Remove takes
// it away.
type AppsStore struct {
	Apps   integration.Apps
	Write  func(t *testing.T, doc string)
	Remove func(t *testing.T)
}

// TestApps runs the app credentials conformance suite. open returns a
// fresh, empty store whose Apps reads on the clock now and keeps what it
// read for ttl. The suite uses the built-in catalog's platforms.
func TestApps(t *testing.T, open func(t *testing.T, now func() time.Time, ttl time.Duration) AppsStore) {
	ctx := context.Background()
	const ttl = time.Minute
	type clock struct {
		mu sync.Mutex
		t  time.Time
	}
	newClock := func() (*clock, func() time.Time) {
		c := &clock{t: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}
		return c, func() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
	}
	advance := func(c *clock, d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }
	notConfigured := func(t *testing.T, a integration.Apps, platform, display string) {
		t.Helper()
		_, err := a.App(ctx, platform)
		wantCode(t, err, integration.EUNPROCESSABLE)
		if msg := integration.ErrorMessage(err); !strings.Contains(msg, display+" is not configured") {
			t.Fatalf("message %q does not say %s is not configured", msg, display)
		}
	}
	const good = `{"slack": {"client_id": "111.222", "client_secret": "s3cr3t-slack", "signing_secret": "s1gn"},
		"jira": {"client_id": "jira-id", "client_secret": "s3cr3t-jira"}, "openai": {"api_key": "sk-s3cr3t"}}`

	t.Run("none kept: nothing is configured, a 422 and not a 500", func(t *testing.T) {
		_, now := newClock()
		s := open(t, now, ttl)
		notConfigured(t, s.Apps, "slack", "Slack")
		notConfigured(t, s.Apps, "google_calendar", "Google Calendar")
	})
	t.Run("read and checked", func(t *testing.T) {
		_, now := newClock()
		s := open(t, now, ttl)
		s.Write(t, good)
		got, err := s.Apps.App(ctx, "slack")
		if err != nil || got["client_id"] != "111.222" || got["client_secret"] != "s3cr3t-slack" || got["signing_secret"] != "s1gn" {
			t.Fatalf("slack = %v, %v", got, err)
		}
		got["client_id"] = "changed by a caller"
		if again, _ := s.Apps.App(ctx, "slack"); again["client_id"] != "111.222" {
			t.Fatalf("a caller's change leaked into the next answer: %v", again)
		}
		// Optional fields may be left out (Jira's webhook secret).
		if got, err := s.Apps.App(ctx, "jira"); err != nil || len(got) != 2 {
			t.Fatalf("jira = %v, %v", got, err)
		}
		notConfigured(t, s.Apps, "shopify", "Shopify")
		notConfigured(t, s.Apps, "tiktok", "TikTok Business Messaging")
	})
	t.Run("kept for the ttl, then read again", func(t *testing.T) {
		c, now := newClock()
		s := open(t, now, ttl)
		s.Write(t, good)
		if _, err := s.Apps.App(ctx, "slack"); err != nil {
			t.Fatal(err)
		}
		s.Write(t, strings.Replace(good, "111.222", "333.444", 1))
		advance(c, ttl-time.Second)
		if got, _ := s.Apps.App(ctx, "slack"); got["client_id"] != "111.222" {
			t.Fatalf("read again before the ttl: %v", got)
		}
		advance(c, 2*time.Second)
		if got, _ := s.Apps.App(ctx, "slack"); got["client_id"] != "333.444" {
			t.Fatalf("not read again after the ttl: %v", got)
		}
		s.Remove(t)
		advance(c, ttl+time.Second)
		notConfigured(t, s.Apps, "slack", "Slack")
	})
	t.Run("a document that does not fit the catalog", func(t *testing.T) {
		for _, c := range []struct {
			name, doc string
			want      []string
		}{
			{"not JSON", `{"slack": `, []string{"one JSON object"}},
			{"not an object", `["slack"]`, []string{"one JSON object"}},
			{"missing required field", `{"slack": {"client_id": "111.222", "signing_secret": "s1gn"}}`, []string{"slack.client_secret: required"}},
			{"empty required field", `{"google_calendar": {"client_id": "", "client_secret": "s3cr3t"}}`, []string{"google_calendar.client_id: required"}},
			{"unknown field", `{"slack": {"client_id": "a", "client_secret": "s3cr3t", "signing_secret": "b", "colour": "red"}}`, []string{"slack.colour: unknown field"}},
			{"not a string", `{"openai": {"api_key": 12345}}`, []string{"openai.api_key: must be a string"}},
			{"unknown platform", `{"myspace": {"api_key": "s3cr3t"}}`, []string{`"myspace" is not a platform`}},
			{"a platform without app credentials", `{"wordpress": {"api_key": "s3cr3t"}}`, []string{"wordpress takes none"}},
			{"platform not an object", `{"shopify": "s3cr3t"}`, []string{"shopify: must be an object"}},
		} {
			t.Run(c.name, func(t *testing.T) {
				_, now := newClock()
				s := open(t, now, ttl)
				s.Write(t, c.doc)
				_, err := s.Apps.App(ctx, "slack")
				if err == nil {
					t.Fatal("a bad document was accepted")
				}
				for _, w := range c.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not say %q", err, w)
					}
				}
				if strings.Contains(err.Error(), "s3cr3t") || strings.Contains(err.Error(), "12345") {
					t.Errorf("error %q shows a value", err)
				}
				if integration.ErrorCode(err) == integration.EUNPROCESSABLE {
					t.Errorf("a broken deployment is not the caller's fault: %v", err)
				}
			})
		}
	})
}
