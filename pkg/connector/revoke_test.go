package connector_test

import (
	"context"
	"errors"
	"testing"

	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/fakeplatforms"
)

func TestRevoker(t *testing.T) {
	ctx := context.Background()
	for _, p := range fakeplatforms.Platforms {
		if got, want := (&connector.Revoker{}).Revokes(p), p == "google_calendar" || p == "slack"; got != want {
			t.Errorf("Revokes(%s) = %v", p, got)
		}
	}
	for _, p := range []string{"google_calendar", "slack"} {
		t.Run(p, func(t *testing.T) {
			s := fakeplatforms.Start(t, p, fakeplatforms.Options{})
			r := &connector.Revoker{HTTP: s.Client()}
			tok := s.Mint()
			tokens := map[string]string{"access_token": tok.AccessToken, "refresh_token": tok.RefreshToken}
			if p == "slack" {
				s.FailAPI(429, 1)
			} else {
				s.FailToken(429, 1)
			}
			var ce *connector.Error
			if err := r.Revoke(ctx, p, tokens); !errors.As(err, &ce) || ce.Kind != connector.ErrRateLimited || ce.RetryAfter == 0 {
				t.Fatalf("rate limited: %v", err)
			}
			if err := r.Revoke(ctx, p, tokens); err != nil || s.Valid(tok.RefreshToken) || s.Valid(tok.AccessToken) {
				t.Fatalf("revoke: %v", err)
			}
			// Already revoked: nothing left to do.
			if err := r.Revoke(ctx, p, tokens); err != nil || s.Revocations() != 1 {
				t.Fatalf("second revoke: %v (%d revocations)", err, s.Revocations())
			}
		})
	}
}
