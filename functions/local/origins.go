package main

import (
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/safehttp"
)

// EnvPlatformOrigins names the local-development switch that sends every
// request of a platform to a stand-in (a fake provider, a recording
// proxy): "slack=http://127.0.0.1:9001,google_calendar=http://127.0.0.1:9002".
// Only the runner reads it; no Lambda does (functions/deploy_test.go).
const EnvPlatformOrigins = "JOINERY_PLATFORM_ORIGINS"

// platformOrigins maps each host a redirected platform's catalog entry
// names to the origin standing in for the platform.
type platformOrigins struct {
	exact map[string]*url.URL // "slack.com" → origin
	// wildcard hosts: a templated first label ("{shop}.myshopify.com"),
	// matched as one label before the suffix.
	wildcard []wildcardOrigin
	// byPlatform keeps the parsed setting, in its order, for logs.
	byPlatform []string
}

type wildcardOrigin struct {
	suffix string // ".myshopify.com"
	origin *url.URL
}

var hostLabel = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)

// parsePlatformOrigins reads JOINERY_PLATFORM_ORIGINS against the catalog:
// each platform must exist, each origin be http(s)://<ip>:<port> with
// nothing after it. An error names the entry at fault.
func parsePlatformOrigins(raw string, c *connector.Catalog) (*platformOrigins, error) {
	p := &platformOrigins{exact: map[string]*url.URL{}}
	owner := map[string]string{} // host → platform, to refuse a host claimed twice
	for _, entry := range strings.Split(raw, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		name, origin, ok := strings.Cut(entry, "=")
		name, origin = strings.TrimSpace(name), strings.TrimSpace(origin)
		if !ok || name == "" || origin == "" {
			return nil, fmt.Errorf("%s: entry %q must be <platform>=<origin>, like slack=http://127.0.0.1:9001", EnvPlatformOrigins, entry)
		}
		e, ok := c.Entry(name)
		if !ok {
			return nil, fmt.Errorf("%s: %q is not a platform of the catalog", EnvPlatformOrigins, name)
		}
		u, err := parseOrigin(origin)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %v", EnvPlatformOrigins, name, err)
		}
		for _, host := range entryHosts(e) {
			if prev, dup := owner[host]; dup && prev != name {
				return nil, fmt.Errorf("%s: %s and %s share the host %s: give them one origin", EnvPlatformOrigins, prev, name, host)
			}
			owner[host] = name
			if i := strings.LastIndex(host, "}"); i >= 0 {
				p.wildcard = append(p.wildcard, wildcardOrigin{suffix: host[i+1:], origin: u})
				continue
			}
			p.exact[host] = u
		}
		p.byPlatform = append(p.byPlatform, name+"="+u.String())
	}
	return p, nil
}

// parseOrigin reads one stand-in origin. The host must be an IP address:
// the SSRF-safe client lets exactly that address and port through.
func parseOrigin(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("origin %q must be http://<ip>:<port> or https://<ip>:<port>", s)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("origin %q must have no path, query or user", s)
	}
	if _, err := netip.ParseAddrPort(u.Host); err != nil {
		return nil, fmt.Errorf("origin %q must name an IP address and a port (127.0.0.1:9001): the SSRF-safe client allows the address itself", s)
	}
	return &url.URL{Scheme: u.Scheme, Host: u.Host}, nil
}

// entryHosts are the hosts every URL of a catalog entry names: the OAuth
// endpoints, the account call, the API and the test calls. A templated
// host keeps its placeholder ("{shop}.myshopify.com").
func entryHosts(e *connector.Entry) []string {
	urls := []string{e.API.BaseURL}
	if o := e.OAuth; o != nil {
		urls = append(urls, o.AuthorizeURL, o.TokenURL, o.RefreshURL, o.RevokeURL, o.Account.URL)
	}
	for _, c := range e.TestCalls {
		urls = append(urls, c.URL)
	}
	var hosts []string
	for _, raw := range urls {
		if h := templateHost(raw); h != "" && !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	return hosts
}

// templateHost is the host of a catalog URL, which may hold placeholders
// url.Parse would refuse in a host.
func templateHost(raw string) string {
	_, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return ""
	}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	return strings.ToLower(rest)
}

// target is the stand-in origin for u, if its host is a redirected
// platform's.
func (p *platformOrigins) target(u *url.URL) (*url.URL, bool) {
	if p == nil || u == nil {
		return nil, false
	}
	host := strings.ToLower(u.Hostname())
	if o, ok := p.exact[host]; ok {
		return o, true
	}
	for _, w := range p.wildcard {
		if label, ok := strings.CutSuffix(host, w.suffix); ok && hostLabel.MatchString(label) {
			return w.origin, true
		}
	}
	return nil, false
}

// rewrite points a URL of a redirected platform at its stand-in, path and
// query kept; any other URL is returned as it is.
func (p *platformOrigins) rewrite(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	o, ok := p.target(u)
	if !ok {
		return raw
	}
	u.Scheme, u.Host = o.Scheme, o.Host
	return u.String()
}

// policy widens the SSRF-safe client's policy by the stand-ins' addresses
// (each on its port only).
func (p *platformOrigins) policy(base safehttp.Policy) safehttp.Policy {
	if p == nil {
		return base
	}
	seen := map[netip.AddrPort]bool{}
	add := func(u *url.URL) {
		ap := netip.MustParseAddrPort(u.Host) // checked by parseOrigin
		if !seen[ap] {
			seen[ap] = true
			base.AddrPorts = append(slices.Clip(base.AddrPorts), ap)
		}
	}
	for _, o := range p.exact {
		add(o)
	}
	for _, w := range p.wildcard {
		add(w.origin)
	}
	return base
}

// client wraps hc so that every request to a redirected platform goes to
// its stand-in, path and query kept. hc is returned as it is when nothing
// is redirected.
func (p *platformOrigins) client(hc *http.Client) *http.Client {
	if p == nil || len(p.byPlatform) == 0 {
		return hc
	}
	c := *hc
	base := c.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	c.Transport = &originTransport{base: base, origins: p}
	return &c
}

// originTransport is the http.RoundTripper that sends a redirected
// platform's requests to its stand-in. The Host header stays the
// platform's, as through a proxy, for a stand-in serving several hosts
// (Shopify's shops).
type originTransport struct {
	base    http.RoundTripper
	origins *platformOrigins
}

func (t *originTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	o, ok := t.origins.target(req.URL)
	if !ok {
		return t.base.RoundTrip(req)
	}
	r := req.Clone(req.Context())
	r.Host = req.URL.Host
	r.URL.Scheme, r.URL.Host = o.Scheme, o.Host
	return t.base.RoundTrip(r)
}
