package main

import (
	"context"
	"log/slog"
	"net/http"
	"testing"
	"time"
)

// connect connects a new integration of the platform through its fake,
// as a user would, and returns its id.
func (o *oauthRunner) connect(t *testing.T, token, platform string) string {
	t.Helper()
	body := `{"site_id":"site-` + platform + `","platform":"` + platform + `"}`
	created := o.call(t, "POST", "/v1/integrations", token, body)
	want(t, created, http.StatusCreated, platform+" create")
	id := created.body["id"].(string)
	cb, err := o.fakes[platform].Consent(o.authorize(t, token, id, platform).String())
	if err != nil {
		t.Fatalf("%s consent: %v", platform, err)
	}
	_, loc, page := o.callback(t, cb)
	if st, e := outcome(t, loc, id); st != "connected" {
		t.Fatalf("%s: status=%s error=%s %s", platform, st, e, page)
	}
	return id
}

// connectionEvents counts an integration's connection events.
func (o *oauthRunner) connectionEvents(t *testing.T, token, id string) int {
	t.Helper()
	got := o.call(t, "GET", "/v1/integrations/"+id+"/events", token, "")
	want(t, got, http.StatusOK, "events")
	items, _ := got.body["items"].([]any)
	n := 0
	for _, it := range items {
		if ev, _ := it.(map[string]any); ev["type"] == "connection" {
			n++
		}
	}
	return n
}

// Through the local runner, the token lifecycle is wired to the connection
// test and the scheduler's tick: a Slack access token near its expiry is
// refreshed once by a test, which then passes; a grant revoked at Slack
// makes the next test ask for a reconnect, with one connection event; a
// Jira grant left unused for the platform's keepalive is refreshed by a
// tick. No token shows in any response or log line.
func TestOAuthTokenLifecycle(t *testing.T) {
	for _, backend := range []string{"embedded", "aws"} {
		t.Run(backend, func(t *testing.T) {
			o := startOAuthRunner(t, backend)
			acct := "acct-tokens-" + backend
			editor := o.token(acct, "editor", "")
			slack := o.fakes["slack"]
			id := o.connect(t, editor, "slack")

			// The access token within its refresh margin: the test
			// refreshes it first, once, and passes with the new one.
			got := o.call(t, "GET", "/v1/integrations/"+id, editor, "")
			exp, err := time.Parse(time.RFC3339, got.body["oauth"].(map[string]any)["expires_at"].(string))
			if err != nil {
				t.Fatalf("slack expires_at: %s", got.raw)
			}
			o.clock.Add(exp.Sub(o.clock.Now()) - 2*time.Minute)
			res := o.call(t, "POST", "/v1/integrations/"+id+"/test_connection", editor, "")
			want(t, res, http.StatusOK, "test connection")
			if res.body["ok"] != true || slack.Refreshes() != 1 {
				t.Fatalf("near expiry: %s, %d refreshes", res.raw, slack.Refreshes())
			}
			// Good for 12 hours again: no second refresh.
			if res = o.call(t, "POST", "/v1/integrations/"+id+"/test_connection", editor, ""); res.body["ok"] != true || slack.Refreshes() != 1 {
				t.Fatalf("again: %s, %d refreshes", res.raw, slack.Refreshes())
			}
			before := o.connectionEvents(t, editor, id)

			// The app is removed from the workspace: the refresh token is
			// refused, and the integration needs a reconnect.
			slack.RevokeGrants()
			slack.ExpireAccessTokens()
			o.clock.Add(12*time.Hour - 2*time.Minute)
			res = o.call(t, "POST", "/v1/integrations/"+id+"/test_connection", editor, "")
			want(t, res, http.StatusOK, "test connection")
			if res.body["ok"] != false || res.body["connection_status"] != "reauthorization_required" {
				t.Fatalf("revoked: %s", res.raw)
			}
			if got := o.call(t, "GET", "/v1/integrations/"+id, editor, ""); got.body["connection_status"] != "reauthorization_required" {
				t.Fatalf("after the revoked grant: %s", got.raw)
			}
			if n := o.connectionEvents(t, editor, id) - before; n != 1 {
				t.Fatalf("%d connection events for the revoked grant, want 1", n)
			}

			// A Jira grant no run uses: the scheduler's tick keeps it
			// alive once its keepalive is due, and not before.
			jira := o.fakes["jira"]
			o.connect(t, editor, "jira")
			log := slog.New(slog.NewTextHandler(o.logs, nil))
			o.app.tick(context.Background(), log)
			if jira.Refreshes() != 0 {
				t.Fatalf("a fresh grant refreshed: %d", jira.Refreshes())
			}
			o.clock.Add(30*24*time.Hour + time.Minute)
			o.app.tick(context.Background(), log)
			if jira.Refreshes() != 1 {
				t.Fatalf("the due grant: %d refreshes, want 1; log:\n%s", jira.Refreshes(), o.logs.String())
			}

			for _, body := range o.seen {
				if m := fakeSecret.FindString(body); m != "" {
					t.Fatalf("a response shows %q: %.300s", m, body)
				}
			}
			if m := fakeSecret.FindString(o.logs.String()); m != "" {
				t.Fatalf("the runner logged %q", m)
			}
		})
	}
}

// Deleting an OAuth integration revokes its grant at the platform (Google
// here) before its tokens go, through the sync worker, as in AWS.
func TestOAuthDisconnectRevokes(t *testing.T) {
	for _, backend := range []string{"embedded", "aws"} {
		t.Run(backend, func(t *testing.T) {
			o := startOAuthRunner(t, backend, true)
			editor := o.token("acct-disconnect-"+backend, "editor", "")
			google := o.fakes["google_calendar"]
			id := o.connect(t, editor, "google_calendar")
			want(t, o.call(t, "DELETE", "/v1/integrations/"+id, editor, ""), http.StatusNoContent, "delete")
			want(t, o.call(t, "GET", "/v1/integrations/"+id, editor, ""), http.StatusNotFound, "get after delete")
			deadline := time.Now().Add(30 * time.Second)
			for google.Revocations() == 0 {
				if time.Now().After(deadline) {
					t.Fatalf("the grant was not revoked at Google; log:\n%s", o.logs.String())
				}
				time.Sleep(50 * time.Millisecond)
			}
			if n := google.Revocations(); n != 1 {
				t.Fatalf("%d revocations, want 1", n)
			}
		})
	}
}
