package integration

import (
	"context"
	"net/netip"
	"time"
)

// SourceRequestsPerMinute bounds the requests one source address makes to
// the routes that have no gateway authorizer (site-key routes, the OAuth
// callback). It is counted before any key is looked at, so guessing keys
// costs a caller its address's quota, not a lookup each.
const SourceRequestsPerMinute = 60

// SourceKey is the counter key for a caller's address: an IPv4 address as
// it is, an IPv6 address by its /64 (one host is given a whole /64, so a
// caller could otherwise rotate through addresses). An address that does
// not parse is counted as it was given.
func SourceKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap()
	if a.Is4() {
		return a.String()
	}
	p, _ := a.WithZone("").Prefix(64)
	return p.String()
}

// AllowSource counts one request from ip to the routes of scope (e.g.
// "site_key", "oauth_callback") and returns ERATELIMITED, with the time
// until the minute ends, past SourceRequestsPerMinute.
func (s *Service) AllowSource(ctx context.Context, scope, ip string) error {
	return s.Allow(ctx, "source#"+scope+"#"+SourceKey(ip), SourceRequestsPerMinute, time.Minute)
}
