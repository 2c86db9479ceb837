package main

import (
	"net/http"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/integration"
)

// Through the runner, which takes the source address from the connection
// as API Gateway does: past 60 requests a minute from one address, the
// onboarding route answers 429 with Retry-After whatever key is sent.
func TestOnboardingIsLimitedPerSourceAddress(t *testing.T) {
	for _, backend := range []string{"embedded", "aws"} {
		t.Run(backend, func(t *testing.T) {
			now := time.Now().UTC().Truncate(time.Minute).Add(30 * time.Second)
			r, _ := startRunnerOpts(t, backend, runnerOptions{noWorker: true, setup: func(a *app) {
				a.service.Now = func() time.Time { return now }
			}})
			body := `{"site_url":"https://blog.example.com","username":"u","app_password":"p"}`
			for i := 1; i <= integration.SourceRequestsPerMinute; i++ {
				want(t, r.do(http.MethodPost, "/v1/integrations/test_connection", "jsk_guess_1", body), http.StatusUnauthorized, "a wrong key within the limit")
			}
			got := r.do(http.MethodPost, "/v1/integrations/test_connection", "jsk_guess_2", body)
			want(t, got, http.StatusTooManyRequests, "past 60 a minute from one address")
			if e, _ := got.body["error"].(map[string]any); e["code"] != "rate_limited" || got.header.Get("Retry-After") != "30" {
				t.Fatalf("429 without rate_limited and Retry-After 30: %v %s", got.header, got.raw)
			}
		})
	}
}

// The OAuth callback has no authorizer either: past 60 requests a minute
// from one address it answers 429 with Retry-After before any state is
// looked at, and its quota is its own (onboarding from the same address is
// still let through).
func TestOAuthCallbackIsLimitedPerSourceAddress(t *testing.T) {
	for _, backend := range []string{"embedded", "aws"} {
		t.Run(backend, func(t *testing.T) {
			now := time.Now().UTC().Truncate(time.Minute).Add(30 * time.Second)
			r, _ := startRunnerOpts(t, backend, runnerOptions{noWorker: true, setup: func(a *app) {
				a.service.Now = func() time.Time { return now }
			}})
			o := &oauthRunner{runner: r}
			for i := 1; i <= integration.SourceRequestsPerMinute; i++ {
				if status, _, page := o.callback(t, r.url+"/v1/oauth/slack/callback?code=c&state=guess"); status != http.StatusBadRequest {
					t.Fatalf("request %d: %d %s", i, status, page)
				}
			}
			req, _ := http.NewRequest(http.MethodGet, r.url+"/v1/oauth/slack/callback?code=c&state=guess-61", nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "30" {
				t.Fatalf("past 60 a minute: %d Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
			}
			body := `{"site_url":"https://blog.example.com","username":"u","app_password":"p"}`
			want(t, r.do(http.MethodPost, "/v1/integrations/test_connection", "jsk_guess_1", body), http.StatusUnauthorized, "onboarding, on its own quota")
		})
	}
}
