package oauth

import (
	"context"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/integration"
)

// The connection tester takes its token from Tokens: an expired one is
// refreshed first, and a grant found gone is the reconnect result.
func TestConnectionTestWithTokens(t *testing.T) {
	c := newClock()
	p := startPlatform(t, "slack", c)
	s := embeddedStores(t)
	it := connect(t, s, "slack", p.minted(c, -time.Minute))
	tok := tokensFor(s, p.hc, c, &events{})
	tester := &connector.Tester{Integrations: s.svc, HTTP: p.hc, Now: c.Now, Tokens: tok.AccessToken}
	res, err := tester.Run(context.Background(), it)
	if err != nil || !res.OK || res.Status != integration.ConnectionConnected || p.Refreshes() != 1 {
		t.Fatalf("test: %+v %v after %d refreshes", res, err, p.Refreshes())
	}
	c.Add(13 * time.Hour)
	p.RevokeGrants()
	res, err = tester.Run(context.Background(), it)
	if err != nil || res.OK || res.Status != integration.ConnectionReauthorizationNeeded {
		t.Fatalf("test of a revoked grant: %+v %v", res, err)
	}
}
