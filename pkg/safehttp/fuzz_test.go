package safehttp

import (
	"net/netip"
	"strings"
	"testing"
)

// FuzzPolicyParse: any value of JOINERY_ALLOW_PRIVATE_NETWORKS either fails
// with an error naming the setting, or gives a policy that renders back to
// itself and never allows more than it lists.
func FuzzPolicyParse(f *testing.F) {
	for _, s := range []string{
		"", "true", "false", "10.0.0.0/8,127.0.0.1:8080", "[::1]:80", "fd00::/8",
		"a,b,,c", "1.2.3.4:99999", "::ffff:10.0.0.0/104", "[::ffff:127.0.0.1]:8081",
		"localhost:8081", "[fe80::1%eth0]:80", " 127.0.0.1:1 , ",
	} {
		f.Add(s)
	}
	probes := []netip.AddrPort{
		netip.MustParseAddrPort("127.0.0.1:80"),
		netip.MustParseAddrPort("169.254.169.254:80"),
		netip.MustParseAddrPort("10.1.2.3:8081"),
		netip.MustParseAddrPort("[fd00:ec2::254]:80"),
		netip.MustParseAddrPort("[::1]:8080"),
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePolicy(s)
		if err != nil {
			if !strings.Contains(err.Error(), EnvAllowPrivate) {
				t.Fatalf("error %q does not name the setting", err)
			}
			return
		}
		if p.AllowAll != strings.EqualFold(strings.TrimSpace(s), "true") {
			t.Fatalf("%q: AllowAll=%v", s, p.AllowAll)
		}
		again, err := ParsePolicy(p.String())
		if err != nil || again.String() != p.String() {
			t.Fatalf("%q renders as %q, which parses as %q, %v", s, p.String(), again.String(), err)
		}
		for _, ap := range probes {
			if !p.allows(ap.Addr(), ap.Port()) {
				continue
			}
			listed := p.AllowAll
			for _, pfx := range p.Prefixes {
				listed = listed || pfx.Contains(ap.Addr())
			}
			for _, a := range p.AddrPorts {
				listed = listed || a == ap
			}
			if !listed {
				t.Fatalf("%q allows %v, which it does not list", s, ap)
			}
		}
	})
}
