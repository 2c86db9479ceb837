package oauth

import (
	"context"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/integration"
)

// scheduled sets an integration's next run and the grant facts its item
// shows, as a sync-enabled, connected integration has them.
func scheduled(t *testing.T, s stores, it *integration.Integration, runIn time.Duration, c *clock, expiresIn time.Duration, refreshedAgo time.Duration) {
	t.Helper()
	ctx := context.Background()
	cur, err := s.store.GetIntegration(ctx, it.AccountID, it.ID)
	if err != nil {
		t.Fatal(err)
	}
	next := *cur
	run, exp, ref := c.Now().Add(runIn), c.Now().Add(expiresIn), c.Now().Add(-refreshedAgo)
	next.SyncEnabled, next.SyncIntervalMinutes, next.NextSyncAt = true, 60, &run
	next.OAuth = &integration.OAuthInfo{ExpiresAt: &exp, RefreshedAt: &ref, ExternalAccountID: "T1"}
	next.Rev = cur.Rev + 1
	if err := s.store.UpdateIntegration(ctx, &next, cur.Rev); err != nil {
		t.Fatal(err)
	}
}

func TestSchedulerRenewsOnlyWhatIsDue(t *testing.T) {
	c := newClock()
	jira := startPlatform(t, "jira", c)
	google := startPlatform(t, "google_calendar", c)
	s := embeddedStores(t)
	type want struct {
		platform                       *platform
		name                           string
		runIn, expiresIn, refreshedAgo time.Duration
		renewed                        bool
	}
	cases := []want{
		// A run in 10 minutes, the token expiring 2 minutes later: at the
		// run it would be within its margin.
		{jira, "jira", 10 * time.Minute, 12 * time.Minute, time.Hour, true},
		// A run in 30 minutes: not yet.
		{jira, "jira", 30 * time.Minute, 32 * time.Minute, time.Hour, false},
		// A run soon, the token good for long after it.
		{jira, "jira", 10 * time.Minute, 50 * time.Minute, time.Hour, false},
		// Due soon, the refresh token unused for 31 days (Atlassian
		// keeps it 90 days unused; the catalog's keepalive is 30).
		{jira, "jira", 10 * time.Minute, 50 * time.Minute, 31 * 24 * time.Hour, true},
		// Google has no keepalive: an old refresh token is left alone.
		{google, "google_calendar", 10 * time.Minute, 50 * time.Minute, 60 * 24 * time.Hour, false},
	}
	var its []*integration.Integration
	for _, tc := range cases {
		ts := tc.platform.minted(c, tc.expiresIn)
		ts.ObtainedAt = c.Now().Add(-tc.refreshedAgo)
		it := connect(t, s, tc.name, ts)
		scheduled(t, s, it, tc.runIn, c, tc.expiresIn, tc.refreshedAgo)
		its = append(its, it)
	}
	// One client for both fakes: Google's hosts go to its own.
	tok := tokensFor(s, twoPlatforms(jira, google), c, &events{})
	res, err := tok.RenewDue(context.Background())
	if err != nil || len(res.Failures) != 0 {
		t.Fatalf("renew: %+v %v", res, err)
	}
	if res.Checked != 4 {
		t.Fatalf("checked %d integrations, want the 4 due within 15 minutes", res.Checked)
	}
	if jira.Refreshes() != 2 || google.Refreshes() != 0 {
		t.Fatalf("refreshes: jira %d, google %d; want 2 and 0", jira.Refreshes(), google.Refreshes())
	}
	for i, tc := range cases {
		cur, err := s.svc.Get(context.Background(), tokenActor(its[i].AccountID), its[i].ID)
		if err != nil {
			t.Fatal(err)
		}
		refreshed := cur.OAuth.RefreshedAt.Equal(c.Now())
		if refreshed != tc.renewed {
			t.Fatalf("case %d: refreshed %v, want %v", i, refreshed, tc.renewed)
		}
	}
	// The next tick finds nothing left to do.
	if _, err := tok.RenewDue(context.Background()); err != nil || jira.Refreshes() != 2 {
		t.Fatalf("second tick: %v, %d refreshes", err, jira.Refreshes())
	}
}

// A grant no run uses is kept alive through the due index: due at its
// renewal time, refreshed, and then out of the index for another
// keepalive period.
func TestSchedulerKeepsUnusedGrantsAlive(t *testing.T) {
	c := newClock()
	p := startPlatform(t, "shopify", c)
	s := embeddedStores(t)
	ctx := context.Background()
	ts := p.minted(c, 30*time.Minute)
	ts.ObtainedAt = c.Now().Add(-30 * 24 * time.Hour)
	it := connect(t, s, "shopify", ts)
	tok := tokensFor(s, p.hc, c, &events{})
	// The item as the connect flow leaves it: no sync, renewal due in a
	// day (oauth.renew_at).
	cur, _ := s.store.GetIntegration(ctx, it.AccountID, it.ID)
	next := *cur
	renew := RenewAt(tokensFor(s, nil, c, nil).mustEntry(t, "shopify"), ts.ObtainedAt).Add(24 * time.Hour)
	next.OAuth = &integration.OAuthInfo{ExternalAccountID: "acme", RenewAt: &renew}
	next.IsActive, next.Rev = false, cur.Rev+1
	if err := s.store.UpdateIntegration(ctx, &next, cur.Rev); err != nil {
		t.Fatal(err)
	}
	if res, err := tok.RenewDue(ctx); err != nil || res.Checked != 0 || p.Refreshes() != 0 {
		t.Fatalf("a day early: %+v %v, %d refreshes", res, err, p.Refreshes())
	}
	c.Add(24*time.Hour + time.Minute)
	if res, err := tok.RenewDue(ctx); err != nil || res.Checked != 1 || len(res.Failures) != 0 || p.Refreshes() != 1 {
		t.Fatalf("when due: %+v %v, %d refreshes", res, err, p.Refreshes())
	}
	after, err := s.store.GetIntegration(ctx, it.AccountID, it.ID)
	if err != nil || after.OAuth.RenewAt == nil || !after.OAuth.RenewAt.Equal(c.Now().Add(30*24*time.Hour)) {
		t.Fatalf("renewal after the refresh: %+v %v", after.OAuth, err)
	}
	if res, _ := tok.RenewDue(ctx); res.Checked != 0 || p.Refreshes() != 1 {
		t.Fatalf("after: %+v, %d refreshes", res, p.Refreshes())
	}
}
