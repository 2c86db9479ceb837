package conformance

import (
	"context"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/integration"
)

// TestDueRenewals: the scheduler's due index holds an integration from
// the earlier of its next sync and its grant's renewal (oauth.renew_at),
// so a grant no run uses is still found when it must be kept alive; a
// renewal is not a sync (DueIntegrations leaves it out).
func TestDueRenewals(t *testing.T, newStore func(t *testing.T) integration.Store) {
	ctx := context.Background()
	s := newStore(t)
	acct := uniq("acct")
	base := time.Date(2003, 4, 5, 6, 7, 8, 0, time.UTC)
	at := func(m int) *time.Time { v := base.Add(time.Duration(m) * time.Minute); return &v }
	renewOnly := newIntegration(acct, "renew-only", "jira", int(seq.Add(1)))
	renewOnly.OAuth = &integration.OAuthInfo{ExternalAccountID: "x", RenewAt: at(5)}
	syncLater := newIntegration(acct, "sync-later", "jira", int(seq.Add(1)))
	syncLater.NextSyncAt, syncLater.OAuth = at(20), &integration.OAuthInfo{RenewAt: at(2)}
	syncFirst := newIntegration(acct, "sync-first", "jira", int(seq.Add(1)))
	syncFirst.NextSyncAt, syncFirst.OAuth = at(1), &integration.OAuthInfo{RenewAt: at(60)}
	neither := newIntegration(acct, "neither", "jira", int(seq.Add(1)))
	neither.OAuth = &integration.OAuthInfo{ExternalAccountID: "y"}
	for _, in := range []*integration.Integration{renewOnly, syncLater, syncFirst, neither} {
		if err := s.CreateIntegration(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	due := func(t0 time.Time) []string {
		var out []string
		for _, shard := range s.DueShards() {
			cursor := ""
			for {
				items, next, err := s.DuePage(ctx, shard, t0, 10, cursor)
				if err != nil {
					t.Fatal(err)
				}
				for _, it := range items {
					if it.AccountID == acct {
						out = append(out, it.SiteID)
					}
				}
				if next == "" {
					break
				}
				cursor = next
			}
		}
		return out
	}
	has := func(list []string, site string) bool {
		for _, s := range list {
			if s == site {
				return true
			}
		}
		return false
	}
	got := due(*at(5))
	if len(got) != 3 || !has(got, "renew-only") || !has(got, "sync-later") || !has(got, "sync-first") {
		t.Fatalf("due at +5m: %v, want renew-only, sync-later (renewal at +2m) and sync-first", got)
	}
	if got := due(*at(1)); len(got) != 1 || got[0] != "sync-first" {
		t.Fatalf("due at +1m: %v", got)
	}
	// The renewal done (moved on), the integration leaves the index.
	cur, err := s.GetIntegration(ctx, acct, renewOnly.ID)
	if err != nil {
		t.Fatal(err)
	}
	next := *cur
	next.OAuth = &integration.OAuthInfo{ExternalAccountID: "x", RenewAt: at(60 * 24)}
	next.Rev = cur.Rev + 1
	if err := s.UpdateIntegration(ctx, &next, cur.Rev); err != nil {
		t.Fatal(err)
	}
	if got := due(*at(5)); has(got, "renew-only") {
		t.Fatalf("due at +5m after the renewal: %v", got)
	}
	// A renewal is not a sync.
	syncs, err := s.DueIntegrations(ctx, *at(10), 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range syncs {
		if it.AccountID == acct && it.SiteID != "sync-first" {
			t.Fatalf("DueIntegrations lists %s, due for a renewal only", it.SiteID)
		}
	}
}
