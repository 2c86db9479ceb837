package oauth

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/integration"
)

// connectedCalls records the Connected hook's calls and fails them all.
type connectedCalls struct {
	mu    sync.Mutex
	its   []*integration.Integration
	toks  []map[string]string
	slack []time.Duration // time left before the call's deadline
}

func (c *connectedCalls) hook(ctx context.Context, it *integration.Integration, tokens map[string]string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.its, c.toks = append(c.its, it), append(c.toks, tokens)
	if d, ok := ctx.Deadline(); ok {
		c.slack = append(c.slack, time.Until(d))
	}
	// What a failing subscription says may name the token: the log must not.
	return errors.New("the store refused the subscription (shpat-1 is " + tokens["access_token"] + ")")
}

func TestConnectedHookFollowsAGrantAndNeverFailsTheCallback(t *testing.T) {
	h := newHarness(t)
	calls := &connectedCalls{}
	var logged bytes.Buffer
	h.flow.Connected, h.flow.Log = calls.hook, slog.New(slog.NewTextHandler(&logged, nil))

	it := h.create("shopify", siteURLOf("shopify"))
	// A callback that fails calls no hook.
	q := h.consent("shopify", h.authorize(it.ID))
	q.Del("code")
	q.Set("hmac", ShopifyHMAC(q, "sh-secret"))
	if back := h.callback("shopify", q); back.Get("error") != "exchange_failed" || len(calls.its) != 0 {
		t.Fatalf("failed callback: %v, %d hook calls", back, len(calls.its))
	}

	// Connected, then authorized again: the hook each time, its failure
	// only logged.
	for i := range 2 {
		back := h.callback("shopify", h.consent("shopify", h.authorize(it.ID)))
		if back.Get("status") != "connected" || back.Get("error") != "" {
			t.Fatalf("connect %d despite the hook's failure: %v", i, back)
		}
		if got := h.get(it.ID); got.ConnectionStatus != integration.ConnectionConnected || !got.Credentials.HasCredentials() {
			t.Fatalf("connect %d: %s %+v", i, got.ConnectionStatus, got.Credentials)
		}
		if len(calls.its) != i+1 {
			t.Fatalf("connect %d: %d hook calls", i, len(calls.its))
		}
		got := calls.its[i]
		if got.ID != it.ID || got.OAuth == nil || got.OAuth.ExternalAccountID != "acme.myshopify.com" || got.ConnectionStatus != integration.ConnectionConnected {
			t.Fatalf("hook given %+v", got)
		}
		if calls.toks[i]["access_token"] != "shpat-1" {
			t.Fatalf("hook given tokens %v", calls.toks[i])
		}
		if len(calls.slack) != i+1 || calls.slack[i] > ConnectedTimeout || calls.slack[i] <= 0 {
			t.Fatalf("hook deadline: %v", calls.slack)
		}
	}
	log := logged.String()
	if strings.Count(log, "integration_id="+it.ID) != 2 || strings.Contains(log, "shpat-1") || strings.Contains(log, "shprt-1") {
		t.Fatalf("log %q", log)
	}

	// A grant still waiting for a site to be chosen is not connected yet.
	h.p.jiraSites = []map[string]string{{"id": "cloud-1", "url": "https://one.atlassian.net"}, {"id": "cloud-2", "url": "https://two.atlassian.net"}}
	jira := h.create("jira", "")
	if back := h.callback("jira", h.consent("jira", h.authorize(jira.ID))); back.Get("status") != "action_required" || len(calls.its) != 2 {
		t.Fatalf("jira: %v, %d hook calls", back, len(calls.its))
	}
}
