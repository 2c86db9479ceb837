package safehttp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"syscall"
	"time"

	"code.dny.dev/ssrf"
)

// Resolver looks up host names; net.DefaultResolver is one. Tests inject
// their own so that a name can resolve to any address without real DNS.
type Resolver interface {
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
}

// extraDeniedV4 are public addresses that are still internal services.
// code.dny.dev/ssrf only lists the IANA special-purpose ranges, which
// already hold every cloud metadata address AWS, GCP, Alibaba (CGNAT) and
// Oracle (192.0.0.0/24) use, but not Azure's WireServer: it sits on a
// public address and answers any VM. Nobody integrates with it, so
// refusing it everywhere costs nothing.
var extraDeniedV4 = []netip.Prefix{
	netip.MustParsePrefix("168.63.129.16/32"),
}

// dialer resolves, checks and connects. It is immutable once built, so one
// client can be shared by every goroutine.
type dialer struct {
	policy   Policy
	resolver Resolver
	timeout  time.Duration
	guard    *ssrf.Guardian
	// connect opens a TCP connection to an ip:port literal that has been
	// checked. Tests replace it to prove that refused targets are never
	// dialled at all.
	connect func(ctx context.Context, network, address string) (net.Conn, error)
}

func newDialer(policy Policy, resolver Resolver, timeout time.Duration) *dialer {
	d := &dialer{
		policy:   policy,
		resolver: resolver,
		timeout:  timeout,
		// The default Guardian allows only ports 80 and 443 and tcp4/tcp6.
		guard: ssrf.New(ssrf.WithDeniedV4Prefixes(extraDeniedV4...)),
	}
	nd := &net.Dialer{KeepAlive: 30 * time.Second, Control: d.control}
	d.connect = nd.DialContext
	return d
}

// DialContext is the Transport's dial. It resolves the name once with the
// injected resolver, refuses the whole name if any of its addresses is
// refused, and then connects to the checked addresses as IP literals: the
// address checked is the address connected to, so a DNS answer that
// changes between check and connect (rebinding) has nothing to change.
func (d *dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return nil, fmt.Errorf("safehttp: refused network %q: only TCP is allowed", network)
	}
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil || port == 0 {
		return nil, fmt.Errorf("safehttp: invalid port in %q", addr)
	}

	// One budget for resolving and connecting, like net.Dialer.Timeout.
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()

	ips, err := d.resolve(ctx, network, host)
	if err != nil {
		return nil, err
	}
	// All of them, before any connect: a name that resolves to a public
	// and a private address is refused, whichever would be tried first,
	// rather than left to the order of the answer.
	for _, ip := range ips {
		if err := d.check(host, ip, uint16(port)); err != nil {
			return nil, err
		}
	}

	var firstErr error
	for i, ip := range ips {
		actx, acancel := attemptContext(ctx, len(ips)-i)
		conn, err := d.connect(actx, network, netip.AddrPortFrom(ip, uint16(port)).String())
		acancel()
		if err == nil {
			return conn, nil
		}
		if firstErr == nil {
			firstErr = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, firstErr
}

// attemptContext shares what is left of the dial budget among the
// addresses still to try, as net.Dialer does, so that one black-holed
// address (say, IPv6 without a route) does not use it all.
func attemptContext(ctx context.Context, remaining int) (context.Context, context.CancelFunc) {
	deadline, ok := ctx.Deadline()
	if !ok || remaining <= 1 {
		return context.WithCancel(ctx)
	}
	left := time.Until(deadline)
	share := left / time.Duration(remaining)
	const minimum = 2 * time.Second
	if share < minimum {
		share = min(minimum, left)
	}
	return context.WithTimeout(ctx, share)
}

// resolve returns the addresses of host, unmapped (::ffff:127.0.0.1 is
// 127.0.0.1) so that the rules and the policy see, and the dialer
// connects to, the address the kernel would really use.
func (d *dialer) resolve(ctx context.Context, network, host string) ([]netip.Addr, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{ip.Unmap()}, nil
	}
	found, err := d.resolver.LookupIPAddr(ctx, host)
	if err != nil {
		return nil, err
	}
	ips := make([]netip.Addr, 0, len(found))
	for _, a := range found {
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok {
			continue
		}
		ip = ip.Unmap()
		if ip.Is6() {
			ip = ip.WithZone(a.Zone)
		}
		if (network == "tcp4" && !ip.Is4()) || (network == "tcp6" && !ip.Is6()) {
			continue
		}
		ips = append(ips, ip)
	}
	if len(ips) == 0 {
		return nil, &net.DNSError{Err: "no usable address", Name: host, IsNotFound: true}
	}
	return ips, nil
}

// control runs on the socket just before connect(2), on the address the
// kernel is about to use. DialContext has already checked it; this second
// look means no future code path (a new dial function, a Go change) can
// connect anywhere unchecked.
func (d *dialer) control(network, address string, _ syscall.RawConn) error {
	if network != "tcp4" && network != "tcp6" {
		return fmt.Errorf("safehttp: refused network %q: only TCP is allowed", network)
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("safehttp: refused unparsable address %q: %w", address, err)
	}
	ip := ap.Addr().Unmap()
	return d.check(ip.String(), ip, ap.Port())
}

// check returns a *BlockedError if ip:port may not be connected to.
func (d *dialer) check(host string, ip netip.Addr, port uint16) error {
	ip = ip.Unmap()
	if d.policy.allows(ip.WithZone(""), port) {
		return nil
	}
	blocked := func(reason string) error {
		return &BlockedError{Host: host, IP: ip.String(), Port: int(port), Reason: reason}
	}
	// netip.Prefix.Contains is false for any zoned address, so a zone
	// could make an address miss every deny prefix; only link-local
	// addresses use zones, and those are refused anyway.
	if ip.Zone() != "" {
		return blocked("the address carries an IPv6 zone, which only link-local addresses use")
	}
	if err := d.guard.SafeAddr(ip); err != nil {
		return blocked("the address is " + describe(ip))
	}
	if err := d.guard.SafeAddrPort(netip.AddrPortFrom(ip, port)); err != nil {
		if errors.Is(err, ssrf.ErrProhibitedPort) {
			return blocked(fmt.Sprintf("port %d is not allowed (only 80 and 443)", port))
		}
		return blocked("the address is " + describe(ip))
	}
	return nil
}

// ranges names the refused ranges for people; code.dny.dev/ssrf decides
// what is refused, this only says why, most specific first.
var ranges = []struct {
	prefix netip.Prefix
	what   string
}{
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local (cloud metadata)"},
	{netip.MustParsePrefix("fd00:ec2::/32"), "unique-local IPv6 (cloud metadata)"},
	{netip.MustParsePrefix("168.63.129.16/32"), "the Azure WireServer (cloud metadata)"},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
	{netip.MustParsePrefix("::1/128"), "loopback"},
	{netip.MustParsePrefix("10.0.0.0/8"), "private (RFC 1918)"},
	{netip.MustParsePrefix("172.16.0.0/12"), "private (RFC 1918)"},
	{netip.MustParsePrefix("192.168.0.0/16"), "private (RFC 1918)"},
	{netip.MustParsePrefix("fc00::/7"), "unique-local IPv6 (private)"},
	{netip.MustParsePrefix("fe80::/10"), "link-local"},
	{netip.MustParsePrefix("100.64.0.0/10"), "carrier-grade NAT shared space (RFC 6598)"},
	{netip.MustParsePrefix("0.0.0.0/8"), "\"this network\" (0.0.0.0/8), which reaches the local host"},
	{netip.MustParsePrefix("::/128"), "unspecified (::), which reaches the local host"},
	{netip.MustParsePrefix("255.255.255.255/32"), "broadcast"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
	{netip.MustParsePrefix("ff00::/8"), "multicast"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved"},
	{netip.MustParsePrefix("192.0.2.0/24"), "reserved for documentation"},
	{netip.MustParsePrefix("198.51.100.0/24"), "reserved for documentation"},
	{netip.MustParsePrefix("203.0.113.0/24"), "reserved for documentation"},
	{netip.MustParsePrefix("2001:db8::/32"), "reserved for documentation"},
	{netip.MustParsePrefix("3fff::/20"), "reserved for documentation"},
	{netip.MustParsePrefix("198.18.0.0/15"), "reserved for benchmarking"},
	{netip.MustParsePrefix("64:ff9b::/96"), "NAT64, which can reach internal IPv4 addresses"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "NAT64, which can reach internal IPv4 addresses"},
	{netip.MustParsePrefix("2002::/16"), "6to4, which can embed internal IPv4 addresses"},
	{netip.MustParsePrefix("2001::/32"), "Teredo, which can embed internal IPv4 addresses"},
	{netip.MustParsePrefix("::/96"), "IPv4-compatible IPv6 (deprecated)"},
}

func describe(ip netip.Addr) string {
	for _, r := range ranges {
		if r.prefix.Contains(ip) {
			return r.what
		}
	}
	if ip.Is6() && !ssrf.IPv6GlobalUnicast.Contains(ip) {
		return "outside the IPv6 global unicast range"
	}
	return "in a special-purpose range (IANA)"
}
