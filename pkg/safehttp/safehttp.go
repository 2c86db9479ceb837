// Package safehttp is the one HTTP client connectors use to call URLs that
// users supply. Every address is checked at dial time, after resolution, on
// the very IP being connected to — so DNS rebinding cannot slip past the
// check — with the special-purpose ranges of code.dny.dev/ssrf (loopback,
// link-local and cloud metadata, private, CGNAT, IPv6 outside global
// unicast…) and only ports 80 and 443, unless a local-development policy
// allows more.
package safehttp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"code.dny.dev/ssrf"
)

// EnvAllowPrivate names the local-development setting: "true" allows any
// address and port; a comma-separated list of CIDRs and host:port pairs
// allows just those. It is never set in AWS.
const EnvAllowPrivate = "JOINERY_ALLOW_PRIVATE_NETWORKS"

// Policy is what the local-development setting allows beyond the rules.
type Policy struct {
	AllowAll  bool
	Prefixes  []netip.Prefix   // any port
	AddrPorts []netip.AddrPort // exactly this address and port
}

// ParsePolicy reads the setting's value; "" is the strict default.
func ParsePolicy(s string) (Policy, error) {
	s = strings.TrimSpace(s)
	switch strings.ToLower(s) {
	case "":
		return Policy{}, nil
	case "true":
		return Policy{AllowAll: true}, nil
	}
	var p Policy
	for _, entry := range strings.Split(s, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		if pfx, err := netip.ParsePrefix(entry); err == nil {
			p.Prefixes = append(p.Prefixes, pfx.Masked())
			continue
		}
		if ap, err := netip.ParseAddrPort(entry); err == nil && ap.Port() != 0 {
			p.AddrPorts = append(p.AddrPorts, netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()))
			continue
		}
		return Policy{}, fmt.Errorf("%s: %q is neither a CIDR (10.0.0.0/8) nor an ip:port (127.0.0.1:8080)", EnvAllowPrivate, entry)
	}
	return p, nil
}

// PolicyFromEnv reads JOINERY_ALLOW_PRIVATE_NETWORKS.
func PolicyFromEnv() (Policy, error) { return ParsePolicy(os.Getenv(EnvAllowPrivate)) }

func (p Policy) allows(ap netip.AddrPort) bool {
	if p.AllowAll {
		return true
	}
	ip := ap.Addr().Unmap()
	for _, pfx := range p.Prefixes {
		if pfx.Contains(ip) {
			return true
		}
	}
	for _, a := range p.AddrPorts {
		if a.Addr() == ip && a.Port() == ap.Port() {
			return true
		}
	}
	return false
}

// Resolver looks up host names; net.DefaultResolver is one. Tests inject
// their own so a name can resolve to a private address without real DNS.
type Resolver interface {
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
}

// Options configure a client. Zero values take the defaults.
type Options struct {
	Policy                Policy
	Resolver              Resolver
	DialTimeout           time.Duration // 5s
	ResponseHeaderTimeout time.Duration // 15s
	Timeout               time.Duration // 30s, the whole exchange
	MaxRedirects          int           // 5
	MaxBodyBytes          int64         // 10 MiB
	UserAgent             string
}

// DefaultUserAgent names Joinery to the platforms it calls.
const DefaultUserAgent = "Joinery/1.0 (+https://github.com/joinery/joinery)"

// BlockedError is a refused destination. No request was sent to it.
type BlockedError struct {
	Host   string
	IP     string
	Port   int
	Reason string
}

func (e *BlockedError) Error() string {
	return fmt.Sprintf("refused to connect to %s (%s): %s; set %s for local development", e.Host,
		net.JoinHostPort(e.IP, strconv.Itoa(e.Port)), e.Reason, EnvAllowPrivate)
}

// ErrBodyTooLarge is returned when reading past the response size cap.
var ErrBodyTooLarge = errors.New("response body exceeds the size limit")

// New returns an SSRF-safe client.
func New(o Options) *http.Client {
	if o.Resolver == nil {
		o.Resolver = net.DefaultResolver
	}
	o.DialTimeout = or(o.DialTimeout, 5*time.Second)
	o.ResponseHeaderTimeout = or(o.ResponseHeaderTimeout, 15*time.Second)
	o.Timeout = or(o.Timeout, 30*time.Second)
	if o.MaxRedirects == 0 {
		o.MaxRedirects = 5
	}
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = 10 << 20
	}
	if o.UserAgent == "" {
		o.UserAgent = DefaultUserAgent
	}
	d := &dialer{opts: o, guard: ssrf.New()}
	tr := &http.Transport{
		Proxy:                 nil, // never a proxy from the environment
		DialContext:           d.dial,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: o.ResponseHeaderTimeout,
		MaxIdleConns:          64,
		MaxIdleConnsPerHost:   8,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	return &http.Client{
		Transport: &capped{next: tr, max: o.MaxBodyBytes, ua: o.UserAgent},
		Timeout:   o.Timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > o.MaxRedirects {
				return fmt.Errorf("stopped after %d redirects", o.MaxRedirects)
			}
			if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
				return fmt.Errorf("refused to follow a redirect to a %s: URL", req.URL.Scheme)
			}
			return nil // the new destination is checked when it is dialled
		},
	}
}

func or(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

type dialer struct {
	opts  Options
	guard *ssrf.Guardian
}

// dial resolves with the injected resolver, checks every address, then
// connects to the checked IP literally.
func (d *dialer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 1 || port > 65535 {
		return nil, fmt.Errorf("invalid port in %q", addr)
	}
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		ips = []netip.Addr{ip}
	} else {
		found, err := d.opts.Resolver.LookupIPAddr(ctx, host)
		if err != nil {
			return nil, fmt.Errorf("resolve %s: %w", host, err)
		}
		for _, a := range found {
			if ip, ok := netip.AddrFromSlice(a.IP); ok {
				ips = append(ips, ip.WithZone(a.Zone))
			}
		}
		if len(ips) == 0 {
			return nil, fmt.Errorf("resolve %s: no addresses", host)
		}
	}
	// Every address must be acceptable: a name that resolves to one public
	// and one private address is refused, whichever would be tried first.
	for _, ip := range ips {
		if err := d.check(host, netip.AddrPortFrom(ip, uint16(port))); err != nil {
			return nil, err
		}
	}
	nd := &net.Dialer{Timeout: d.opts.DialTimeout, KeepAlive: 30 * time.Second,
		// Checked again on the socket's own address, just before connect.
		Control: func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return err
			}
			return d.check(host, ap)
		}}
	var firstErr error
	for _, ip := range ips {
		conn, err := nd.DialContext(ctx, network, net.JoinHostPort(ip.String(), portStr))
		if err == nil {
			return conn, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return nil, firstErr
}

func (d *dialer) check(host string, ap netip.AddrPort) error {
	if d.opts.Policy.allows(ap) {
		return nil
	}
	err := d.guard.SafeAddrPort(netip.AddrPortFrom(ap.Addr().WithZone(""), ap.Port()))
	if err == nil {
		return nil
	}
	return &BlockedError{Host: host, IP: ap.Addr().String(), Port: int(ap.Port()), Reason: reason(ap, err)}
}

// reason says in words why an address is refused.
func reason(ap netip.AddrPort, err error) string {
	ip := ap.Addr()
	switch {
	case errors.Is(err, ssrf.ErrProhibitedPort):
		return fmt.Sprintf("port %d is not allowed (only 80 and 443)", ap.Port())
	case ip == netip.MustParseAddr("169.254.169.254") || ip == netip.MustParseAddr("fd00:ec2::254"):
		return "the address is the cloud metadata service"
	case ip.Unmap().IsLoopback():
		return "the address is loopback"
	case ip.IsLinkLocalUnicast():
		return "the address is link-local"
	case ip.Unmap().IsPrivate():
		return "the address is in a private network"
	case ip.Is4In6():
		return "IPv4-mapped IPv6 addresses are not allowed"
	}
	return "the address is in a special-purpose range"
}

// capped sets the User-Agent and caps response bodies.
type capped struct {
	next http.RoundTripper
	max  int64
	ua   string
}

func (c *capped) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Header.Get("User-Agent") == "" {
		req = req.Clone(req.Context())
		req.Header.Set("User-Agent", c.ua)
	}
	resp, err := c.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	resp.Body = &limitedBody{rc: resp.Body, left: c.max}
	return resp, nil
}

type limitedBody struct {
	rc   io.ReadCloser
	left int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// One byte more tells a body of exactly the cap from a longer one.
		var one [1]byte
		if n, _ := b.rc.Read(one[:]); n > 0 {
			return 0, ErrBodyTooLarge
		}
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }

// IsTimeout reports whether err is a timeout.
func IsTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// IsTLS reports whether err is a TLS or certificate failure.
func IsTLS(err error) bool {
	var cv *tls.CertificateVerificationError
	var rh tls.RecordHeaderError
	var ae tls.AlertError
	return errors.As(err, &cv) || errors.As(err, &rh) || errors.As(err, &ae)
}
