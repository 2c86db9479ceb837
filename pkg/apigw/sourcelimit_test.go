package apigw_test

import (
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/joinery/joinery/pkg/apigw"
	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/integration"
)

// The site-key routes count requests per source address (IPv6 per /64)
// before the key is looked at: a caller guessing keys is stopped at 60 a
// minute, whatever keys it sends, on both routes together.
func TestSiteKeyRoutesAreLimitedPerSourceAddress(t *testing.T) {
	api := newAPI(t)
	now := time.Now().UTC().Truncate(time.Minute).Add(30 * time.Second)
	api.Service.Now = func() time.Time { return now }
	tst := &connector.Tester{Integrations: api.Service, Connectors: map[string]connector.ConnectionTester{"wordpress": &passwordTester{}}}
	conn := &apigw.ConnectionAPI{API: api, Tester: tst, Onboarding: &connector.Onboarding{Integrations: api.Service, Tester: tst}}
	from := func(h apigw.Handler, ev events.APIGatewayV2HTTPRequest, ip string) events.APIGatewayV2HTTPResponse {
		t.Helper()
		ev = withKey(ev, "jsk_guess_"+ip)
		ev.RequestContext.HTTP.SourceIP = ip
		_, _, resp := call(t, h, ev)
		return resp
	}
	onboard := loadEvent(t, "integrations-onboard.json")
	push := loadEvent(t, "integrations-update-structure.json")
	for i := 1; i <= integration.SourceRequestsPerMinute; i++ {
		h, ev := conn.Onboard(), onboard
		if i%2 == 0 {
			h, ev = conn.UpdateStructure(), push
		}
		if resp := from(h, ev, "2001:db8:1:2::10"); resp.StatusCode != 401 {
			t.Fatalf("request %d: %d, want 401 (a wrong key, within the limit): %s", i, resp.StatusCode, resp.Body)
		}
	}
	for _, h := range []apigw.Handler{conn.Onboard(), conn.UpdateStructure()} {
		// Another address of the same /64 is the same caller.
		resp := from(h, onboard, "2001:db8:1:2:ffff::1")
		if resp.StatusCode != 429 || resp.Headers["Retry-After"] != "30" {
			t.Fatalf("past the limit: %d Retry-After %q, want 429 and 30: %s", resp.StatusCode, resp.Headers["Retry-After"], resp.Body)
		}
	}
	for _, ip := range []string{"2001:db8:1:3::10", "203.0.113.9"} {
		if resp := from(conn.Onboard(), onboard, ip); resp.StatusCode != 401 {
			t.Fatalf("%s is limited too: %d %s", ip, resp.StatusCode, resp.Body)
		}
	}
	now = now.Add(time.Minute)
	if resp := from(conn.Onboard(), onboard, "2001:db8:1:2::10"); resp.StatusCode != 401 {
		t.Fatalf("the next minute: %d %s", resp.StatusCode, resp.Body)
	}
}

func TestSourceKey(t *testing.T) {
	for _, c := range []struct{ ip, want string }{
		{"203.0.113.7", "203.0.113.7"},
		{"::ffff:203.0.113.7", "203.0.113.7"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"2001:db8:1:2::1", "2001:db8:1:2::/64"},
		{"fe80::1%eth0", "fe80::/64"},
		{"", ""},
	} {
		if got := integration.SourceKey(c.ip); got != c.want {
			t.Errorf("SourceKey(%q) = %q, want %q", c.ip, got, c.want)
		}
	}
}
