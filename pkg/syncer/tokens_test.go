package syncer_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/integration"
	"github.com/joinery/joinery/pkg/syncer"
)

// grantGone is a token source that finds the grant gone, as oauth.Tokens
// does: it records reauthorization_required and one connection event,
// then refuses.
type grantGone struct {
	h     *harness
	calls atomic.Int32
}

func (g *grantGone) AccessToken(ctx context.Context, it *integration.Integration) (string, error) {
	g.calls.Add(1)
	msg := "The platform no longer accepts Joinery's authorization (invalid_grant); connect the integration again."
	actor := integration.Actor{Subject: "joinery:tokens", AccountID: it.AccountID, Role: integration.RoleOwner}
	if lost, _ := g.h.service.RecordConnectionLost(ctx, actor, it.ID, integration.ConnectionReauthorizationNeeded, msg, time.Now()); lost {
		_ = g.h.store.AddEvents(ctx, []integration.SyncEvent{{ID: integration.NewID(), IntegrationID: it.ID, Type: "connection", Status: "error", Message: msg, At: time.Now()}})
	}
	return "", &connector.Error{Kind: connector.ErrAuth, Code: "reauthorization_required", Message: msg, Err: connector.ErrReauthorize}
}

// seenTokens is a token source that hands out one token and keeps what
// the connector was given.
type seenTokens struct {
	mu    sync.Mutex
	calls int
}

func (s *seenTokens) AccessToken(context.Context, *integration.Integration) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	return "fresh-access-token", nil
}

func oauthHarness(t *testing.T, tokens syncer.AccessTokens) *harness {
	h := newHarness(t, newPlatform(25))
	h.engine.Tokens = tokens
	h.engine.OAuthPlatform = func(string) bool { return true }
	return h
}

// A run whose access token cannot be had because the grant is gone ends
// at once, without a retry or a call to the platform, and the loss is
// told once.
func TestARunStopsAtOnceWhenTheGrantIsGone(t *testing.T) {
	g := &grantGone{}
	h := oauthHarness(t, g)
	g.h = h
	run := h.sync(syncer.StartInput{Direction: integration.DirectionFromExternal, Models: []string{"post"}})
	if run.Status != integration.RunError || !strings.Contains(run.Error, "connect the integration again") {
		t.Fatalf("run: %s %q", run.Status, run.Error)
	}
	if n := h.platformCalls(); n != 0 || g.calls.Load() != 1 {
		t.Fatalf("%d platform calls, %d token requests; want none and one (no retries)", n, g.calls.Load())
	}
	if it := h.integration(); it.ConnectionStatus != integration.ConnectionReauthorizationNeeded || it.SyncStatus != integration.SyncError {
		t.Fatalf("integration: connection %s, sync %s", it.ConnectionStatus, it.SyncStatus)
	}
	if evs := h.events("connection"); len(evs) != 1 {
		t.Fatalf("connection events: %+v, want one", evs)
	}
}

func TestAPushStopsAtOnceWhenTheGrantIsGone(t *testing.T) {
	g := &grantGone{}
	h := oauthHarness(t, g)
	g.h = h
	p := h.push("article-1", "Hello")
	got := h.drain(p.ID)[p.ID]
	if got.Status != integration.PushFailed || !strings.Contains(got.Error, "connect the integration again") || h.platformCalls() != 0 || g.calls.Load() != 1 {
		t.Fatalf("push: %+v after %d token requests", got, g.calls.Load())
	}
	if evs := h.events("connection"); len(evs) != 1 {
		t.Fatalf("connection events: %+v, want one", evs)
	}
}

func TestConnectorsOfOAuthPlatformsGetTheAccessToken(t *testing.T) {
	s := &seenTokens{}
	h := oauthHarness(t, s)
	run := h.sync(syncer.StartInput{Direction: integration.DirectionFromExternal, Models: []string{"post"}})
	if run.Status != integration.RunCompleted || s.calls == 0 {
		t.Fatalf("run %s %q after %d token requests", run.Status, run.Error, s.calls)
	}
}
