package oauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/integration"
)

func TestManyCallersOneRefresh(t *testing.T) {
	for _, tc := range []struct {
		name    string
		expires time.Duration
	}{
		{"within the margin: the old token is handed out meanwhile", 2 * time.Minute},
		{"expired: everyone waits for the new token", -time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClock()
			p := startPlatform(t, "jira", c)
			s := embeddedStores(t)
			start := p.minted(c, tc.expires)
			it := connect(t, s, "jira", start)
			tok := tokensFor(s, p.hc, c, &events{})
			got, errs := callAll(t, 25, func(int) *Tokens { return tok }, it)
			for i, err := range errs {
				if err != nil {
					t.Fatalf("caller %d: %v", i, err)
				}
			}
			if calls, n := p.calls.Load(), p.Refreshes(); calls != 1 || n != 1 {
				t.Fatalf("token endpoint called %d times (%d refreshes), want exactly 1", calls, n)
			}
			_, vals, _ := s.secrets.CurrentSecret(context.Background(), secretRef(it))
			fresh := vals["access_token"]
			for i, g := range got {
				if g != fresh && (tc.expires < 0 || g != start.AccessToken) || !p.Valid(g) && g == fresh {
					t.Fatalf("caller %d got another token", i)
				}
			}
			// Everyone after sees the new token, with no further call.
			if g, err := tok.AccessToken(context.Background(), it); err != nil || g != fresh {
				t.Fatalf("after: %v", err)
			}
			if calls := p.calls.Load(); calls != 1 {
				t.Fatalf("calls = %d after", calls)
			}
		})
	}
}

func TestRotatingRefreshTokensTwentyCycles(t *testing.T) {
	c := newClock()
	p := startPlatform(t, "slack", c) // a used refresh token dies at once
	s := embeddedStores(t)
	it := connect(t, s, "slack", p.minted(c, -time.Minute))
	tok := tokensFor(s, p.hc, c, &events{})
	for cycle := 1; cycle <= 20; cycle++ {
		got, errs := callAll(t, 5, func(int) *Tokens { return tok }, it)
		for _, err := range errs {
			if err != nil {
				t.Fatalf("cycle %d: %v", cycle, err)
			}
		}
		if !p.Valid(got[0]) {
			t.Fatalf("cycle %d: the token handed out is not valid at Slack", cycle)
		}
		c.Add(13 * time.Hour) // Slack's 12 h access tokens expired again
	}
	if calls, n := p.calls.Load(), p.Refreshes(); calls != 20 || n != 20 {
		t.Fatalf("calls %d, refreshes %d; want 20 refreshes and no refused refresh token", calls, n)
	}
	cur, err := s.svc.Get(context.Background(), tokenActor(it.AccountID), it.ID)
	if err != nil || cur.ConnectionStatus != integration.ConnectionConnected || cur.Version != it.Version {
		t.Fatalf("after: %+v %v", cur, err)
	}
}

func TestStoredAnswerKeepsWhatTheAnswerLeavesOut(t *testing.T) {
	c := newClock()
	p := startPlatform(t, "google_calendar", c) // no refresh token in a refresh's answer
	s := embeddedStores(t)
	start := p.minted(c, time.Minute)
	start.RefreshExpiresAt = c.Now().Add(90 * 24 * time.Hour)
	it := connect(t, s, "google_calendar", start)
	tok := tokensFor(s, p.hc, c, &events{})
	got, err := tok.AccessToken(context.Background(), it)
	if err != nil || got == start.AccessToken || !p.Valid(got) {
		t.Fatalf("refresh: %v", err)
	}
	v, vals, err := s.secrets.CurrentSecret(context.Background(), secretRef(it))
	if err != nil {
		t.Fatal(err)
	}
	ts, err := ParseTokenSet(vals)
	if err != nil {
		t.Fatal(err)
	}
	if ts.RefreshToken != start.RefreshToken || ts.AccessToken != got || !ts.ExpiresAt.After(c.Now().Add(50*time.Minute)) ||
		len(ts.Scopes) == 0 || ts.ExternalAccountID != "T1" || !ts.ObtainedAt.Equal(c.Now()) ||
		!ts.RefreshExpiresAt.Equal(start.RefreshExpiresAt) {
		t.Fatalf("stored after refresh: expires %v, scopes %v, account %q, obtained %v, refresh expires %v, refresh token kept %v",
			ts.ExpiresAt, ts.Scopes, ts.ExternalAccountID, ts.ObtainedAt, ts.RefreshExpiresAt, ts.RefreshToken == start.RefreshToken)
	}
	// The item points at the new version, with a status write: the
	// version (ETag) is the user's and stays.
	cur, err := s.svc.Get(context.Background(), tokenActor(it.AccountID), it.ID)
	if err != nil || cur.Credentials.VersionID != v.VersionID || cur.Version != it.Version || cur.Rev != it.Rev+1 {
		t.Fatalf("item after refresh: %+v %v (version %s)", cur, err, v.VersionID)
	}
	o := cur.OAuth
	if o == nil || o.ExpiresAt == nil || !o.ExpiresAt.Equal(ts.ExpiresAt) || strings.Join(o.Scopes, " ") != strings.Join(ts.Scopes, " ") ||
		o.RefreshedAt == nil || !o.RefreshedAt.Equal(c.Now()) || o.ExternalAccountID != "T1" {
		t.Fatalf("oauth after refresh: %+v", o)
	}
}

func TestHolderKilledBetweenAnswerAndWrite(t *testing.T) {
	for _, tc := range []struct {
		platform string
		// lost: the platform accepts the stored refresh token no more;
		// refused: nor says (in a code the catalog lists) that the grant
		// is gone.
		lost, refused bool
	}{
		{platform: "google_calendar"}, // not rotated
		{platform: "jira"},            // rotated, the old one good for 10 minutes
		{platform: "shopify"},         // rotated, the old one good until the new one is used
		{platform: "slack", lost: true},
		{platform: "tiktok", refused: true}, // its re-authorization codes are unpublished
	} {
		t.Run(tc.platform, func(t *testing.T) {
			c := newClock()
			p := startPlatform(t, tc.platform, c)
			s := embeddedStores(t)
			ev := &events{}
			start := p.minted(c, -time.Minute)
			it := connect(t, s, tc.platform, start)
			killed := tokensFor(s, p.hc, c, ev)
			killed.crashAfterAnswer = func() bool { return true }
			if _, err := killed.AccessToken(context.Background(), it); !errors.Is(err, errCrashed) {
				t.Fatalf("killed holder: %v", err)
			}
			if p.Refreshes() != 1 {
				t.Fatalf("the killed holder's refresh was not answered")
			}
			next := tokensFor(s, p.hc, c, ev)
			// Until its lease runs out nobody refreshes: a caller waits,
			// then gives up (its deadline here).
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			var waits atomic.Int32
			next.Wait = func(ctx context.Context, _ time.Duration) error {
				if waits.Add(1) > 3 {
					return context.DeadlineExceeded
				}
				return nil
			}
			if _, err := next.AccessToken(ctx, it); err == nil || p.calls.Load() != 1 {
				t.Fatalf("refreshed while the killed holder's lease stood: %v", err)
			}
			cancel()
			// Then the next caller refreshes with the refresh token still
			// stored.
			c.Add(leaseFor)
			next.Wait = noSleep
			got, err := next.AccessToken(context.Background(), it)
			cur, gerr := s.svc.Get(context.Background(), tokenActor(it.AccountID), it.ID)
			if gerr != nil {
				t.Fatal(gerr)
			}
			if tc.refused {
				var ce *connector.Error
				if !errors.As(err, &ce) || ce.Kind != connector.ErrInvalid || IsReauthorize(err) || cur.ConnectionStatus != integration.ConnectionConnected {
					t.Fatalf("next holder: %v, status %s; want the refusal, status unchanged", err, cur.ConnectionStatus)
				}
				return
			}
			if !tc.lost {
				if err != nil || !p.Valid(got) || cur.ConnectionStatus != integration.ConnectionConnected || len(ev.of("connection")) != 0 {
					t.Fatalf("next holder: %v, status %s, events %v", err, cur.ConnectionStatus, ev.of("connection"))
				}
				return
			}
			if !IsReauthorize(err) || cur.ConnectionStatus != integration.ConnectionReauthorizationNeeded {
				t.Fatalf("next holder: %v, status %s; want reauthorization_required", err, cur.ConnectionStatus)
			}
			evs := ev.of("connection")
			if len(evs) != 1 || evs[0].Details["reason"] != "refresh_interrupted" || !strings.Contains(evs[0].Message, "stopped") {
				t.Fatalf("events = %+v, want one saying an interrupted refresh lost the token", evs)
			}
		})
	}
}

func TestRevokedGrantNeedsReauthorizationOnce(t *testing.T) {
	for _, name := range []string{"jira", "slack"} {
		t.Run(name, func(t *testing.T) {
			c := newClock()
			p := startPlatform(t, name, c)
			s := embeddedStores(t)
			ev := &events{}
			it := connect(t, s, name, p.minted(c, -time.Minute))
			p.RevokeGrants()
			tok := tokensFor(s, p.hc, c, ev)
			_, errs := callAll(t, 10, func(int) *Tokens { return tok }, it)
			for i, err := range errs {
				if !IsReauthorize(err) {
					t.Fatalf("caller %d: %v, want reauthorization required", i, err)
				}
			}
			// Later calls, and later lease holders, do not try the grant again.
			c.Add(time.Hour)
			if _, err := tok.AccessToken(context.Background(), it); !IsReauthorize(err) {
				t.Fatalf("later: %v", err)
			}
			if calls := p.calls.Load(); calls != 1 {
				t.Fatalf("token endpoint called %d times, want once (no retries)", calls)
			}
			cur, err := s.svc.Get(context.Background(), tokenActor(it.AccountID), it.ID)
			if err != nil || cur.ConnectionStatus != integration.ConnectionReauthorizationNeeded || cur.Version != it.Version {
				t.Fatalf("item: %+v %v", cur, err)
			}
			evs := ev.of("connection")
			if len(evs) != 1 || evs[0].Details["reason"] != "grant_revoked" || evs[0].Details["connection_status"] != "reauthorization_required" {
				t.Fatalf("events = %+v, want one", evs)
			}
			// Connecting again (new tokens, status connected) makes it work.
			now := c.Now()
			if err := s.svc.RecordConnection(context.Background(), tokenActor(it.AccountID), it.ID, integration.ConnectionConnected, "", now); err != nil {
				t.Fatal(err)
			}
			c.Add(time.Second)
			fresh := p.minted(c, -time.Minute)
			fresh.ObtainedAt = c.Now()
			if _, err := s.secrets.PutSecret(context.Background(), secretRef(it), fresh.Values()); err != nil {
				t.Fatal(err)
			}
			if got, err := tok.AccessToken(context.Background(), it); err != nil || !p.Valid(got) {
				t.Fatalf("after connecting again: %v", err)
			}
		})
	}
}

func TestUnavailableTokenEndpointChangesNothing(t *testing.T) {
	c := newClock()
	p := startPlatform(t, "google_calendar", c)
	p.FailToken(http.StatusServiceUnavailable, 1)
	s := embeddedStores(t)
	ev := &events{}
	start := p.minted(c, -time.Minute)
	it := connect(t, s, "google_calendar", start)
	tok := tokensFor(s, p.hc, c, ev)
	_, err := tok.AccessToken(context.Background(), it)
	var ce *connector.Error
	var tmp interface{ Temporary() bool }
	if !errors.As(err, &ce) || ce.Kind != connector.ErrUnavailable || !errors.As(err, &tmp) || IsReauthorize(err) {
		t.Fatalf("503: %v, want a temporary error", err)
	}
	cur, gerr := s.svc.Get(context.Background(), tokenActor(it.AccountID), it.ID)
	if gerr != nil || cur.ConnectionStatus != integration.ConnectionConnected || cur.Rev != it.Rev || len(ev.of("connection")) != 0 {
		t.Fatalf("after a 503: %+v %v %v", cur, gerr, ev.of("connection"))
	}
	// The lease was freed: a later call refreshes.
	c.Add(time.Minute)
	got, err := tok.AccessToken(context.Background(), it)
	if err != nil || !p.Valid(got) || p.Refreshes() != 1 {
		t.Fatalf("later: %v (%d refreshes)", err, p.Refreshes())
	}
	// A failed refresh of a token still valid hands out the old one.
	c.Add(56 * time.Minute)
	p.FailToken(http.StatusBadGateway, 1)
	if again, err := tok.AccessToken(context.Background(), it); err != nil || again != got {
		t.Fatalf("within the margin, endpoint down: %v, want the old token", err)
	}
}

func TestNoRefreshWithoutDeadlineLeft(t *testing.T) {
	c := newClock()
	p := startPlatform(t, "jira", c)
	s := embeddedStores(t)
	start := p.minted(c, 2*time.Minute)
	it := connect(t, s, "jira", start)
	tok := tokensFor(s, p.hc, c, &events{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if got, err := tok.AccessToken(ctx, it); err != nil || got != start.AccessToken {
		t.Fatalf("short deadline, token still valid: %v", err)
	}
	c.Add(3 * time.Minute)
	var waits atomic.Int32
	tok.Wait = func(ctx context.Context, d time.Duration) error {
		if waits.Add(1) > 3 {
			return context.DeadlineExceeded
		}
		return nil
	}
	if _, err := tok.AccessToken(ctx, it); err == nil {
		t.Fatal("expired token, no time to refresh: no error")
	}
	if calls := p.calls.Load(); calls != 0 {
		t.Fatalf("refreshed (%d calls) with under 15 s left", calls)
	}
}

func TestTokensNeverInErrorsOrEvents(t *testing.T) {
	c := newClock()
	p := startPlatform(t, "jira", c)
	s := embeddedStores(t)
	ev := &events{}
	start := p.minted(c, -time.Minute)
	it := connect(t, s, "jira", start)
	tok := tokensFor(s, p.hc, c, ev)
	p.FailToken(http.StatusServiceUnavailable, 1)
	_, err1 := tok.AccessToken(context.Background(), it)
	p.RevokeGrants()
	_, err2 := tok.AccessToken(context.Background(), it)
	if err1 == nil || err2 == nil || len(ev.of("connection")) != 1 {
		t.Fatalf("errors %v, %v; events %v", err1, err2, ev.of("connection"))
	}
	for _, s := range []string{err1.Error(), err2.Error(), ev.of("connection")[0].Message} {
		for _, secret := range []string{start.AccessToken, start.RefreshToken, "fake-client-secret"} {
			if strings.Contains(s, secret) {
				t.Fatalf("%q shows a secret", s)
			}
		}
	}
}

// failingWrites is a secret store whose next version writes fail.
type failingWrites struct {
	integration.CurrentSecrets
	fail atomic.Int32
}

func (f *failingWrites) PutSecretVersion(ctx context.Context, ref integration.SecretRef, token string, values map[string]string) (integration.SecretVersion, error) {
	if f.fail.Add(-1) >= 0 {
		return integration.SecretVersion{}, errors.New("secrets manager: throttled")
	}
	return f.CurrentSecrets.PutSecretVersion(ctx, ref, token, values)
}

// A refresh whose answer could not be stored is a refresh cut short: the
// next holder, once the lease runs out, tries the stored refresh token.
func TestAnswerNotStored(t *testing.T) {
	for _, tc := range []struct {
		platform string
		lost     bool
	}{{"jira", false}, {"slack", true}} {
		t.Run(tc.platform, func(t *testing.T) {
			c := newClock()
			p := startPlatform(t, tc.platform, c)
			s := embeddedStores(t)
			ev := &events{}
			it := connect(t, s, tc.platform, p.minted(c, -time.Minute))
			tok := tokensFor(s, p.hc, c, ev)
			fw := &failingWrites{CurrentSecrets: s.secrets}
			fw.fail.Store(1)
			tok.Secrets = fw
			var tmp interface{ Temporary() bool }
			if _, err := tok.AccessToken(context.Background(), it); !errors.As(err, &tmp) {
				t.Fatalf("write failed: %v, want a temporary error", err)
			}
			c.Add(leaseFor)
			got, err := tok.AccessToken(context.Background(), it)
			if !tc.lost {
				if err != nil || !p.Valid(got) {
					t.Fatalf("next holder: %v", err)
				}
				return
			}
			evs := ev.of("connection")
			if !IsReauthorize(err) || len(evs) != 1 || evs[0].Details["reason"] != "refresh_interrupted" {
				t.Fatalf("next holder: %v, events %+v", err, evs)
			}
		})
	}
}

// TikTok publishes no code for a dead refresh token, but says when it
// lapses: refused after that, the grant needs reconnecting; refused before
// it, the status stays (the refusal may pass).
func TestRefusedAfterTheRefreshTokenLapsed(t *testing.T) {
	for _, lapsed := range []bool{true, false} {
		t.Run(fmt.Sprint("lapsed=", lapsed), func(t *testing.T) {
			c := newClock()
			p := startPlatform(t, "tiktok", c)
			s := embeddedStores(t)
			ev := &events{}
			ts := p.minted(c, -time.Minute)
			ts.RefreshExpiresAt = c.Now().Add(time.Hour)
			if lapsed {
				ts.RefreshExpiresAt = c.Now().Add(-time.Minute)
			}
			it := connect(t, s, "tiktok", ts)
			p.RevokeGrants()
			_, err := tokensFor(s, p.hc, c, ev).AccessToken(context.Background(), it)
			cur, gerr := s.svc.Get(context.Background(), tokenActor(it.AccountID), it.ID)
			if gerr != nil {
				t.Fatal(gerr)
			}
			evs := ev.of("connection")
			if lapsed {
				if !IsReauthorize(err) || cur.ConnectionStatus != integration.ConnectionReauthorizationNeeded ||
					len(evs) != 1 || evs[0].Details["reason"] != "refresh_token_expired" {
					t.Fatalf("lapsed: %v, status %s, events %+v", err, cur.ConnectionStatus, evs)
				}
				return
			}
			if err == nil || IsReauthorize(err) || cur.ConnectionStatus != integration.ConnectionConnected || len(evs) != 0 {
				t.Fatalf("not lapsed: %v, status %s, events %+v", err, cur.ConnectionStatus, evs)
			}
		})
	}
}
