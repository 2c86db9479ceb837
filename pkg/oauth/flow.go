package oauth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/joinery/joinery/pkg/appcreds"
	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/integration"
)

// Flow is the connect flow of OAuth platforms: the authorize URL a user
// is sent to, and the callback the platform sends them back to.
type Flow struct {
	Integrations *integration.Service
	States       integration.OAuthStates
	Secrets      integration.Secrets
	Apps         *appcreds.Apps
	Catalog      *connector.Catalog
	HTTP         *http.Client
	// PublicURL is the API's own origin: the redirect URI is
	// <PublicURL>/v1/oauth/{platform}/callback.
	PublicURL string
	// ReturnOrigins are the origins a user may be sent back to.
	ReturnOrigins []string
	Now           func() time.Time
	Rand          io.Reader
	// Connected, when set, is called once a grant is stored and the
	// integration connected (a first connect or a reauthorization), with
	// the integration as stored and the tokens granted: Shopify's webhooks
	// are subscribed there. Best effort, within ConnectedTimeout: its
	// error is logged, never the callback's outcome.
	Connected func(ctx context.Context, it *integration.Integration, tokens map[string]string) error
	// Log is where a failed Connected is told (nil: slog's default).
	Log *slog.Logger
}

// ConnectedTimeout bounds Flow.Connected: the user waits on the callback.
const ConnectedTimeout = 10 * time.Second

// AuthorizeResult is where to send the user to consent, and until when.
type AuthorizeResult struct {
	AuthorizeURL string
	ExpiresAt    time.Time
}

// Errors a callback ends in, given to the return URL as error=.
const (
	ErrAccessDenied    = "access_denied"
	ErrExchangeFailed  = "exchange_failed"
	ErrAccountMismatch = "account_mismatch"
	ErrShopMismatch    = "shop_mismatch"
	ErrNotConfigured   = "not_configured"
)

// Statuses a callback ends in, given to the return URL as status=.
const (
	StatusConnected      = "connected"
	StatusActionRequired = "action_required"
	StatusError          = "error"
)

// shopifyClockSkew is how far a Shopify callback's timestamp may be from
// now.
const shopifyClockSkew = 90 * time.Second

func (f *Flow) now() time.Time {
	if f.Now == nil {
		return time.Now().UTC()
	}
	return f.Now().UTC()
}

func (f *Flow) random(n int) (string, error) {
	r := f.Rand
	if r == nil {
		r = rand.Reader
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", fmt.Errorf("oauth: random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// RedirectURI is the callback URL registered with a platform.
func (f *Flow) RedirectURI(platform string) string {
	return strings.TrimRight(f.PublicURL, "/") + "/v1/oauth/" + platform + "/callback"
}

// Authorize starts connecting an integration: it keeps a state for the
// callback and returns the platform's authorize URL.
func (f *Flow) Authorize(ctx context.Context, actor integration.Actor, id, returnURL string) (AuthorizeResult, error) {
	if err := actor.Require(integration.RoleEditor); err != nil {
		return AuthorizeResult{}, err
	}
	it, err := f.Integrations.Get(ctx, actor, id)
	if err != nil {
		return AuthorizeResult{}, err
	}
	e, ok := f.Catalog.Entry(it.Platform)
	if !ok || e.OAuth == nil || e.AuthMode != integration.AuthOAuth2 {
		return AuthorizeResult{}, integration.Invalid(map[string]string{
			"platform": fmt.Sprintf("%s does not connect through OAuth", it.Platform)})
	}
	if msg := f.checkReturnURL(returnURL); msg != "" {
		return AuthorizeResult{}, integration.Invalid(map[string]string{"return_url": msg})
	}
	app, err := f.app(ctx, e)
	if err != nil {
		return AuthorizeResult{}, err
	}
	vars, err := templateVars(e, it)
	if err != nil {
		return AuthorizeResult{}, integration.Invalid(map[string]string{"external_site_url": err.Error()})
	}
	base, err := Fill(e.OAuth.AuthorizeURL, vars)
	if err != nil {
		return AuthorizeResult{}, integration.Invalid(map[string]string{"external_site_url": "required to connect " + e.DisplayName})
	}
	u, err := url.Parse(base)
	if err != nil {
		return AuthorizeResult{}, fmt.Errorf("oauth: %s authorize url: %w", e.Name, err)
	}
	state, err := f.random(32)
	if err != nil {
		return AuthorizeResult{}, err
	}
	q := u.Query()
	q.Set(or(e.OAuth.ClientIDParam, "client_id"), app["client_id"])
	q.Set("response_type", "code")
	q.Set("redirect_uri", f.RedirectURI(e.Name))
	q.Set("scope", strings.Join(e.OAuth.Scopes, e.OAuth.ScopeSeparator))
	q.Set("state", state)
	var verifier string
	if e.OAuth.PKCE {
		if verifier, err = f.random(32); err != nil {
			return AuthorizeResult{}, err
		}
		sum := sha256.Sum256([]byte(verifier))
		q.Set("code_challenge", base64.RawURLEncoding.EncodeToString(sum[:]))
		q.Set("code_challenge_method", "S256")
	}
	for k, v := range e.OAuth.AuthorizeParams {
		q.Set(k, v)
	}
	u.RawQuery = q.Encode()

	expires := f.now().Add(integration.OAuthStateTTL)
	err = f.States.PutOAuthState(ctx, &integration.OAuthState{
		State: state, IntegrationID: it.ID, AccountID: it.AccountID, Platform: it.Platform,
		Verifier: verifier, ReturnURL: returnURL, ExpiresAt: expires,
	})
	if err != nil {
		return AuthorizeResult{}, fmt.Errorf("oauth: keep state: %w", err)
	}
	return AuthorizeResult{AuthorizeURL: u.String(), ExpiresAt: expires}, nil
}

func (f *Flow) checkReturnURL(raw string) string {
	if raw == "" {
		return "required"
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return "must be an absolute http(s) URL"
	}
	origin := strings.ToLower(u.Scheme + "://" + u.Host)
	for _, o := range f.ReturnOrigins {
		if strings.ToLower(strings.TrimRight(strings.TrimSpace(o), "/")) == origin {
			return ""
		}
	}
	return "its origin " + origin + " is not one this deployment returns to"
}

func (f *Flow) app(ctx context.Context, e *connector.Entry) (map[string]string, error) {
	if f.Apps == nil {
		return nil, integration.NotConfigured(e.Platform())
	}
	return f.Apps.App(ctx, e.Name)
}

// templateVars gives the values the entry's URL templates may use that
// are known before a token exists.
func templateVars(e *connector.Entry, it *integration.Integration) (map[string]string, error) {
	vars := map[string]string{}
	for name, src := range e.Params {
		switch {
		case src == "site_url":
			vars[name] = it.ExternalSiteURL
		case src == "site_subdomain":
			if it.ExternalSiteURL == "" {
				continue
			}
			u, err := url.Parse(it.ExternalSiteURL)
			if err != nil || u.Hostname() == "" {
				return nil, errors.New("not a URL")
			}
			vars[name], _, _ = strings.Cut(u.Hostname(), ".")
		case src == "account_id":
			if it.OAuth != nil {
				vars[name] = it.OAuth.ExternalAccountID
			}
		case strings.HasPrefix(src, "config."):
			if s, ok := it.Config[strings.TrimPrefix(src, "config.")].(string); ok {
				vars[name] = s
			}
		}
	}
	return vars, nil
}

// systemActor is who the callback acts as: it carries no user's token,
// only the state the user's authorize request kept.
func systemActor(accountID string) integration.Actor {
	return integration.Actor{Subject: "joinery:oauth", AccountID: accountID, Role: integration.RoleOwner}
}

// Callback handles GET /v1/oauth/{platform}/callback. It returns the URL to 302 to
// (status=connected or status=error&error=...), or an *integration.Error EINVALID when
// the state is missing, expired, reused or forged (the handler shows a 400 page).
func (f *Flow) Callback(ctx context.Context, platform string, query url.Values) (string, error) {
	invalid := integration.Errorf(integration.EINVALID, "This authorization link is unknown, expired or already used. Start connecting again.")
	state := query.Get("state")
	e, ok := f.Catalog.Entry(platform)
	if state == "" || !ok || e.OAuth == nil {
		return "", invalid
	}
	app, appErr := f.app(ctx, e)
	if appErr != nil && integration.ErrorCode(appErr) != integration.EUNPROCESSABLE {
		return "", appErr
	}
	// A forged Shopify callback is refused before its state is taken, so
	// the real one still goes through.
	signed := e.Name == "shopify"
	if signed && appErr == nil && !f.shopifySigned(query, app["client_secret"]) {
		return "", invalid
	}
	st, err := f.States.TakeOAuthState(ctx, state, f.now())
	if integration.ErrorCode(err) == integration.ENOTFOUND {
		return "", invalid
	}
	if err != nil {
		return "", err
	}
	if st.Platform != platform {
		return "", invalid
	}
	actor := systemActor(st.AccountID)
	it, err := f.Integrations.Get(ctx, actor, st.IntegrationID)
	if integration.ErrorCode(err) == integration.ENOTFOUND {
		return "", integration.Errorf(integration.EINVALID, "The integration being connected no longer exists.")
	}
	if err != nil {
		return "", err
	}
	c := &callback{f: f, e: e, it: it, st: st, actor: actor, query: query, app: app}
	if appErr != nil {
		return c.fail(ctx, ErrNotConfigured, integration.ErrorMessage(appErr))
	}
	return c.finish(ctx)
}

// shopifySigned checks a Shopify callback's hmac (HMAC-SHA256 with the
// client secret over the other parameters, sorted) and its timestamp.
func (f *Flow) shopifySigned(query url.Values, secret string) bool {
	got, err := hex.DecodeString(query.Get("hmac"))
	if err != nil || len(got) == 0 || secret == "" {
		return false
	}
	want, _ := hex.DecodeString(ShopifyHMAC(query, secret))
	if !hmac.Equal(want, got) {
		return false
	}
	ts, err := strconv.ParseInt(query.Get("timestamp"), 10, 64)
	if err != nil {
		return false
	}
	skew := f.now().Sub(time.Unix(ts, 0))
	return skew <= shopifyClockSkew && skew >= -shopifyClockSkew
}

// ShopifyHMAC signs a query as Shopify does; tests and fakes use it.
func ShopifyHMAC(query url.Values, secret string) string {
	keys := make([]string, 0, len(query))
	for k := range query {
		if k != "hmac" && k != "signature" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+"="+strings.Join(query[k], ","))
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(strings.Join(parts, "&")))
	return hex.EncodeToString(mac.Sum(nil))
}

type callback struct {
	f     *Flow
	e     *connector.Entry
	it    *integration.Integration
	st    *integration.OAuthState
	actor integration.Actor
	query url.Values
	app   map[string]string
}

// back is the return URL with the outcome.
func (c *callback) back(status, errCode string) string {
	u, err := url.Parse(c.st.ReturnURL)
	if err != nil { // checked when it was kept
		u = &url.URL{}
	}
	q := u.Query()
	q.Set("integration_id", c.it.ID)
	q.Set("status", status)
	if errCode != "" {
		q.Set("error", errCode)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// fail records why the authorization failed and sends the user back with
// the error.
func (c *callback) fail(ctx context.Context, code, message string) (string, error) {
	msg := "Authorization failed (" + code + ")"
	if message != "" {
		msg += ": " + message
	}
	if err := c.f.Integrations.RecordOAuthFailure(ctx, c.actor, c.it.ID, msg, c.f.now()); err != nil {
		return "", err
	}
	return c.back(StatusError, code), nil
}

func (c *callback) finish(ctx context.Context) (string, error) {
	if e := c.query.Get("error"); e != "" {
		return c.fail(ctx, ErrAccessDenied, "the platform answered "+clip(e))
	}
	if c.e.Name == "shopify" {
		if shop := strings.ToLower(c.query.Get("shop")); shop == "" || shop != hostOf(c.it.ExternalSiteURL) {
			return c.fail(ctx, ErrShopMismatch, "the store that answered is not the integration's")
		}
	}
	code := c.query.Get("code")
	if code == "" {
		return c.fail(ctx, ErrExchangeFailed, "the platform sent no code")
	}
	vars, err := templateVars(c.e, c.it)
	if err != nil {
		return c.fail(ctx, ErrExchangeFailed, "the integration's site URL is unusable")
	}
	grant := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {c.f.RedirectURI(c.e.Name)}}
	if c.st.Verifier != "" {
		grant.Set("code_verifier", c.st.Verifier)
	}
	g, err := Exchange(ctx, c.f.HTTP, c.e, c.app, vars, grant)
	if err != nil {
		var te *TokenError
		if errors.As(err, &te) {
			return c.fail(ctx, ErrExchangeFailed, te.Error())
		}
		return c.fail(ctx, ErrExchangeFailed, "the token request could not be made")
	}
	now := c.f.now()
	acct, err := c.account(ctx, g, vars)
	if err != nil {
		return c.fail(ctx, ErrExchangeFailed, err.Error())
	}
	if mismatch(c.it, acct) {
		return c.fail(ctx, ErrAccountMismatch, "the authorization is for another account than the one connected")
	}

	ts := g.TokenSet(now)
	if len(ts.Scopes) == 0 {
		ts.Scopes = slices.Clone(c.e.OAuth.Scopes)
	}
	ts.ExternalAccountID, ts.ExternalAccountName = acct.id, acct.name
	if ts.RefreshToken == "" {
		c.keepRefreshToken(ctx, &ts)
	}
	info := &integration.OAuthInfo{
		Scopes: ts.Scopes, ExternalAccountID: acct.id, ExternalAccountName: acct.name, Sites: acct.sites,
	}
	if !ts.ExpiresAt.IsZero() {
		exp := ts.ExpiresAt
		info.ExpiresAt = &exp
	}
	// A grant the platform lets lapse unused is put in the scheduler's
	// due index from the start, so that it is kept alive even if no run
	// ever uses it.
	if r := RenewAt(c.e, now); !r.IsZero() {
		info.RenewAt = &r
	}
	rec := integration.OAuthGrant{Tokens: ts.Values(), Info: info, Status: integration.ConnectionConnected, Site: acct.site, At: now,
		Check: func(cur *integration.Integration) error {
			if mismatch(cur, acct) {
				return errMismatch
			}
			return nil
		}}
	status := StatusConnected
	if acct.choose {
		rec.Status, rec.Message = integration.ConnectionActionRequired, "The authorization covers several sites: choose one with config."+integration.OAuthSiteConfigKey+"."
		status = StatusActionRequired
	}
	it, err := c.f.Integrations.RecordOAuthGrant(ctx, c.actor, c.it.ID, rec)
	if errors.Is(err, errMismatch) {
		return c.fail(ctx, ErrAccountMismatch, "the authorization is for another account than the one connected")
	}
	if err != nil {
		return "", err
	}
	if rec.Status == integration.ConnectionConnected {
		c.f.connected(ctx, it, rec.Tokens)
	}
	return c.back(status, ""), nil
}

// connected calls the Connected hook, if any, within ConnectedTimeout; a
// failure is logged with the integration's ids and the hook's message,
// any token in it masked, and the user is sent back connected all the
// same.
func (f *Flow) connected(ctx context.Context, it *integration.Integration, tokens map[string]string) {
	if f.Connected == nil || it == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ConnectedTimeout)
	defer cancel()
	if err := f.Connected(ctx, it, tokens); err != nil {
		log := f.Log
		if log == nil {
			log = slog.Default()
		}
		msg := err.Error()
		for _, k := range []string{FieldAccessToken, FieldRefreshToken} {
			if v := tokens[k]; v != "" {
				msg = strings.ReplaceAll(msg, v, "[redacted]")
			}
		}
		log.Warn("after connecting, setting up the integration failed; its next run tries again",
			"platform", it.Platform, "account_id", it.AccountID, "integration_id", it.ID, "error", msg)
	}
}

var errMismatch = errors.New("oauth: another account")

// keepRefreshToken keeps the stored refresh token when a reauthorization
// of the same account brought none (Google gives one only on a consent
// that asks for it): the grant it belongs to still stands.
func (c *callback) keepRefreshToken(ctx context.Context, ts *TokenSet) {
	if !c.it.Credentials.HasCredentials() {
		return
	}
	// The tokens last stored: a refresh may have written after the
	// version the integration was read with.
	var v map[string]string
	var err error
	if cs, ok := c.f.Secrets.(integration.CurrentSecrets); ok {
		ref := integration.SecretRef{AccountID: c.it.AccountID, IntegrationID: c.it.ID, SiteID: c.it.SiteID, Platform: c.it.Platform}
		_, v, err = cs.CurrentSecret(ctx, ref)
	} else {
		v, err = c.f.Integrations.Credentials(ctx, c.it)
	}
	if err != nil {
		return
	}
	old, err := ParseTokenSet(v)
	if err != nil || old.RefreshToken == "" || old.ExternalAccountID != ts.ExternalAccountID {
		return
	}
	ts.RefreshToken, ts.RefreshExpiresAt = old.RefreshToken, old.RefreshExpiresAt
}

// account is who granted access.
type account struct {
	id, name string
	sites    []integration.OAuthSite // a grant covering sites
	site     string                  // the site chosen, for config
	choose   bool                    // several sites and none chosen yet
}

// mismatch: a reauthorization for another platform account than the one
// the integration works with.
func mismatch(it *integration.Integration, a account) bool {
	if a.sites != nil {
		cur, _ := it.Config[integration.OAuthSiteConfigKey].(string)
		if cur == "" {
			return false
		}
		return !slices.ContainsFunc(a.sites, func(s integration.OAuthSite) bool { return s.ID == cur })
	}
	return it.OAuth != nil && it.OAuth.ExternalAccountID != "" && it.OAuth.ExternalAccountID != a.id
}

func (c *callback) account(ctx context.Context, g *Grant, vars map[string]string) (account, error) {
	spec := c.e.OAuth.Account
	switch spec.Source {
	case "token_response":
		a := account{id: lookupString(g.Raw, spec.ID), name: lookupString(g.Raw, spec.Name)}
		if a.id == "" {
			return account{}, errors.New("the token answer names no account")
		}
		return a, nil
	case "callback":
		a := account{id: strings.ToLower(c.query.Get(spec.ID)), name: c.query.Get(spec.Name)}
		if a.id == "" {
			return account{}, errors.New("the callback names no account")
		}
		return a, nil
	case "call":
		return c.callAccount(ctx, g, vars)
	}
	return account{}, fmt.Errorf("unknown account source %q", spec.Source)
}

// maxAccountAnswer bounds what is read of an account lookup.
const maxAccountAnswer = 1 << 20

func (c *callback) callAccount(ctx context.Context, g *Grant, vars map[string]string) (account, error) {
	spec := c.e.OAuth.Account
	v := map[string]string{}
	for k, s := range vars {
		v[k] = s
	}
	endpoint, err := Fill(spec.URL, v)
	if err != nil {
		return account{}, errors.New("the account lookup URL cannot be made")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return account{}, errors.New("the account lookup URL cannot be made")
	}
	for h, tmpl := range c.e.API.Headers {
		req.Header.Set(h, strings.ReplaceAll(tmpl, "{access_token}", g.AccessToken))
	}
	req.Header.Set("Accept", "application/json")
	hc := c.f.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return account{}, errors.New("the account lookup failed: " + reachError(err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAccountAnswer))
	if err != nil {
		return account{}, errors.New("the account lookup failed: " + reachError(err))
	}
	if resp.StatusCode != http.StatusOK {
		return account{}, fmt.Errorf("the account lookup answered HTTP %d", resp.StatusCode)
	}
	if !spec.List {
		var doc map[string]any
		if err := json.Unmarshal(data, &doc); err != nil {
			return account{}, errors.New("the account lookup's answer is not a JSON object")
		}
		a := account{id: lookupString(doc, spec.ID), name: lookupString(doc, spec.Name)}
		if a.id == "" {
			return account{}, errors.New("the account lookup names no account")
		}
		return a, nil
	}
	var list []map[string]any
	if err := json.Unmarshal(data, &list); err != nil {
		return account{}, errors.New("the account lookup's answer is not a JSON array")
	}
	a := account{sites: []integration.OAuthSite{}}
	for _, item := range list {
		s := integration.OAuthSite{ID: lookupString(item, spec.ID), Name: lookupString(item, spec.Name), URL: lookupString(item, spec.SiteURL)}
		if s.ID != "" {
			a.sites = append(a.sites, s)
		}
	}
	if len(a.sites) == 0 {
		return account{}, errors.New("the authorization covers no site")
	}
	pick := func(s integration.OAuthSite) { a.id, a.name, a.site = s.ID, s.Name, s.ID }
	cur, _ := c.it.Config[integration.OAuthSiteConfigKey].(string)
	switch {
	case len(a.sites) == 1:
		pick(a.sites[0])
	case cur != "":
		for _, s := range a.sites {
			if s.ID == cur {
				pick(s)
			}
		}
	default:
		a.choose = true
	}
	return a, nil
}

func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return strings.ToLower(u.Hostname())
}

// clip shortens what a platform put in the callback before it is stored.
func clip(s string) string {
	const max = 100
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
	if len(s) > max {
		return s[:max]
	}
	return s
}
