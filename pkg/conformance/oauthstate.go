package conformance

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/integration"
)

// TestOAuthStates runs the OAuthStates conformance suite: a state is
// taken once, before it expires, and by one of concurrent takers.
func TestOAuthStates(t *testing.T, newStore func(t *testing.T) integration.OAuthStates) {
	ctx := context.Background()
	now := time.Date(2026, 4, 5, 6, 7, 8, 0, time.UTC)
	state := func() *integration.OAuthState {
		return &integration.OAuthState{
			State: uniq("state"), IntegrationID: "01JINT", AccountID: uniq("acct"), Platform: "google_calendar",
			Verifier: "verifier-1", ReturnURL: "https://app.example/done", ExpiresAt: now.Add(integration.OAuthStateTTL),
		}
	}
	t.Run("taken once", func(t *testing.T) {
		s := newStore(t)
		in := state()
		if err := s.PutOAuthState(ctx, in); err != nil {
			t.Fatal(err)
		}
		got, err := s.TakeOAuthState(ctx, in.State, now.Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if *got != *in {
			t.Fatalf("got %+v\nwant %+v", *got, *in)
		}
		_, err = s.TakeOAuthState(ctx, in.State, now.Add(time.Minute))
		wantCode(t, err, integration.ENOTFOUND)
	})
	t.Run("unknown", func(t *testing.T) {
		s := newStore(t)
		_, err := s.TakeOAuthState(ctx, uniq("never-put"), now)
		wantCode(t, err, integration.ENOTFOUND)
	})
	t.Run("expired", func(t *testing.T) {
		s := newStore(t)
		in := state()
		if err := s.PutOAuthState(ctx, in); err != nil {
			t.Fatal(err)
		}
		_, err := s.TakeOAuthState(ctx, in.State, in.ExpiresAt)
		wantCode(t, err, integration.ENOTFOUND)
		_, err = s.TakeOAuthState(ctx, in.State, in.ExpiresAt.Add(time.Hour))
		wantCode(t, err, integration.ENOTFOUND)
	})
	t.Run("put twice", func(t *testing.T) {
		s := newStore(t)
		in := state()
		if err := s.PutOAuthState(ctx, in); err != nil {
			t.Fatal(err)
		}
		other := *in
		other.ReturnURL = "https://evil.example/"
		wantCode(t, s.PutOAuthState(ctx, &other), integration.ECONFLICT)
		got, err := s.TakeOAuthState(ctx, in.State, now)
		if err != nil || got.ReturnURL != in.ReturnURL {
			t.Fatalf("got %+v, %v", got, err)
		}
	})
	t.Run("concurrent takes", func(t *testing.T) {
		s := newStore(t)
		in := state()
		if err := s.PutOAuthState(ctx, in); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		won := 0
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := s.TakeOAuthState(ctx, in.State, now)
				if err == nil {
					mu.Lock()
					won++
					mu.Unlock()
				} else if integration.ErrorCode(err) != integration.ENOTFOUND {
					t.Errorf("take: %v", err)
				}
			}()
		}
		wg.Wait()
		if won != 1 {
			t.Fatalf("%d takes got the state, want 1", won)
		}
	})
}
