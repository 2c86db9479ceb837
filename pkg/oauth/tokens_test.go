package oauth

import (
	"context"
	"errors"
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
		{"within the margin: old token handed out meanwhile", 2 * time.Minute},
		{"expired: everyone waits for the new token", -time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClock()
			p := newProvider(t, c.Now, true, 0)
			p.delay = 50 * time.Millisecond // the refresh takes a while: callers pile up
			s := embeddedStores(t)
			it := connect(t, s, "jira", expiringIn(c, tc.expires))
			tok := tokensFor(s, clientFor(t, p), c, &events{})
			got, errs := callAll(t, 25, func(int) *Tokens { return tok }, it)
			for i, err := range errs {
				if err != nil {
					t.Fatalf("caller %d: %v", i, err)
				}
			}
			calls, answered, _ := p.stats()
			if calls != 1 || answered != 1 {
				t.Fatalf("token endpoint called %d times (%d answered), want exactly 1", calls, answered)
			}
			for i, g := range got {
				if g != "at-1" && (tc.expires < 0 || g != "at-0") {
					t.Fatalf("caller %d got %q", i, g)
				}
			}
			// Everyone after sees the new token, with no further call.
			if g, err := tok.AccessToken(context.Background(), it); err != nil || g != "at-1" {
				t.Fatalf("after: %q %v", g, err)
			}
			if calls, _, _ := p.stats(); calls != 1 {
				t.Fatalf("calls = %d after", calls)
			}
		})
	}
}

func TestRotatingRefreshTokensTwentyCycles(t *testing.T) {
	c := newClock()
	p := newProvider(t, c.Now, true, 0) // a replaced refresh token is dead at once
	p.okFalse = true
	s := embeddedStores(t)
	it := connect(t, s, "slack", expiringIn(c, -time.Minute))
	tok := tokensFor(s, clientFor(t, p), c, &events{})
	for cycle := 1; cycle <= 20; cycle++ {
		_, errs := callAll(t, 5, func(int) *Tokens { return tok }, it)
		for _, err := range errs {
			if err != nil {
				t.Fatalf("cycle %d: %v", cycle, err)
			}
		}
		c.Add(time.Hour) // every access token expired again
	}
	calls, answered, rejected := p.stats()
	if rejected != 0 || answered != 20 || calls != 20 {
		t.Fatalf("calls %d, answered %d, rejected %d; want 20 refreshes and no invalid refresh token", calls, answered, rejected)
	}
	cur, err := s.svc.Get(context.Background(), tokenActor(it.AccountID), it.ID)
	if err != nil || cur.ConnectionStatus != integration.ConnectionConnected || cur.Version != it.Version {
		t.Fatalf("after: %+v %v", cur, err)
	}
}

func TestStoredAnswerKeepsWhatTheAnswerLeavesOut(t *testing.T) {
	c := newClock()
	p := newProvider(t, c.Now, false, 0) // Google: no refresh token in the answer
	s := embeddedStores(t)
	start := expiringIn(c, time.Minute)
	start.RefreshExpiresAt = c.Now().Add(90 * 24 * time.Hour)
	it := connect(t, s, "google_calendar", start)
	tok := tokensFor(s, clientFor(t, p), c, &events{})
	if _, err := tok.AccessToken(context.Background(), it); err != nil {
		t.Fatal(err)
	}
	v, vals, err := s.secrets.CurrentSecret(context.Background(), secretRef(it))
	if err != nil {
		t.Fatal(err)
	}
	ts, err := ParseTokenSet(vals)
	if err != nil {
		t.Fatal(err)
	}
	if ts.RefreshToken != "rt-0" || ts.AccessToken != "at-1" || !ts.ExpiresAt.Equal(c.Now().Add(time.Hour)) ||
		strings.Join(ts.Scopes, " ") != "read write" || ts.ExternalAccountID != "T1" || !ts.ObtainedAt.Equal(c.Now()) ||
		!ts.RefreshExpiresAt.Equal(start.RefreshExpiresAt) {
		t.Fatalf("stored after refresh: %+v", ts)
	}
	// The item points at the new version, as a status write: the version
	// (ETag) is the user's and stays.
	cur, err := s.svc.Get(context.Background(), tokenActor(it.AccountID), it.ID)
	if err != nil || cur.Credentials.VersionID != v.VersionID || cur.Version != it.Version || cur.Rev != it.Rev+1 {
		t.Fatalf("item after refresh: %+v %v (version %s)", cur, err, v.VersionID)
	}
	o := cur.OAuth
	if o == nil || o.ExpiresAt == nil || !o.ExpiresAt.Equal(ts.ExpiresAt) || strings.Join(o.Scopes, " ") != "read write" ||
		o.RefreshedAt == nil || !o.RefreshedAt.Equal(c.Now()) || o.ExternalAccountID != "T1" {
		t.Fatalf("oauth after refresh: %+v", o)
	}
}

func TestHolderKilledBetweenAnswerAndWrite(t *testing.T) {
	for _, tc := range []struct {
		platform string
		rotates  bool
		reuse    time.Duration
		okFalse  bool
		// lost: the platform accepts the stored refresh token no more.
		lost bool
	}{
		{platform: "google_calendar"},
		{platform: "jira", rotates: true, reuse: 10 * time.Minute},
		{platform: "shopify", rotates: true, reuse: 30 * 24 * time.Hour},
		{platform: "slack", rotates: true, okFalse: true, lost: true},
	} {
		t.Run(tc.platform, func(t *testing.T) {
			c := newClock()
			p := newProvider(t, c.Now, tc.rotates, tc.reuse)
			p.okFalse = tc.okFalse
			s := embeddedStores(t)
			ev := &events{}
			it := connect(t, s, tc.platform, expiringIn(c, -time.Minute))
			hc := clientFor(t, p)
			killed := tokensFor(s, hc, c, ev)
			killed.crashAfterAnswer = func() bool { return true }
			if _, err := killed.AccessToken(context.Background(), it); !errors.Is(err, errCrashed) {
				t.Fatalf("killed holder: %v", err)
			}
			// Until its lease runs out nobody refreshes; then the next
			// caller does, with the refresh token still stored.
			c.Add(leaseFor)
			next := tokensFor(s, hc, c, ev)
			got, err := next.AccessToken(context.Background(), it)
			cur, gerr := s.svc.Get(context.Background(), tokenActor(it.AccountID), it.ID)
			if gerr != nil {
				t.Fatal(gerr)
			}
			if !tc.lost {
				if err != nil || got != "at-2" || cur.ConnectionStatus != integration.ConnectionConnected || len(ev.of("connection")) != 0 {
					t.Fatalf("next holder: %q %v, status %s, events %v", got, err, cur.ConnectionStatus, ev.of("connection"))
				}
				return
			}
			if !IsReauthorize(err) || cur.ConnectionStatus != integration.ConnectionReauthorizationNeeded {
				t.Fatalf("next holder: %q %v, status %s; want reauthorization_required", got, err, cur.ConnectionStatus)
			}
			evs := ev.of("connection")
			if len(evs) != 1 || evs[0].Details["reason"] != "refresh_interrupted" || !strings.Contains(evs[0].Message, "interrupted") && !strings.Contains(evs[0].Message, "stopped") {
				t.Fatalf("events = %+v, want one saying an interrupted refresh lost the token", evs)
			}
		})
	}
}

func TestRevokedGrantNeedsReauthorizationOnce(t *testing.T) {
	c := newClock()
	p := newProvider(t, c.Now, true, 10*time.Minute)
	p.revoked = true
	s := embeddedStores(t)
	ev := &events{}
	it := connect(t, s, "jira", expiringIn(c, -time.Minute))
	tok := tokensFor(s, clientFor(t, p), c, ev)
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
	if calls, _, _ := p.stats(); calls != 1 {
		t.Fatalf("token endpoint called %d times, want once (no retries)", calls)
	}
	cur, err := s.svc.Get(context.Background(), tokenActor(it.AccountID), it.ID)
	if err != nil || cur.ConnectionStatus != integration.ConnectionReauthorizationNeeded || cur.Version != it.Version {
		t.Fatalf("item: %+v %v", cur, err)
	}
	evs := ev.of("connection")
	if len(evs) != 1 || evs[0].Details["platform_code"] != "invalid_grant" || evs[0].Details["connection_status"] != "reauthorization_required" {
		t.Fatalf("events = %+v, want one", evs)
	}
	// Connecting again (new tokens, status connected) makes it work again.
	now := c.Now()
	if err := s.svc.RecordConnection(context.Background(), tokenActor(it.AccountID), it.ID, integration.ConnectionConnected, "", now); err != nil {
		t.Fatal(err)
	}
	fresh := expiringIn(c, -time.Minute)
	fresh.ObtainedAt = now.Add(time.Second)
	c.Add(2 * time.Second)
	if _, err := s.secrets.PutSecret(context.Background(), secretRef(it), fresh.Values()); err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	p.revoked = false
	p.mu.Unlock()
	if got, err := tok.AccessToken(context.Background(), it); err != nil || got != "at-1" {
		t.Fatalf("after reconnecting: %q %v", got, err)
	}
}

func TestUnavailableTokenEndpointChangesNothing(t *testing.T) {
	c := newClock()
	p := newProvider(t, c.Now, true, 10*time.Minute)
	p.fail = []int{503}
	s := embeddedStores(t)
	ev := &events{}
	it := connect(t, s, "jira", expiringIn(c, -time.Minute))
	tok := tokensFor(s, clientFor(t, p), c, ev)
	_, err := tok.AccessToken(context.Background(), it)
	var ce *connector.Error
	if !errors.As(err, &ce) || ce.Kind != connector.ErrUnavailable {
		t.Fatalf("503: %v, want a temporary error", err)
	}
	cur, gerr := s.svc.Get(context.Background(), tokenActor(it.AccountID), it.ID)
	if gerr != nil || cur.ConnectionStatus != integration.ConnectionConnected || cur.Rev != it.Rev || len(ev.of("connection")) != 0 {
		t.Fatalf("after a 503: %+v %v %v", cur, gerr, ev.of("connection"))
	}
	// The lease was freed: the next call refreshes at once.
	if got, err := tok.AccessToken(context.Background(), it); err != nil || got != "at-1" {
		t.Fatalf("later: %q %v", got, err)
	}
	// A failed refresh of a token still valid hands out the old one.
	c.Add(56 * time.Minute)
	p.mu.Lock()
	p.fail = []int{502}
	p.mu.Unlock()
	if got, err := tok.AccessToken(context.Background(), it); err != nil || got != "at-1" {
		t.Fatalf("within the margin, endpoint down: %q %v, want the old token", got, err)
	}
}

func TestNoRefreshWithoutDeadlineLeft(t *testing.T) {
	c := newClock()
	p := newProvider(t, c.Now, true, 0)
	s := embeddedStores(t)
	it := connect(t, s, "jira", expiringIn(c, 2*time.Minute))
	tok := tokensFor(s, clientFor(t, p), c, &events{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if got, err := tok.AccessToken(ctx, it); err != nil || got != "at-0" {
		t.Fatalf("short deadline, token still valid: %q %v", got, err)
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
	if calls, _, _ := p.stats(); calls != 0 {
		t.Fatalf("refreshed with %d calls and under 15 s left", calls)
	}
}

func TestTokensNeverInErrorsOrEvents(t *testing.T) {
	c := newClock()
	p := newProvider(t, c.Now, true, 0)
	p.revoked = true
	s := embeddedStores(t)
	ev := &events{}
	it := connect(t, s, "jira", expiringIn(c, -time.Minute))
	tok := tokensFor(s, clientFor(t, p), c, ev)
	_, err := tok.AccessToken(context.Background(), it)
	p.mu.Lock()
	p.revoked, p.fail = false, []int{503}
	p.mu.Unlock()
	_, err2 := tok.AccessToken(context.Background(), it)
	for _, s := range []string{err.Error(), err2.Error(), ev.of("connection")[0].Message} {
		for _, secret := range []string{"at-0", "rt-0", "csecret-never-shown"} {
			if strings.Contains(s, secret) {
				t.Fatalf("%q shows %s", s, secret)
			}
		}
	}
}
