package connector_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/embedded"
	"github.com/joinery/joinery/pkg/fakeplatforms"
	"github.com/joinery/joinery/pkg/integration"
)

const calendarReadonly = "https://www.googleapis.com/auth/calendar.readonly"

// target is what each platform's test calls need besides the token.
func target(platform, token string) connector.OAuthTarget {
	tg := connector.OAuthTarget{AccessToken: token}
	switch platform {
	case "tiktok":
		tg.AccountID = "-000fakeOpenId0001"
	case "shopify":
		tg.SiteURL = "https://acme.myshopify.com"
	}
	return tg
}

func entry(t *testing.T, platform string) *connector.Entry {
	e, ok := connector.NewCatalog().Entry(platform)
	if !ok {
		t.Fatalf("no %s in the catalog", platform)
	}
	return e
}

func run(t *testing.T, s *fakeplatforms.Server, platform string, tg connector.OAuthTarget) connector.TestResult {
	t.Helper()
	res, err := connector.RunTestCalls(context.Background(), s.Client(), entry(t, platform), tg)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// Every OAuth platform's catalog test calls pass with a grant of the
// scopes its catalog entry asks for, and fail with a reconnect message
// once the grant is revoked.
func TestOAuthTestCallsConnectedThenRevoked(t *testing.T) {
	want := map[string]string{
		"google_calendar": "Connected to Google Calendar as user@example.com.",
		"slack":           "Connected to Slack as Acme.",
		"jira":            "Connected to Jira as Mia Krystof.",
		"tiktok":          "Connected to TikTok Business Messaging as acme_shop.",
		"shopify":         "Connected to Shopify as Acme Store.",
	}
	for _, p := range fakeplatforms.Platforms {
		t.Run(p, func(t *testing.T) {
			s := fakeplatforms.Start(t, p, fakeplatforms.Options{})
			tok := s.Mint() // the catalog's scopes
			res := run(t, s, p, target(p, tok.AccessToken))
			if !res.OK || res.Status != integration.ConnectionConnected || res.Message != want[p] {
				t.Fatalf("connected: %+v", res)
			}
			s.RevokeGrants()
			res = run(t, s, p, target(p, tok.AccessToken))
			if res.OK || res.Status != integration.ConnectionReauthorizationNeeded || !strings.Contains(res.Message, "Reconnect the integration") {
				t.Fatalf("revoked: %+v", res)
			}
			if strings.Contains(fmt.Sprint(res), tok.AccessToken) {
				t.Fatal("the result shows the token")
			}
		})
	}
}

func TestOAuthTestCallsMissingScope(t *testing.T) {
	for _, c := range []struct {
		platform string
		granted  []string
		want     string
	}{
		{"google_calendar", []string{"https://www.googleapis.com/auth/calendar.events"}, "it needs one of " + calendarReadonly},
		{"jira", []string{"read:jira-work", "offline_access"}, "the grant lacks the scope read:jira-user"},
		{"tiktok", []string{"message.list.read"}, "the grant lacks the scope user.info.basic"},
	} {
		t.Run(c.platform, func(t *testing.T) {
			s := fakeplatforms.Start(t, c.platform, fakeplatforms.Options{})
			res := run(t, s, c.platform, target(c.platform, s.Mint(c.granted...).AccessToken))
			if res.OK || res.Status != integration.ConnectionError || !strings.Contains(res.Message, c.want) || !strings.Contains(res.Message, "Reconnect") {
				t.Fatalf("%+v", res)
			}
		})
	}
}

func TestOAuthTestCallsRateLimitedAndDown(t *testing.T) {
	for _, p := range fakeplatforms.Platforms {
		t.Run(p, func(t *testing.T) {
			s := fakeplatforms.Start(t, p, fakeplatforms.Options{})
			tg := target(p, s.Mint().AccessToken)
			s.RateLimitAPI(1)
			res := run(t, s, p, tg)
			if res.OK || res.Status != integration.ConnectionError || !strings.Contains(res.Message, "rate-limiting") {
				t.Fatalf("rate limited: %+v", res)
			}
			s.FailAPI(503, 1)
			res = run(t, s, p, tg)
			if res.OK || res.Status != integration.ConnectionError || !strings.Contains(res.Message, "unavailable (HTTP 503)") {
				t.Fatalf("503: %+v", res)
			}
			s.FailAPI(429, 1)
			res = run(t, s, p, tg)
			if res.OK || !strings.Contains(res.Message, "rate-limiting") {
				t.Fatalf("429: %+v", res)
			}
			if !run(t, s, p, tg).OK {
				t.Fatal("not connected once the platform is back")
			}
		})
	}
	// Slack says how long to wait.
	s := fakeplatforms.Start(t, "slack", fakeplatforms.Options{})
	tg := target("slack", s.Mint().AccessToken)
	s.RateLimitAPI(1)
	if res := run(t, s, "slack", tg); !strings.Contains(res.Message, "try again in 30s") || res.Details["retry_after_seconds"] != 30 {
		t.Fatalf("slack: %+v", res)
	}
	// Slack's expired token is an ok:false, not a reconnect.
	s.ExpireAccessTokens()
	if res := run(t, s, "slack", tg); res.Status != integration.ConnectionError || res.Details["platform_error"] != "token_expired" {
		t.Fatalf("slack expired: %+v", res)
	}
}

func TestOAuthTestCallsJiraSites(t *testing.T) {
	s := fakeplatforms.Start(t, "jira", fakeplatforms.Options{})
	s.Accounts(fakeplatforms.Account{ID: "c1", URL: "https://one.atlassian.net", Name: "one"},
		fakeplatforms.Account{ID: "c2", URL: "https://two.atlassian.net", Name: "two"})
	tok := s.Mint().AccessToken
	res := run(t, s, "jira", target("jira", tok))
	if res.OK || res.Status != "action_required" || !strings.Contains(res.Message, "config.cloud_id") || len(res.Details["sites"].([]map[string]any)) != 2 {
		t.Fatalf("several sites: %+v", res)
	}
	tg := target("jira", tok)
	tg.Config = map[string]any{"cloud_id": "c2"}
	if res := run(t, s, "jira", tg); !res.OK || res.Message != "Connected to Jira as Mia Krystof on the site two (https://two.atlassian.net)." {
		t.Fatalf("chosen site: %+v", res)
	}
	tg.Config = map[string]any{"cloud_id": "c9"}
	if res := run(t, s, "jira", tg); res.OK || res.Status != "action_required" || !strings.Contains(res.Message, "c9") {
		t.Fatalf("site outside the grant: %+v", res)
	}
}

// reauthErr is how a token source says the grant is gone.
type reauthErr struct{}

func (reauthErr) Error() string                 { return "invalid_grant" }
func (reauthErr) ReauthorizationRequired() bool { return true }

type tempErr struct{}

func (tempErr) Error() string   { return "token endpoint 503" }
func (tempErr) Temporary() bool { return true }

// The Tester routes OAuth platforms to their catalog test calls with the
// token source's token, and turns its failures into results.
func TestTesterRunsOAuthPlatforms(t *testing.T) {
	ctx := context.Background()
	secrets, err := embedded.OpenSecrets(filepath.Join(t.TempDir(), "secrets"))
	if err != nil {
		t.Fatal(err)
	}
	s := fakeplatforms.Start(t, "tiktok", fakeplatforms.Options{})
	tok := s.Mint()
	ref := integration.SecretRef{AccountID: "acc1", IntegrationID: "int1"}
	ver, err := secrets.PutSecret(ctx, ref, map[string]string{"access_token": tok.AccessToken, "external_account_id": "-000fakeOpenId0001"})
	if err != nil {
		t.Fatal(err)
	}
	it := &integration.Integration{ID: "int1", AccountID: "acc1", Platform: "tiktok",
		Credentials: integration.CredentialsRef{SecretName: ver.Name, VersionID: ver.VersionID}}
	var tokErr error
	tester := &connector.Tester{Integrations: &integration.Service{Secrets: secrets}, HTTP: s.Client(),
		Tokens: func(_ context.Context, got *integration.Integration) (string, error) {
			if got.ID != "int1" {
				t.Errorf("token asked for %s", got.ID)
			}
			return tok.AccessToken, tokErr
		}}
	res, err := tester.Run(ctx, it)
	if err != nil || !res.OK {
		t.Fatalf("%+v %v", res, err)
	}
	tokErr = fmt.Errorf("refresh: %w", reauthErr{})
	if res, err := tester.Run(ctx, it); err != nil || res.Status != integration.ConnectionReauthorizationNeeded {
		t.Fatalf("grant gone: %+v %v", res, err)
	}
	tokErr = fmt.Errorf("refresh: %w", connector.ErrReauthorize)
	if res, err := tester.Run(ctx, it); err != nil || res.Status != integration.ConnectionReauthorizationNeeded {
		t.Fatalf("grant gone (sentinel): %+v %v", res, err)
	}
	// The token lifecycle's own errors.
	tokErr = &connector.Error{Kind: connector.ErrAuth, Code: "reauthorization_required", Message: "connect again"}
	if res, err := tester.Run(ctx, it); err != nil || res.Status != integration.ConnectionReauthorizationNeeded {
		t.Fatalf("grant gone (connector error): %+v %v", res, err)
	}
	tokErr = &connector.Error{Kind: connector.ErrUnavailable, Message: "token endpoint down"}
	if res, err := tester.Run(ctx, it); err != nil || res.Status != integration.ConnectionError || !strings.Contains(res.Message, "try again") {
		t.Fatalf("token endpoint down (connector error): %+v %v", res, err)
	}
	tokErr = tempErr{}
	if res, err := tester.Run(ctx, it); err != nil || res.Status != integration.ConnectionError || !strings.Contains(res.Message, "try again") {
		t.Fatalf("token endpoint down: %+v %v", res, err)
	}
	tokErr = errors.New("store unreachable")
	if _, err := tester.Run(ctx, it); err == nil {
		t.Fatal("an unknown token failure should be an error")
	}
	tokErr = nil
	it.Credentials = integration.CredentialsRef{}
	if res, _ := tester.Run(ctx, it); res.OK || !strings.Contains(res.Message, "not connected to TikTok Business Messaging yet") {
		t.Fatalf("never connected: %+v", res)
	}
}

// Values go into the test call's URL escaped for where they land.
func TestOAuthTestCallsEscapeValues(t *testing.T) {
	s := fakeplatforms.Start(t, "tiktok", fakeplatforms.Options{})
	s.Accounts(fakeplatforms.Account{ID: "a&b=c d/e", Name: "odd"})
	tg := target("tiktok", s.Mint().AccessToken)
	tg.AccountID = "a&b=c d/e"
	if res := run(t, s, "tiktok", tg); !res.OK {
		t.Fatalf("%+v", res)
	}
}
