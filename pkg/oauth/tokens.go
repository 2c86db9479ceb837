package oauth

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/integration"
)

const (
	// DefaultRefreshMargin is how long before its expiry an access token
	// is refreshed when the catalog does not say.
	DefaultRefreshMargin = 5 * time.Minute
	// MinRefreshDeadline is the least time a caller must have left to
	// take the lease and refresh: enough for the token call and the write
	// of its answer, so a Lambda about to time out never uses a refresh
	// token whose replacement it cannot store.
	MinRefreshDeadline = 15 * time.Second
	// leaseFor is how long a lease holds: longer than the token call and
	// the write together, so no second holder starts while the first is
	// still at it.
	leaseFor = 60 * time.Second
	// tokenCallTimeout bounds the call to the platform's token endpoint.
	tokenCallTimeout = 20 * time.Second
	// writeTimeout bounds the write of an answer, which is made even if
	// the caller's context has ended: the platform has used the refresh
	// token, and the answer holds its only replacement.
	writeTimeout = 10 * time.Second
	// pollEvery is how often a caller waiting for another's refresh looks
	// at the lease again.
	pollEvery = 250 * time.Millisecond
	// validSkew: an access token this close to its expiry is not handed
	// out, as it may expire on the way.
	validSkew = 10 * time.Second
)

// AppSource gives a platform's app credentials (appcreds.Apps).
type AppSource interface {
	App(ctx context.Context, platform string) (map[string]string, error)
}

// EventLog keeps an integration's events (the sync store).
type EventLog interface {
	AddEvents(ctx context.Context, evs []integration.SyncEvent) error
}

// Tokens gives every platform call of an OAuth integration a valid access
// token. Tokens are read from the secret's current version, never from
// the version the integration points at: a refresh by any process is
// seen by all at once. A refresh happens under the integration's token
// lease, so however many Lambdas need a token at once, the platform sees
// one refresh and a rotating refresh token is used once.
//
// The integration's CredentialsRef still points at a version: the one the
// last refresh (or connect) wrote, moved on after each refresh so that it
// stays a version that exists. Nothing reads tokens through it.
type Tokens struct {
	Leases       integration.TokenLeases
	Secrets      integration.CurrentSecrets
	Apps         AppSource
	Catalog      *connector.Catalog
	HTTP         *http.Client
	Integrations *integration.Service
	Events       EventLog
	Now          func() time.Time
	// Wait pauses a caller waiting for another's refresh; it returns
	// early with ctx's error. It defaults to a timer; tests give one
	// that does not sleep through virtual time.
	Wait func(ctx context.Context, d time.Duration) error

	// crashAfterAnswer, in tests, stops a holder right after the
	// platform answered, as a process killed there would: nothing
	// written, the lease not released.
	crashAfterAnswer func() bool
}

// errCrashed is what a holder stopped by crashAfterAnswer returns.
var errCrashed = errors.New("stopped after the token endpoint answered")

func (t *Tokens) now() time.Time {
	if t.Now == nil {
		return time.Now().UTC()
	}
	return t.Now().UTC()
}

func (t *Tokens) wait(ctx context.Context, d time.Duration) error {
	if t.Wait != nil {
		return t.Wait(ctx, d)
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-tm.C:
		return nil
	}
}

// AccessToken returns a valid access token for the integration, refreshing
// it first when it is within the platform's refresh margin of its expiry.
// A grant the platform no longer honours is a *connector.Error of kind
// ErrAuth (the integration's connection_status is then
// reauthorization_required, with one connection event saying why); a
// token endpoint that is down or slow is one of kind ErrUnavailable, the
// status unchanged. Errors never carry a token.
func (t *Tokens) AccessToken(ctx context.Context, it *integration.Integration) (string, error) {
	e, err := t.entry(it)
	if err != nil {
		return "", err
	}
	ts, err := t.valid(ctx, it, e, func(ts TokenSet, now time.Time) bool { return expiring(e, ts, now) })
	if err != nil {
		return "", err
	}
	return ts.AccessToken, nil
}

// Renew refreshes the integration's tokens now if its access token would
// be within the refresh margin at before (a run due then), or if its
// refresh token has gone unused for the platform's keepalive_days: the
// scheduler's work, so that a grant does not lapse unused.
func (t *Tokens) Renew(ctx context.Context, it *integration.Integration, before time.Time) error {
	e, err := t.entry(it)
	if err != nil {
		return err
	}
	_, err = t.valid(ctx, it, e, func(ts TokenSet, now time.Time) bool {
		return expiring(e, ts, before) || idle(e, ts, now)
	})
	return err
}

func (t *Tokens) entry(it *integration.Integration) (*connector.Entry, error) {
	e, ok := t.Catalog.Entry(it.Platform)
	if !ok || e.OAuth == nil {
		return nil, integration.Errorf(integration.EUNPROCESSABLE, "%s does not connect through OAuth.", it.Platform)
	}
	return e, nil
}

// expiring: the access token is within the refresh margin of its expiry
// at t. A token without an expiry never is.
func expiring(e *connector.Entry, ts TokenSet, t time.Time) bool {
	margin := DefaultRefreshMargin
	if s := e.OAuth.RefreshMarginSeconds; s > 0 {
		margin = time.Duration(s) * time.Second
	}
	return !ts.ExpiresAt.IsZero() && !t.Before(ts.ExpiresAt.Add(-margin))
}

// idle: the refresh token has gone unused for the platform's
// keepalive_days, after which it may lapse.
func idle(e *connector.Entry, ts TokenSet, now time.Time) bool {
	renew := RenewAt(e, ts.ObtainedAt)
	return !renew.IsZero() && ts.RefreshToken != "" && !now.Before(renew)
}

// RenewAt is when tokens obtained at obtained are due a refresh to keep
// the grant alive, unused: the platform's keepalive_days later (zero: the
// platform needs none). The connect flow records it too
// (OAuthInfo.RenewAt), so that the scheduler's index holds every grant
// that needs keeping alive.
func RenewAt(e *connector.Entry, obtained time.Time) time.Time {
	if e.OAuth == nil || e.OAuth.KeepaliveDays <= 0 || obtained.IsZero() {
		return time.Time{}
	}
	return obtained.Add(time.Duration(e.OAuth.KeepaliveDays) * 24 * time.Hour).UTC()
}

// usable: the access token can still be handed out.
func usable(ts TokenSet, now time.Time) bool {
	return ts.AccessToken != "" && (ts.ExpiresAt.IsZero() || now.Add(validSkew).Before(ts.ExpiresAt))
}

// deadlineLeft is how long ctx has left (a day when it has no deadline).
func deadlineLeft(ctx context.Context) time.Duration {
	if d, ok := ctx.Deadline(); ok {
		return time.Until(d)
	}
	return 24 * time.Hour
}

// valid returns the integration's current tokens, refreshed first when
// need says so: by this caller under the lease, or by whoever holds it
// while this one waits (or uses the old token while it is still valid).
func (t *Tokens) valid(ctx context.Context, it *integration.Integration, e *connector.Entry, need func(TokenSet, time.Time) bool) (TokenSet, error) {
	ref := secretRef(it)
	for {
		_, vals, err := t.Secrets.CurrentSecret(ctx, ref)
		if integration.ErrorCode(err) == integration.ENOTFOUND {
			return TokenSet{}, &connector.Error{Kind: connector.ErrAuth, Message: "The integration is not connected yet; connect it first."}
		}
		if err != nil {
			return TokenSet{}, unavailable(e, "its stored tokens could not be read", err)
		}
		ts, err := ParseTokenSet(vals)
		if err != nil {
			return TokenSet{}, err
		}
		now := t.now()
		if !need(ts, now) {
			return ts, nil
		}
		if deadlineLeft(ctx) >= MinRefreshDeadline {
			holder := newHolder()
			prev, ok, err := t.Leases.AcquireTokenLease(ctx, it.ID, holder, now, now.Add(leaseFor))
			if err != nil {
				if usable(ts, now) {
					return ts, nil
				}
				return TokenSet{}, unavailable(e, "its token lease could not be taken", err)
			}
			if ok {
				next, done, err := t.refresh(ctx, it, e, holder, prev != nil, need)
				if done || err != nil {
					return next, err
				}
				continue
			}
		}
		if usable(ts, now) {
			return ts, nil
		}
		if err := t.wait(ctx, pollEvery); err != nil {
			return TokenSet{}, unavailable(e, "waiting for another refresh of its access token took too long", err)
		}
	}
}

// refresh runs under the lease holder holds: it reads the tokens again
// (another holder may have refreshed them since they were read), calls
// the token endpoint, stores the answer as a new current version whose
// idempotency token is the lease's, and then frees the lease. done false:
// the tokens changed under it (a reconnect); the caller starts again.
// taken: the lease was taken over from a holder that stopped without
// freeing it, perhaps after the platform had answered it.
func (t *Tokens) refresh(ctx context.Context, it *integration.Integration, e *connector.Entry, holder string, taken bool, need func(TokenSet, time.Time) bool) (TokenSet, bool, error) {
	held := true
	defer func() {
		if held {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
			defer cancel()
			_ = t.Leases.ReleaseTokenLease(rctx, it.ID, holder)
		}
	}()
	ref := secretRef(it)
	base, vals, err := t.Secrets.CurrentSecret(ctx, ref)
	if err != nil {
		return TokenSet{}, false, err // the caller's next read says what it means
	}
	ts, err := ParseTokenSet(vals)
	if err != nil {
		return TokenSet{}, false, err
	}
	now := t.now()
	if !need(ts, now) {
		return ts, true, nil // refreshed by the holder before
	}
	cur, err := t.Integrations.Get(ctx, tokenActor(it.AccountID), it.ID)
	if err != nil {
		return TokenSet{}, true, err
	}
	// A grant found gone is not tried again (nor recorded again) until
	// the integration is connected anew.
	if cur.ConnectionStatus == integration.ConnectionReauthorizationNeeded && cur.ConnectionCheckedAt != nil && !cur.ConnectionCheckedAt.Before(ts.ObtainedAt) {
		return TokenSet{}, true, reauthError(cur.ConnectionMessage)
	}
	if ts.RefreshToken == "" {
		if usable(ts, now) {
			return ts, true, nil
		}
		return TokenSet{}, true, t.reauthorize(ctx, cur, e, "", fmt.Sprintf("The %s access token expired and %s gave no refresh token; connect the integration again.", e.DisplayName, e.DisplayName), "no_refresh_token")
	}
	app, err := t.Apps.App(ctx, it.Platform)
	if err != nil {
		return TokenSet{}, true, err
	}
	callCtx, cancel := context.WithTimeout(ctx, tokenCallTimeout)
	g, err := Exchange(callCtx, t.HTTP, e, app, params(e, cur, ts),
		url.Values{"grant_type": {"refresh_token"}, "refresh_token": {ts.RefreshToken}})
	cancel()
	if t.crashAfterAnswer != nil && t.crashAfterAnswer() {
		held = false
		return TokenSet{}, true, errCrashed
	}
	var te *TokenError
	switch {
	case errors.As(err, &te) && te.Reauthorize:
		reason, msg := "grant_revoked", fmt.Sprintf("%s no longer accepts Joinery's authorization (%s); connect the integration again.", e.DisplayName, te.Code)
		if taken && e.OAuth.RefreshRotation != "never" && e.OAuth.RefreshReuseSeconds == 0 {
			reason = "refresh_interrupted"
			msg = fmt.Sprintf("%s refused the stored refresh token (%s): an earlier refresh stopped after %s had replaced that token and before the replacement was stored, and %s accepts a replaced refresh token no more. Connect the integration again.",
				e.DisplayName, te.Code, e.DisplayName, e.DisplayName)
		}
		return TokenSet{}, true, t.reauthorize(ctx, cur, e, te.Code, msg, reason)
	case err != nil:
		if usable(ts, now) {
			return ts, true, nil // try again on a later call
		}
		// A platform that publishes no code for a dead refresh token
		// (TikTok) still says when the token lapses: a refusal after that
		// moment means the grant is gone.
		if te != nil && !te.Temporary && !ts.RefreshExpiresAt.IsZero() && !now.Before(ts.RefreshExpiresAt) {
			return TokenSet{}, true, t.reauthorize(ctx, cur, e, te.Code,
				fmt.Sprintf("%s refused the refresh token, which expired at %s (%s); connect the integration again.", e.DisplayName, ts.RefreshExpiresAt.UTC().Format(time.RFC3339), te.Code),
				"refresh_token_expired")
		}
		if te != nil && !te.Temporary {
			return TokenSet{}, true, &connector.Error{Kind: connector.ErrInvalid, Status: te.Status, Code: te.Code,
				Message: fmt.Sprintf("%s refused to refresh the access token (%s); if this goes on, connect the integration again.", e.DisplayName, te.Code), Err: err}
		}
		return TokenSet{}, true, unavailable(e, "its token endpoint did not answer", err)
	case g.AccessToken == "":
		return TokenSet{}, true, unavailable(e, "its token endpoint answered without an access token", nil)
	}
	next := merge(ts, g, now)

	// The platform has answered: its answer is stored even if the caller
	// gave up meanwhile.
	wctx, wcancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
	defer wcancel()
	// A reconnect that stored new tokens while the platform was called
	// wins: this answer belongs to the grant it replaced.
	if cv, _, err := t.Secrets.CurrentSecret(wctx, ref); err == nil && cv.VersionID != base.VersionID {
		return TokenSet{}, false, nil
	}
	v, err := t.Secrets.PutSecretVersion(wctx, ref, requestToken(holder), next.Values())
	if integration.ErrorCode(err) == integration.ENOTFOUND {
		return TokenSet{}, true, integration.Errorf(integration.ENOTFOUND, "Integration %q not found.", it.ID)
	}
	if err != nil {
		// The lease is left to run out, as a holder that died here would
		// leave it: the next holder refreshes again with the refresh
		// token stored (which a platform that rotates them accepts within
		// its reuse window), knowing this refresh was cut short.
		held = false
		return TokenSet{}, true, unavailable(e, "its refreshed tokens could not be stored", err)
	}
	// Best effort: the tokens are stored; an item left pointing at the
	// previous version is moved on by the next refresh.
	_ = t.Integrations.RecordTokenRefresh(wctx, tokenActor(it.AccountID), it.ID, integration.TokenRefresh{
		Version: v, Fields: sortedKeys(next.Values()), Scopes: next.Scopes, ExpiresAt: next.ExpiresAt, At: now, RenewAt: RenewAt(e, now)})
	return next, true, nil
}

// merge is the stored tokens after a refresh answered g at now. An
// answer without a refresh token keeps the stored one (Google's do not
// rotate); expiries and scopes are each answer's own.
func merge(ts TokenSet, g *Grant, now time.Time) TokenSet {
	next := ts
	next.AccessToken, next.ObtainedAt = g.AccessToken, now
	if g.TokenType != "" {
		next.TokenType = g.TokenType
	}
	next.ExpiresAt = time.Time{}
	if g.ExpiresIn > 0 {
		next.ExpiresAt = now.Add(g.ExpiresIn)
	}
	if g.RefreshToken != "" && g.RefreshToken != ts.RefreshToken {
		next.RefreshToken, next.RefreshExpiresAt = g.RefreshToken, time.Time{}
	}
	if g.RefreshExpiresIn > 0 {
		next.RefreshExpiresAt = now.Add(g.RefreshExpiresIn)
	}
	if g.Scopes != nil {
		next.Scopes = g.Scopes
	}
	return next
}

// reauthorize records that the platform no longer honours the grant: the
// integration's connection_status and one connection event, with the
// reason. Only the lease holder gets here, and the next holder sees the
// status, so the event is recorded once.
func (t *Tokens) reauthorize(ctx context.Context, it *integration.Integration, e *connector.Entry, code, msg, reason string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
	defer cancel()
	now := t.now()
	if err := t.Integrations.RecordConnection(ctx, tokenActor(it.AccountID), it.ID, integration.ConnectionReauthorizationNeeded, msg, now); err != nil {
		return fmt.Errorf("record that %s must be reauthorized: %w", it.ID, err)
	}
	details := map[string]any{"connection_status": string(integration.ConnectionReauthorizationNeeded), "reason": reason}
	if code != "" {
		details["platform_code"] = code
	}
	if t.Events != nil {
		_ = t.Events.AddEvents(ctx, []integration.SyncEvent{{ID: integration.NewID(), IntegrationID: it.ID, Type: "connection", Status: "error",
			Message: msg, At: now, Details: details}})
	}
	return reauthError(msg)
}

// ReauthorizeCode is the Code of the error AccessToken returns when the
// integration must be connected again.
const ReauthorizeCode = "reauthorization_required"

func reauthError(msg string) error {
	if msg == "" {
		msg = "The platform no longer accepts Joinery's authorization; connect the integration again."
	}
	return &connector.Error{Kind: connector.ErrAuth, Code: ReauthorizeCode, Message: msg, Err: connector.ErrReauthorize}
}

// IsReauthorize reports whether err says the integration must be
// connected again.
func IsReauthorize(err error) bool { return errors.Is(err, connector.ErrReauthorize) }

func unavailable(e *connector.Entry, what string, err error) error {
	return &temporaryError{&connector.Error{Kind: connector.ErrUnavailable,
		Message: fmt.Sprintf("Could not get a %s access token: %s; Joinery tries again later.", e.DisplayName, what), Err: err}}
}

// temporaryError is a connector.Error of kind ErrUnavailable (what the
// syncer retries) that says so to callers asking Temporary (the
// connection tester).
type temporaryError struct{ ce *connector.Error }

func (e *temporaryError) Error() string   { return e.ce.Error() }
func (e *temporaryError) Unwrap() error   { return e.ce }
func (e *temporaryError) Temporary() bool { return true }

// params are the values the refresh URL's template may use ({shop}).
func params(e *connector.Entry, it *integration.Integration, ts TokenSet) map[string]string {
	out := map[string]string{}
	for name, src := range e.Params {
		switch {
		case src == "site_url":
			out[name] = it.ExternalSiteURL
		case src == "site_subdomain":
			if u, err := url.Parse(it.ExternalSiteURL); err == nil {
				out[name], _, _ = strings.Cut(u.Hostname(), ".")
			}
		case src == "account_id":
			out[name] = ts.ExternalAccountID
		case strings.HasPrefix(src, "config."):
			if v, ok := it.Config[strings.TrimPrefix(src, "config.")].(string); ok {
				out[name] = v
			}
		}
	}
	return out
}

func tokenActor(accountID string) integration.Actor {
	return integration.Actor{Subject: "joinery:tokens", AccountID: accountID, Role: integration.RoleOwner}
}

func secretRef(it *integration.Integration) integration.SecretRef {
	return integration.SecretRef{AccountID: it.AccountID, IntegrationID: it.ID, SiteID: it.SiteID, Platform: it.Platform}
}

// newHolder names one take of a lease: a random UUID.
func newHolder() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// requestToken is the idempotency token of the secret version a lease
// holder writes: the lease's own name, so a write retried (by the SDK,
// after a timeout) under the same lease makes no second version.
func requestToken(holder string) string { return holder }

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
