// Package fakeplatforms runs fake OAuth providers for tests: Google
// Calendar, Slack, Jira (Atlassian), TikTok Business Messaging and
// Shopify. Each fake serves every path of its platform (authorize, token,
// refresh, revoke and the API calls Joinery makes) on one 127.0.0.1
// origin, with the real platform's paths, and follows the platform's
// documented behaviour, quirks included (see the design's PLATFORMS.md and
// the catalog's notes): error shapes, client authentication, single-use
// codes, PKCE, refresh-token rotation and reuse windows, rate-limit
// signals. Expiries follow Options.Now, so tests move a virtual clock
// instead of sleeping.
//
// Where a platform's behaviour is not documented, the fake takes the
// stricter reading and says so where it does.
package fakeplatforms

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/connector"
)

// Platforms are the platform names Start knows.
var Platforms = []string{"google_calendar", "slack", "jira", "tiktok", "shopify"}

// Options configure a fake.
type Options struct {
	// ClientID and ClientSecret are the app credentials the fake accepts
	// ("" → "fake-client-id" / "fake-client-secret").
	ClientID, ClientSecret string
	// Shop is the one shop the Shopify fake serves ("acme" →
	// acme.myshopify.com; "" → "acme").
	Shop string
	// Now is the virtual clock for every expiry (nil: time.Now).
	Now func() time.Time
	// SlackNoRotation: the Slack app has token rotation off, as apps have
	// by default: access tokens never expire and come with no refresh
	// token (default: rotation on).
	SlackNoRotation bool
	// Addr is where New listens ("": a free port on 127.0.0.1).
	Addr string
	// RedirectURI, when set, is the only redirect URI registered for the
	// app; otherwise any absolute http(s) URL is accepted at authorize
	// (and must still be repeated exactly at the token endpoint).
	RedirectURI string
}

// Account is a platform account (or Jira site) a grant covers: Google the
// user's email, Slack the team, Jira a site (cloud id, URL, name), TikTok
// the business account's open_id, Shopify the shop.
type Account struct {
	ID, Name, URL string
}

// Tokens is what Mint hands out.
type Tokens struct {
	AccessToken, RefreshToken string
}

// Code lifetimes: Google, Slack and Atlassian codes last minutes; ten is
// the longest documented and the fake keeps to it for every platform.
const codeLifetime = 10 * time.Minute

// Server is one running fake.
type Server struct {
	platform string
	opts     Options
	srv      *httptest.Server
	mux      *http.ServeMux

	mu        sync.Mutex
	seq       int
	codes     map[string]*authCode
	access    map[string]*accessToken
	refresh   map[string]*refreshToken
	grants    []*grant
	accounts  []Account
	only      []string // scopes the next consents grant (nil: all asked)
	deny      bool
	failToken []int // statuses the next token calls answer
	failAPI   []int // statuses the next API calls answer
	rateAPI   int   // next API calls answered with the platform's rate limit
	refreshes int
	revokes   int
	consented map[string]bool // Google: accounts that consented before (refresh token on first consent only)
	shopify   *shopifyState   // the Shopify fake's shop
}

type grant struct {
	accounts []Account
	scopes   []string
	dead     bool // revoked by the user or by reuse: every token of it fails
	issued   time.Time
}

type authCode struct {
	grant       *grant
	redirectURI string
	challenge   string
	method      string
	expires     time.Time
	used        bool
	offline     bool // a refresh token is due with the access token
}

type accessToken struct {
	grant   *grant
	expires time.Time // zero: never
	expired bool      // ExpireAccessTokens
	revoked bool
}

type refreshToken struct {
	grant     *grant
	issued    time.Time
	expires   time.Time // zero: never
	lastUsed  time.Time
	firstUsed time.Time
	retiredAt time.Time // replaced: still accepted within the platform's reuse rule
	retired   bool
	dead      bool
	prev      *refreshToken // the token this one replaced (Shopify)
}

// Start runs one platform's fake on 127.0.0.1; it is stopped by t.Cleanup.
func Start(t testing.TB, platform string, opts Options) *Server {
	t.Helper()
	s, err := New(platform, opts)
	if err != nil {
		t.Fatalf("fakeplatforms: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// New runs one platform's fake outside a test (a local runner's stand-in
// for the platform); Close stops it.
func New(platform string, opts Options) (*Server, error) {
	if opts.ClientID == "" {
		opts.ClientID = "fake-client-id"
	}
	if opts.ClientSecret == "" {
		opts.ClientSecret = "fake-client-secret"
	}
	if opts.Shop == "" {
		opts.Shop = "acme"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{platform: platform, opts: opts, mux: http.NewServeMux(),
		codes: map[string]*authCode{}, access: map[string]*accessToken{}, refresh: map[string]*refreshToken{},
		consented: map[string]bool{}}
	switch platform {
	case "google_calendar":
		s.accounts = []Account{{ID: "user@example.com", Name: "user@example.com"}}
		s.routesGoogle()
	case "slack":
		s.accounts = []Account{{ID: "T0FAKE0001", Name: "Acme", URL: "https://acme.slack.com/"}}
		s.routesSlack()
	case "jira":
		s.accounts = []Account{{ID: "1324a887-45db-1bf4-1e99-ef0ff456d421", Name: "acme", URL: "https://acme.atlassian.net"}}
		s.routesJira()
	case "tiktok":
		s.accounts = []Account{{ID: "-000fakeOpenId0001", Name: "acme_shop"}}
		s.routesTikTok()
	case "shopify":
		s.accounts = []Account{{ID: opts.Shop + ".myshopify.com", Name: "Acme Store"}}
		s.routesShopify()
	default:
		return nil, fmt.Errorf("unknown platform %q (want one of %s)", platform, strings.Join(Platforms, ", "))
	}
	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s fake: %w", platform, err)
	}
	s.srv = &httptest.Server{Listener: l, Config: &http.Server{Handler: s.mux, ReadHeaderTimeout: 10 * time.Second}}
	s.srv.Start()
	return s, nil
}

// Close stops the fake, after the webhook deliveries under way.
func (s *Server) Close() {
	s.srv.Close()
	if s.shopify != nil {
		s.shopify.inflight.Wait()
	}
}

// URL is the fake's origin, e.g. http://127.0.0.1:PORT.
func (s *Server) URL() string { return s.srv.URL }

// Client is an HTTP client that sends every request to the fake, whatever
// its host (https://oauth2.googleapis.com/token reaches the fake's
// /token), keeping the path, the query and the Host header, as the local
// runner's JOINERY_PLATFORM_ORIGINS does.
func (s *Server) Client() *http.Client {
	return &http.Client{Transport: rewriter{origin: s.srv.URL, next: s.srv.Client().Transport}}
}

// Rewrite returns a URL of the platform (https://slack.com/api/auth.test)
// on the fake's origin, path and query kept.
func (s *Server) Rewrite(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return rawURL
	}
	o, _ := url.Parse(s.srv.URL)
	u.Scheme, u.Host = o.Scheme, o.Host
	return u.String()
}

type rewriter struct {
	origin string
	next   http.RoundTripper
}

func (rw rewriter) RoundTrip(req *http.Request) (*http.Response, error) {
	o, _ := url.Parse(rw.origin)
	r := req.Clone(req.Context())
	r.Host = req.URL.Host
	r.URL.Scheme, r.URL.Host = o.Scheme, o.Host
	return rw.next.RoundTrip(r)
}

// Consent acts as the user consenting: it GETs the authorize URL (on the
// fake's origin, path and query kept), which checks every parameter as the
// platform would, and returns the redirect it answers (code and state, or
// the platform's error redirect) without following it. A request the
// platform answers with an error page instead of a redirect (unknown
// client, unregistered redirect URI) is an error naming what is wrong.
func (s *Server) Consent(authorizeURL string) (string, error) {
	u, err := url.Parse(authorizeURL)
	if err != nil {
		return "", fmt.Errorf("authorize URL: %w", err)
	}
	req, err := http.NewRequest(http.MethodGet, s.srv.URL+u.EscapedPath()+"?"+u.RawQuery, nil)
	if err != nil {
		return "", err
	}
	if strings.HasSuffix(u.Hostname(), ".myshopify.com") {
		req.Host = u.Host // the shop the URL names
	}
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
		return "", fmt.Errorf("%s authorize: HTTP %d: %s", s.platform, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	return resp.Header.Get("Location"), nil
}

// DenyNext makes the next consent a refusal: the platform's access_denied
// redirect.
func (s *Server) DenyNext() { s.mu.Lock(); s.deny = true; s.mu.Unlock() }

// FailToken makes the next n token endpoint calls (code exchanges,
// refreshes, and Google's revocations) answer status: 429 with the platform's rate-limit signal,
// anything else with the platform's error body for that status.
func (s *Server) FailToken(status int, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.failToken = append(s.failToken, status)
	}
}

// FailAPI makes the next n API calls (Slack's auth.revoke included)
// answer status (429: with Retry-After).
func (s *Server) FailAPI(status int, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.failAPI = append(s.failAPI, status)
	}
}

// RateLimitAPI makes the next n API calls answer the platform's own
// rate-limit signal (Slack 429 ratelimited, Google 403 rateLimitExceeded,
// Jira 429 with its X-RateLimit headers, Shopify GraphQL THROTTLED).
func (s *Server) RateLimitAPI(n int) { s.mu.Lock(); s.rateAPI += n; s.mu.Unlock() }

// RevokeGrants revokes every grant, as a user removing the app would:
// every refresh and access token now gets the platform's revoked error.
func (s *Server) RevokeGrants() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, g := range s.grants {
		g.dead = true
	}
}

// Refreshes is how many refresh grants were answered successfully.
func (s *Server) Refreshes() int { s.mu.Lock(); defer s.mu.Unlock(); return s.refreshes }

// Revocations is how many revoke calls were answered successfully.
func (s *Server) Revocations() int { s.mu.Lock(); defer s.mu.Unlock(); return s.revokes }

// Accounts sets the account(s) the next grants cover: for Jira every
// site listed, for the others the first.
func (s *Server) Accounts(accounts ...Account) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.accounts = slices.Clone(accounts)
}

// GrantScopes makes the next consents grant only these scopes of those
// asked (a user unticking a scope on Google's consent screen, or an admin
// restricting an app); none → every scope asked.
func (s *Server) GrantScopes(scopes ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.only = slices.Clone(scopes)
	if len(scopes) == 0 {
		s.only = nil
	}
}

// ExpireAccessTokens makes every access token issued so far expired: API
// calls with them get the platform's expired-token answer.
func (s *Server) ExpireAccessTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.access {
		a.expired = true
	}
}

// Valid says whether a token (access or refresh) would be accepted now.
func (s *Server) Valid(token string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.access[token]; ok {
		return s.accessState(a) == tokOK
	}
	if r, ok := s.refresh[token]; ok {
		return !r.dead && !r.grant.dead && (r.expires.IsZero() || s.now().Before(r.expires))
	}
	return false
}

// Mint creates a grant as if the user had consented to scopes (none: the
// platform's usual scopes) and the code had been exchanged, and returns
// its tokens, so API-side tests need not go through the consent.
func (s *Server) Mint(scopes ...string) Tokens {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(scopes) == 0 {
		if e, ok := connector.NewCatalog().Entry(s.platform); ok && e.OAuth != nil {
			scopes = e.OAuth.Scopes
		}
	}
	g := s.newGrant(slices.Clone(scopes))
	a, r := s.issue(g, !(s.platform == "slack" && s.opts.SlackNoRotation), true)
	t := Tokens{AccessToken: a}
	if r != nil {
		t.RefreshToken = s.tokenOf(r)
	}
	return t
}

// reuseWindow is how long a replaced refresh token still works, as the
// catalog says (Atlassian's 10-minute leeway; Shopify's recovery period,
// counted from the replaced token's first use).
func reuseWindow(platform string) time.Duration {
	e, _ := connector.NewCatalog().Entry(platform)
	return time.Duration(e.OAuth.RefreshReuseSeconds) * time.Second
}

// --- shared machinery (callers hold s.mu) ---

func (s *Server) now() time.Time { return s.opts.Now() }

func (s *Server) newGrant(scopes []string) *grant {
	if s.only != nil {
		var kept []string
		for _, sc := range scopes {
			if slices.Contains(s.only, sc) {
				kept = append(kept, sc)
			}
		}
		scopes = kept
	}
	g := &grant{accounts: slices.Clone(s.accounts), scopes: scopes, issued: s.now()}
	s.grants = append(s.grants, g)
	return g
}

func (s *Server) random(prefix string) string {
	s.seq++
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s%d-%s", prefix, s.seq, hex.EncodeToString(b))
}

func (s *Server) newCode(c *authCode) string {
	v := s.random("code-")
	c.expires = s.now().Add(codeLifetime)
	s.codes[v] = c
	return v
}

type codeFailure int

const (
	codeOK codeFailure = iota
	codeUnknown
	codeUsed
	codeExpired
	codeRedirect
	codeVerifierMissing
	codeVerifierBad
)

// redeem checks and spends a code. A code is spent by its first
// exchange, failed or not after the code itself checks out, as the
// platforms do (a retried exchange must start over with a new consent).
func (s *Server) redeem(code, redirectURI, verifier string, checkRedirect bool) (*authCode, codeFailure) {
	c, ok := s.codes[code]
	switch {
	case !ok:
		return nil, codeUnknown
	case c.used:
		return nil, codeUsed
	case !s.now().Before(c.expires):
		return nil, codeExpired
	}
	c.used = true
	if checkRedirect && redirectURI != c.redirectURI {
		return nil, codeRedirect
	}
	if c.challenge != "" {
		if verifier == "" {
			return nil, codeVerifierMissing
		}
		if s256(verifier) != c.challenge {
			return nil, codeVerifierBad
		}
	}
	return c, codeOK
}

// Lifetimes of what a fake issues.
type lifetimes struct {
	access, refresh time.Duration // 0: never expires
}

func (s *Server) lifetimes(expiring bool) lifetimes {
	switch s.platform {
	case "google_calendar":
		return lifetimes{access: 3599 * time.Second}
	case "slack":
		if s.opts.SlackNoRotation {
			return lifetimes{}
		}
		return lifetimes{access: 12 * time.Hour}
	case "jira":
		return lifetimes{access: time.Hour, refresh: 90 * 24 * time.Hour} // inactivity expiry, renewed on rotation
	case "tiktok":
		return lifetimes{access: 24 * time.Hour, refresh: 365 * 24 * time.Hour}
	case "shopify":
		if !expiring {
			return lifetimes{}
		}
		return lifetimes{access: time.Hour, refresh: 90 * 24 * time.Hour}
	}
	return lifetimes{}
}

func (s *Server) tokenPrefixes() (access, refresh string) {
	switch s.platform {
	case "google_calendar":
		return "ya29.fake", "1//fake"
	case "slack":
		if s.opts.SlackNoRotation {
			return "xoxb-fake", ""
		}
		return "xoxe.xoxb-1-fake", "xoxe-1-fake"
	case "shopify":
		return "shpat_fake", "shprt_fake"
	case "tiktok":
		return "act.fake", "rft.fake"
	}
	return "at-fake", "rt-fake"
}

// issue mints an access token and, when withRefresh, a refresh token.
func (s *Server) issue(g *grant, withRefresh, expiring bool) (string, *refreshToken) {
	lt := s.lifetimes(expiring)
	ap, rp := s.tokenPrefixes()
	a := &accessToken{grant: g}
	if lt.access > 0 {
		a.expires = s.now().Add(lt.access)
	}
	av := s.random(ap)
	s.access[av] = a
	if !withRefresh {
		return av, nil
	}
	r := &refreshToken{grant: g, issued: s.now()}
	if lt.refresh > 0 {
		r.expires = s.now().Add(lt.refresh)
	}
	s.refresh[s.random(rp)] = r
	return av, r
}

func (s *Server) tokenOf(r *refreshToken) string {
	for k, v := range s.refresh {
		if v == r {
			return k
		}
	}
	return ""
}

func (s *Server) expiresIn(token string) int {
	a := s.access[token]
	if a == nil || a.expires.IsZero() {
		return 0
	}
	return int(a.expires.Sub(s.now()) / time.Second)
}

func (s *Server) refreshExpiresIn(r *refreshToken) int {
	if r == nil || r.expires.IsZero() {
		return 0
	}
	return int(r.expires.Sub(s.now()) / time.Second)
}

type tokState int

const (
	tokOK tokState = iota
	tokMissing
	tokUnknown
	tokExpired
	tokRevoked
)

func (s *Server) accessState(a *accessToken) tokState {
	switch {
	case a == nil:
		return tokUnknown
	case a.revoked || a.grant.dead:
		return tokRevoked
	case a.expired || (!a.expires.IsZero() && !s.now().Before(a.expires)):
		return tokExpired
	}
	return tokOK
}

// useAccess checks an API call's token.
func (s *Server) useAccess(token string) (*accessToken, tokState) {
	if token == "" {
		return nil, tokMissing
	}
	a := s.access[token]
	return a, s.accessState(a)
}

// takeFail pops the next forced failure of a queue.
func takeFail(q *[]int) int {
	if len(*q) == 0 {
		return 0
	}
	st := (*q)[0]
	*q = (*q)[1:]
	return st
}

func (s *Server) takeRate() bool {
	if s.rateAPI > 0 {
		s.rateAPI--
		return true
	}
	return false
}

func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "Bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// errorPage is what a platform shows instead of redirecting when it cannot
// trust the redirect URI or the client.
func errorPage(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<!doctype html><title>Error</title><p>%s</p>\n", htmlEscape(msg))
}

func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}

// redirect sends the user agent back to the app with params added to the
// redirect URI's own query.
func redirect(w http.ResponseWriter, redirectURI string, params url.Values) {
	u, _ := url.Parse(redirectURI)
	q := u.Query()
	for k, vs := range params {
		q[k] = vs
	}
	u.RawQuery = q.Encode()
	w.Header().Set("Location", u.String())
	w.WriteHeader(http.StatusFound)
}

// checkRedirectURI says whether redirectURI may be used by the app.
func (s *Server) checkRedirectURI(redirectURI string) bool {
	if s.opts.RedirectURI != "" {
		return redirectURI == s.opts.RedirectURI
	}
	u, err := url.Parse(redirectURI)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" && u.Fragment == ""
}

func splitScopes(s, sep string) []string {
	var out []string
	for _, f := range strings.Split(s, sep) {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
