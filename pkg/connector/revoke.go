package connector

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// Revoker ends OAuth grants at the platforms that let an app do so, when
// an integration is deleted: Google through its revocation endpoint
// (RFC 7009, form token=; revoking the refresh token ends the whole
// grant), Slack through auth.revoke called with the token. The others
// publish no revocation Joinery can rely on; their grants end when the
// user removes the app on the platform.
type Revoker struct {
	HTTP    *http.Client // the SSRF-safe client
	Catalog *Catalog     // nil: the built-in catalog
}

// revokeStyles is how each revocable platform's revoke_url is called.
var revokeStyles = map[string]string{
	"google_calendar": "rfc7009",
	"slack":           "slack_auth_revoke",
}

func (r *Revoker) entry(platform string) (*Entry, string, bool) {
	c := r.Catalog
	if c == nil {
		c = NewCatalog()
	}
	e, ok := c.Entry(platform)
	style := revokeStyles[platform]
	if !ok || e.OAuth == nil || e.OAuth.RevokeURL == "" || style == "" {
		return nil, "", false
	}
	return e, style, true
}

// Revokes says whether a platform's grants are revoked at teardown.
func (r *Revoker) Revokes(platform string) bool {
	_, _, ok := r.entry(platform)
	return ok
}

// Revoke ends the grant the stored tokens belong to. A grant the platform
// says is already gone is revoked: nil. Failures are *Error, their
// message safe to show (no token, no answer body).
func (r *Revoker) Revoke(ctx context.Context, platform string, tokens map[string]string) error {
	e, style, ok := r.entry(platform)
	if !ok {
		return nil
	}
	var req *http.Request
	var err error
	switch style {
	case "rfc7009":
		tok := tokens["refresh_token"]
		if tok == "" {
			tok = tokens["access_token"]
		}
		if tok == "" {
			return nil // nothing was ever granted
		}
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, e.OAuth.RevokeURL, strings.NewReader(url.Values{"token": {tok}}.Encode()))
		if err == nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	case "slack_auth_revoke":
		if tokens["access_token"] == "" {
			return nil
		}
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, e.OAuth.RevokeURL, nil)
		if err == nil {
			req.Header.Set("Authorization", "Bearer "+tokens["access_token"])
		}
	}
	if err != nil {
		return fmt.Errorf("revoke at %s: %w", platform, err)
	}
	resp, err := r.HTTP.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &Error{Kind: ErrUnavailable, Message: fmt.Sprintf("%s's revocation endpoint could not be reached (%s).", e.DisplayName, safeNetError(err)), Err: err}
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var ans any
	_ = json.Unmarshal(raw, &ans)
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		return &Error{Kind: ErrRateLimited, Status: resp.StatusCode, RetryAfter: retryAfterOf(resp),
			Message: fmt.Sprintf("%s is rate-limiting the revocation.", e.DisplayName)}
	case resp.StatusCode >= 500:
		return &Error{Kind: ErrUnavailable, Status: resp.StatusCode,
			Message: fmt.Sprintf("%s's revocation endpoint is unavailable (HTTP %d).", e.DisplayName, resp.StatusCode)}
	}
	switch style {
	case "rfc7009":
		// RFC 7009 §2.2: an invalid token is not an error; Google answers
		// 400 invalid_token for a token already revoked or expired.
		if resp.StatusCode/100 == 2 || str(ans, "error") == "invalid_token" {
			return nil
		}
		return &Error{Kind: ErrOther, Status: resp.StatusCode, Code: str(ans, "error"),
			Message: fmt.Sprintf("%s refused the revocation (HTTP %d %s).", e.DisplayName, resp.StatusCode, str(ans, "error"))}
	default:
		if str(ans, "ok") == "true" {
			return nil
		}
		code := str(ans, "error")
		if slices.Contains(slackReauth, code) {
			return nil // the token no longer works: nothing left to revoke
		}
		kind := ErrOther
		if code == "ratelimited" {
			kind = ErrRateLimited
		}
		if code == "token_expired" {
			kind = ErrAuth
		}
		return &Error{Kind: kind, Status: resp.StatusCode, Code: code,
			Message: fmt.Sprintf("%s refused auth.revoke (%s).", e.DisplayName, or(code, fmt.Sprintf("HTTP %d", resp.StatusCode)))}
	}
}
