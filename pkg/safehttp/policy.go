package safehttp

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// EnvAllowPrivate names the local-development setting: "true" allows any
// address and port; a comma-separated list of CIDRs and ip:port pairs
// allows just those. It is never set in AWS (functions/deploy_test.go
// checks template.yaml), so the Lambdas are always strict.
const EnvAllowPrivate = "JOINERY_ALLOW_PRIVATE_NETWORKS"

// Policy is what the local-development setting allows beyond the rules.
// The zero value is the strict policy: only public addresses on ports 80
// and 443.
type Policy struct {
	// AllowAll lets the client connect to any address on any port.
	AllowAll bool
	// Prefixes are allowed on any port, whatever range they are in.
	Prefixes []netip.Prefix
	// AddrPorts are allowed exactly: this address on this port only.
	AddrPorts []netip.AddrPort
}

// ParsePolicy reads a value of JOINERY_ALLOW_PRIVATE_NETWORKS. "" and
// "false" are strict, "true" allows everything, anything else must be a
// comma-separated list of CIDRs (10.1.0.0/16, fd00::/8) and ip:port pairs
// (127.0.0.1:8081, [::1]:8081). An error names the first bad entry.
//
// Host names are refused on purpose: the check runs on the resolved
// address, and a name in an allow-list would let whatever it resolves to
// through.
func ParsePolicy(s string) (Policy, error) {
	s = strings.TrimSpace(s)
	switch strings.ToLower(s) {
	case "", "false":
		return Policy{}, nil
	case "true":
		return Policy{AllowAll: true}, nil
	}
	var p Policy
	for _, entry := range strings.Split(s, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue // "a,b," — a trailing comma widens nothing
		}
		if err := p.add(entry); err != nil {
			return Policy{}, fmt.Errorf("%s: entry %q %v", EnvAllowPrivate, entry, err)
		}
	}
	return p, nil
}

func (p *Policy) add(entry string) error {
	if strings.Contains(entry, "/") {
		pfx, err := netip.ParsePrefix(entry)
		if err != nil {
			return errors.New("is not a valid CIDR (like 10.1.0.0/16 or fd00::/8)")
		}
		if pfx.Addr().Zone() != "" {
			return errors.New("must not carry an IPv6 zone")
		}
		p.Prefixes = append(p.Prefixes, unmapPrefix(pfx).Masked())
		return nil
	}
	host, port, err := net.SplitHostPort(entry)
	if err != nil {
		if _, perr := netip.ParseAddr(entry); perr == nil {
			return errors.New("has no port: write ip:port for one port, or ip/32 (ip/128) for any port")
		}
		return errors.New("is neither a CIDR (10.1.0.0/16) nor an ip:port (127.0.0.1:8081)")
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return errors.New("must use an IP address, not a host name: the check applies to the address a name resolves to")
	}
	if ip.Zone() != "" {
		return errors.New("must not carry an IPv6 zone")
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || n == 0 {
		return errors.New("has an invalid port: it must be 1 to 65535")
	}
	p.AddrPorts = append(p.AddrPorts, netip.AddrPortFrom(ip.Unmap(), uint16(n)))
	return nil
}

// unmapPrefix turns ::ffff:10.0.0.0/104 into 10.0.0.0/8: the dialer checks
// unmapped addresses, which an IPv4-mapped prefix would never contain.
func unmapPrefix(p netip.Prefix) netip.Prefix {
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p
}

// PolicyFromEnv reads JOINERY_ALLOW_PRIVATE_NETWORKS. Only the local runner
// calls it; the Lambdas use the zero, strict Policy.
func PolicyFromEnv() (Policy, error) { return ParsePolicy(os.Getenv(EnvAllowPrivate)) }

// String renders the policy in the syntax ParsePolicy reads, for logs.
func (p Policy) String() string {
	if p.AllowAll {
		return "true"
	}
	parts := make([]string, 0, len(p.Prefixes)+len(p.AddrPorts))
	for _, pfx := range p.Prefixes {
		parts = append(parts, pfx.String())
	}
	for _, ap := range p.AddrPorts {
		parts = append(parts, ap.String())
	}
	return strings.Join(parts, ",")
}

// allows reports whether the policy lets ip:port through although the
// rules would refuse it. ip is already unmapped and zone-free; the entries
// are unmapped again here because a Policy may be built by hand.
func (p Policy) allows(ip netip.Addr, port uint16) bool {
	if p.AllowAll {
		return true
	}
	for _, pfx := range p.Prefixes {
		if unmapPrefix(pfx).Contains(ip) {
			return true
		}
	}
	for _, ap := range p.AddrPorts {
		if ap.Addr().Unmap() == ip && ap.Port() == port {
			return true
		}
	}
	return false
}
