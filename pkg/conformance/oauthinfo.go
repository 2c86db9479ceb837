package conformance

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/integration"
)

// testOAuthInfo: an integration's OAuth facts round-trip, are replaced by
// an update and cleared by one without them; an integration without them
// reads back without them.
func testOAuthInfo(t *testing.T, newStore func(t *testing.T) integration.Store) {
	ctx := context.Background()
	t.Run("oauth info", func(t *testing.T) {
		s := newStore(t)
		acct := uniq("acct")
		in := newIntegration(acct, "site-1", "jira", 41)
		if err := s.CreateIntegration(ctx, in); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetIntegration(ctx, acct, in.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.OAuth != nil {
			t.Fatalf("oauth = %+v, want none", got.OAuth)
		}
		exp := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
		refreshed := exp.Add(-time.Hour)
		got.OAuth = &integration.OAuthInfo{
			Scopes: []string{"read:jira-work", "offline_access"}, ExpiresAt: &exp,
			ExternalAccountID: "acc-1", ExternalAccountName: "Ada",
			Sites:       []integration.OAuthSite{{ID: "c1", URL: "https://a.atlassian.net", Name: "A"}, {ID: "c2"}},
			RefreshedAt: &refreshed,
		}
		if err := s.UpdateIntegration(ctx, got, got.Rev); err != nil {
			t.Fatal(err)
		}
		back, err := s.GetIntegration(ctx, acct, in.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(back.OAuth, got.OAuth) {
			t.Fatalf("oauth = %+v, want %+v", back.OAuth, got.OAuth)
		}
		back.OAuth = nil
		if err := s.UpdateIntegration(ctx, back, back.Rev); err != nil {
			t.Fatal(err)
		}
		if again, err := s.GetIntegration(ctx, acct, in.ID); err != nil || again.OAuth != nil {
			t.Fatalf("after clearing: %+v, %v", again, err)
		}
	})
}
