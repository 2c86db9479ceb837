// Package safehttp is the one HTTP client connectors use to call URLs that
// users supply (a WordPress site, a shop domain, a webhook target).
//
// Every connection is checked at dial time, after resolution, on the very
// IP being connected to — so DNS rebinding cannot slip past the check —
// against the special-purpose ranges of code.dny.dev/ssrf (loopback,
// link-local and cloud metadata, private, CGNAT, multicast, reserved,
// documentation, NAT64, IPv6 outside global unicast…), and only ports 80
// and 443 are allowed, unless the local-development Policy (from
// JOINERY_ALLOW_PRIVATE_NETWORKS) allows more. Redirects are bounded and
// each new destination goes through the same dial-time check. There is no
// proxy from the environment, responses are capped in size, and every
// phase has a timeout.
package safehttp

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultUserAgent names Joinery to the platforms it calls.
const DefaultUserAgent = "Joinery/1.0 (+https://github.com/joinery/joinery)"

// Defaults for the zero Options.
const (
	DefaultDialTimeout           = 5 * time.Second
	DefaultResponseHeaderTimeout = 15 * time.Second
	DefaultTimeout               = 30 * time.Second
	DefaultMaxRedirects          = 5
	DefaultMaxBodyBytes          = 10 << 20
)

// Options configure a client. The zero value is the production client:
// strict, with the defaults above.
type Options struct {
	// Policy is what the local-development setting allows beyond the
	// rules; see PolicyFromEnv. Zero is strict.
	Policy Policy
	// Resolver looks up names; nil means net.DefaultResolver.
	Resolver Resolver
	// DialTimeout bounds resolving and connecting. ≤0: 5s.
	DialTimeout time.Duration
	// ResponseHeaderTimeout bounds the wait for the response headers once
	// the request is written. ≤0: 15s.
	ResponseHeaderTimeout time.Duration
	// Timeout bounds the whole exchange, redirects and reading the body
	// included. ≤0: 30s.
	Timeout time.Duration
	// MaxRedirects is how many redirects are followed. 0: 5. Negative:
	// none — the 3xx response itself is returned.
	MaxRedirects int
	// MaxBodyBytes caps each response body; reading past it fails with
	// ErrBodyTooLarge. It applies after gzip decoding. ≤0: 10 MiB.
	MaxBodyBytes int64
	// UserAgent is set on every request that has none. "": DefaultUserAgent.
	UserAgent string
}

// New returns an SSRF-safe client. It is safe for concurrent use and meant
// to be built once and shared: it pools connections.
func New(o Options) *http.Client {
	if o.Resolver == nil {
		o.Resolver = net.DefaultResolver
	}
	o.DialTimeout = orDefault(o.DialTimeout, DefaultDialTimeout)
	o.ResponseHeaderTimeout = orDefault(o.ResponseHeaderTimeout, DefaultResponseHeaderTimeout)
	o.Timeout = orDefault(o.Timeout, DefaultTimeout)
	if o.MaxRedirects == 0 {
		o.MaxRedirects = DefaultMaxRedirects
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.UserAgent == "" {
		o.UserAgent = DefaultUserAgent
	}
	d := newDialer(o.Policy, o.Resolver, o.DialTimeout)
	base := &http.Transport{
		// Never HTTP_PROXY & co.: a proxy would make the connection, so the
		// dial-time check would vet the proxy instead of the target.
		Proxy:       nil,
		DialContext: d.DialContext,
		// No DialTLSContext: the Transport does TLS over our checked
		// connection, verifying the certificate against the URL's host.
		TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:    10 * time.Second,
		ResponseHeaderTimeout:  o.ResponseHeaderTimeout,
		ExpectContinueTimeout:  1 * time.Second,
		MaxResponseHeaderBytes: 1 << 20,
		MaxIdleConns:           64,
		MaxIdleConnsPerHost:    8,
		IdleConnTimeout:        90 * time.Second,
		// A custom DialContext turns HTTP/2 off unless asked for.
		ForceAttemptHTTP2: true,
	}
	return &http.Client{
		Transport: &transport{base: base, maxBody: o.MaxBodyBytes, userAgent: o.UserAgent, dialer: d},
		Timeout:   o.Timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			return checkRedirect(o.MaxRedirects, req, via)
		},
		// No Jar: cookies from one tenant's site must never reach another's.
	}
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// checkRedirect bounds redirects and refuses unsafe ones. The new
// destination's address is checked when it is dialled, like any other.
func checkRedirect(maxRedirects int, req *http.Request, via []*http.Request) error {
	if maxRedirects < 0 {
		return http.ErrUseLastResponse
	}
	// via holds the requests already made, the first one included.
	if len(via) > maxRedirects {
		return fmt.Errorf("%w: stopped after %d", ErrTooManyRedirects, maxRedirects)
	}
	if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
		return fmt.Errorf("%w to a %q URL: only http and https are allowed", ErrUnsafeRedirect, req.URL.Scheme)
	}
	// Go keeps Authorization on a same-host https→http redirect; the
	// credentials would then cross the network in clear.
	if via[len(via)-1].URL.Scheme == "https" && req.URL.Scheme == "http" {
		return fmt.Errorf("%w from https down to http (%s)", ErrUnsafeRedirect, req.URL.Redacted())
	}
	stripOnRedirect(req, via)
	return nil
}

// stripOnRedirect finishes what Go does on a redirect to another host. Go
// drops only Authorization, Cookie and their kin once a redirect leaves
// the first request's domain (and its subdomains); platforms also
// authenticate with headers like X-Shopify-Access-Token or X-Api-Key, and
// Go sends a Referer whose query string may hold a token. Those are
// dropped under the same rule, and stay dropped for the rest of the chain,
// as Go does.
func stripOnRedirect(req *http.Request, via []*http.Request) {
	initial := via[0].URL
	left := !sameSite(initial, req.URL)
	for _, r := range via[1:] {
		left = left || !sameSite(initial, r.URL)
	}
	if !left {
		return
	}
	for name := range req.Header {
		if looksSensitive(name) {
			req.Header.Del(name)
		}
	}
	if via[0].Header.Get("Referer") == "" {
		req.Header.Del("Referer") // Go added it; the caller did not ask for one
	}
}

// sameSite is Go's rule for forwarding Authorization: the same host, or a
// subdomain of it (example.com → www.example.com), any port.
func sameSite(initial, dest *url.URL) bool {
	ih, dh := strings.ToLower(initial.Hostname()), strings.ToLower(dest.Hostname())
	if ih == dh {
		return true
	}
	if strings.ContainsAny(dh, ":%") { // an IPv6 literal is nobody's subdomain
		return false
	}
	return strings.HasSuffix(dh, "."+ih)
}

func looksSensitive(header string) bool {
	h := strings.ToLower(header)
	for _, word := range []string{"auth", "token", "key", "secret", "password", "session", "cookie", "signature", "credential"} {
		if strings.Contains(h, word) {
			return true
		}
	}
	return false
}

// transport sets the User-Agent and caps response bodies around the
// checked http.Transport.
type transport struct {
	base      *http.Transport
	maxBody   int64
	userAgent string
	dialer    *dialer
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Header.Get("User-Agent") == "" {
		// A RoundTripper must not modify the caller's request.
		req = req.Clone(req.Context())
		req.Header.Set("User-Agent", t.userAgent)
	}
	cancel := context.CancelFunc(func() {})
	if dl, ok := req.Context().Deadline(); ok {
		// Stop short of the caller's deadline (a Lambda's), so that a slow
		// site is a timeout the caller still has time to report, not a
		// function killed mid-request.
		var ctx context.Context
		ctx, cancel = context.WithDeadline(req.Context(), dl.Add(-DeadlineMargin(time.Until(dl))))
		req = req.WithContext(ctx)
	}
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: cancel}
	// 101 Switching Protocols has a writable body (a raw stream), which a
	// read-only wrapper would hide.
	if resp.StatusCode != http.StatusSwitchingProtocols {
		resp.Body = &limitedBody{rc: resp.Body, left: t.maxBody, limit: t.maxBody}
	}
	return resp, nil
}

// DeadlineMargin is how long before its context's deadline a request is
// given up: a quarter of the time left, at most two seconds.
func DeadlineMargin(left time.Duration) time.Duration {
	return min(2*time.Second, max(left, 0)/4)
}

// cancelBody releases a request's derived context once its body is closed.
type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the pool.
func (t *transport) CloseIdleConnections() { t.base.CloseIdleConnections() }

// limitedBody returns the body up to limit bytes, then fails rather than
// silently truncating: a cut JSON document must not parse as a short one.
type limitedBody struct {
	rc    io.ReadCloser
	left  int64
	limit int64
	err   error // sticky, once the limit is passed or the body has ended
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	// Ask for one byte more than is left: a body of exactly the limit then
	// ends with io.EOF, a longer one is caught.
	if b.left < math.MaxInt64 && int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.rc.Read(p)
	if int64(n) > b.left {
		n = int(b.left)
		b.left = 0
		b.err = &bodyTooLargeError{limit: b.limit}
		return n, b.err
	}
	b.left -= int64(n)
	if err != nil {
		b.err = err
	}
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }
