package fakeplatforms

import (
	"net/http"
	"net/url"
	"strings"
)

// Slack (docs.slack.dev/authentication/installing-with-oauth,
// docs.slack.dev/authentication/using-token-rotation): the Web API
// answers every failure as HTTP 200 {"ok": false, "error": ...}, except
// rate limits (429, Retry-After, "ratelimited"). The fake is an app with
// token rotation switched on (unless Options.SlackNoRotation): access
// tokens last 12 hours and each refresh returns a new refresh token, the
// old one dying at once.

const (
	slackAppID   = "A0FAKEAPP01"
	slackBotUser = "U0FAKEBOT1"
	slackBotID   = "B0FAKEBOT1"
)

func (s *Server) routesSlack() {
	s.mux.HandleFunc("GET /oauth/v2/authorize", s.slackAuthorize)
	s.mux.HandleFunc("POST /api/oauth.v2.access", s.slackAccess)
	s.mux.HandleFunc("/api/auth.test", s.slackAuthTest)
	s.mux.HandleFunc("/api/auth.revoke", s.slackAuthRevoke)
}

func slackError(w http.ResponseWriter, code string) {
	writeJSON(w, http.StatusOK, map[string]any{"ok": false, "error": code})
}

func slackRateLimited(w http.ResponseWriter) {
	retryAfter(w, 30)
	writeJSON(w, http.StatusTooManyRequests, map[string]any{"ok": false, "error": "ratelimited"})
}

func (s *Server) slackAuthorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s.mu.Lock()
	defer s.mu.Unlock()
	if q.Get("client_id") != s.opts.ClientID {
		errorPage(w, http.StatusBadRequest, "invalid_client_id: this app could not be found.")
		return
	}
	ru := q.Get("redirect_uri")
	target := ru
	if target == "" {
		target = s.opts.RedirectURI // Slack falls back on the app's only redirect URL
	}
	if target == "" || !s.checkRedirectURI(target) {
		errorPage(w, http.StatusBadRequest, "bad_redirect_uri: redirect_uri did not match any configured URIs.")
		return
	}
	scopes := splitScopes(q.Get("scope"), ",")
	if len(scopes) == 0 && q.Get("user_scope") == "" {
		errorPage(w, http.StatusBadRequest, "invalid_scope: no scopes were requested.")
		return
	}
	state := q.Get("state")
	if s.deny {
		s.deny = false
		redirect(w, target, url.Values{"error": {"access_denied"}, "state": {state}})
		return
	}
	g := s.newGrant(scopes)
	code := s.newCode(&authCode{grant: g, redirectURI: ru, offline: true})
	redirect(w, target, url.Values{"code": {code}, "state": {state}})
}

func (s *Server) slackGrantAnswer(at string, rt *refreshToken) map[string]any {
	a := s.access[at]
	team := Account{}
	if len(a.grant.accounts) > 0 {
		team = a.grant.accounts[0]
	}
	resp := map[string]any{
		"ok": true, "app_id": slackAppID, "authed_user": map[string]any{"id": "U0FAKEUSR1"},
		"scope": strings.Join(a.grant.scopes, ","), "token_type": "bot", "access_token": at,
		"bot_user_id": slackBotUser, "team": map[string]any{"id": team.ID, "name": team.Name},
		"enterprise": nil, "is_enterprise_install": false,
	}
	if n := s.expiresIn(at); n > 0 {
		resp["expires_in"] = n
	}
	if rt != nil {
		resp["refresh_token"] = s.tokenOf(rt)
	}
	return resp
}

func (s *Server) slackAccess(w http.ResponseWriter, r *http.Request) {
	b := readBody(r)
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := takeFail(&s.failToken); st != 0 {
		if st == http.StatusTooManyRequests {
			slackRateLimited(w)
			return
		}
		writeJSON(w, st, map[string]any{"ok": false, "error": "fatal_error"})
		return
	}
	id, secret, _ := b.client(true, true)
	switch {
	case id == "" || id != s.opts.ClientID:
		slackError(w, "invalid_client_id")
		return
	case secret != s.opts.ClientSecret:
		slackError(w, "bad_client_secret")
		return
	}
	switch b.v.Get("grant_type") {
	case "", "authorization_code":
		if b.v.Get("code") == "" {
			slackError(w, "invalid_code")
			return
		}
		c, fail := s.redeem(b.v.Get("code"), b.v.Get("redirect_uri"), "", true)
		switch fail {
		case codeOK:
		case codeRedirect:
			slackError(w, "bad_redirect_uri")
			return
		default:
			slackError(w, "invalid_code")
			return
		}
		at, rt := s.issue(c.grant, !s.opts.SlackNoRotation, false)
		writeJSON(w, http.StatusOK, s.slackGrantAnswer(at, rt))
	case "refresh_token":
		old := s.refresh[b.v.Get("refresh_token")]
		if old == nil || old.dead || old.retired || old.grant.dead {
			slackError(w, "invalid_refresh_token")
			return
		}
		// Rotation: the refresh token is single-use.
		old.retired, old.dead = true, true
		at, rt := s.issue(old.grant, true, false)
		s.refreshes++
		writeJSON(w, http.StatusOK, s.slackGrantAnswer(at, rt))
	default:
		slackError(w, "invalid_grant_type")
	}
}

// slackToken is the token of a Web API call: the Authorization header or
// the token form field.
func slackToken(r *http.Request) string {
	if t := bearer(r); t != "" {
		return t
	}
	b := readBody(r)
	if t := b.v.Get("token"); t != "" {
		return t
	}
	return r.URL.Query().Get("token")
}

func slackAuthFailure(w http.ResponseWriter, st tokState) bool {
	switch st {
	case tokMissing:
		slackError(w, "not_authed")
	case tokUnknown:
		slackError(w, "invalid_auth")
	case tokExpired:
		slackError(w, "token_expired")
	case tokRevoked:
		slackError(w, "token_revoked")
	default:
		return false
	}
	return true
}

func (s *Server) slackAPIFailure(w http.ResponseWriter) bool {
	if st := takeFail(&s.failAPI); st != 0 {
		if st == http.StatusTooManyRequests {
			slackRateLimited(w)
		} else {
			writeJSON(w, st, map[string]any{"ok": false, "error": "fatal_error"})
		}
		return true
	}
	if s.takeRate() {
		slackRateLimited(w)
		return true
	}
	return false
}

func (s *Server) slackAuthTest(w http.ResponseWriter, r *http.Request) {
	tok := slackToken(r)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.slackAPIFailure(w) {
		return
	}
	a, st := s.useAccess(tok)
	if slackAuthFailure(w, st) {
		return
	}
	team := Account{}
	if len(a.grant.accounts) > 0 {
		team = a.grant.accounts[0]
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "url": team.URL, "team": team.Name, "user": "joinery",
		"team_id": team.ID, "user_id": slackBotUser, "bot_id": slackBotID, "is_enterprise_install": false})
}

// slackAuthRevoke revokes the token it is called with; the installation's
// refresh token goes with it.
func (s *Server) slackAuthRevoke(w http.ResponseWriter, r *http.Request) {
	tok := slackToken(r)
	test := r.URL.Query().Get("test")
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.slackAPIFailure(w) {
		return
	}
	a, st := s.useAccess(tok)
	if slackAuthFailure(w, st) {
		return
	}
	if test == "true" || test == "1" {
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "revoked": false})
		return
	}
	a.revoked = true
	a.grant.dead = true
	s.revokes++
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "revoked": true})
}
