package fakeplatforms

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// Google (developers.google.com/identity/protocols/oauth2/web-server):
// accounts.google.com authorizes, oauth2.googleapis.com issues and revokes
// tokens (form bodies only), www.googleapis.com serves the Calendar API.
// The refresh token comes only with access_type=offline, on first consent
// or with prompt=consent, and never on refresh; it does not rotate.

// calendarListScopes are the scopes CalendarList.get accepts.
var calendarListScopes = []string{
	"https://www.googleapis.com/auth/calendar",
	"https://www.googleapis.com/auth/calendar.readonly",
	"https://www.googleapis.com/auth/calendar.calendarlist",
	"https://www.googleapis.com/auth/calendar.calendarlist.readonly",
}

func (s *Server) routesGoogle() {
	s.mux.HandleFunc("GET /o/oauth2/v2/auth", s.googleAuthorize)
	s.mux.HandleFunc("POST /token", s.googleToken)
	s.mux.HandleFunc("POST /revoke", s.googleRevoke)
	s.mux.HandleFunc("GET /calendar/v3/users/me/calendarList/primary", s.googleCalendarPrimary)
}

func (s *Server) googleAuthorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s.mu.Lock()
	defer s.mu.Unlock()
	if q.Get("client_id") != s.opts.ClientID {
		errorPage(w, http.StatusUnauthorized, "Error 401: invalid_client. The OAuth client was not found.")
		return
	}
	ru := q.Get("redirect_uri")
	if ru == "" || !s.checkRedirectURI(ru) {
		errorPage(w, http.StatusBadRequest, "Error 400: redirect_uri_mismatch. You can't sign in to this app because it doesn't comply with Google's OAuth 2.0 policy.")
		return
	}
	if q.Get("response_type") != "code" {
		errorPage(w, http.StatusBadRequest, "Error 400: invalid_request. Invalid response_type: "+q.Get("response_type"))
		return
	}
	scopes := splitScopes(q.Get("scope"), " ")
	if len(scopes) == 0 {
		errorPage(w, http.StatusBadRequest, "Error 400: invalid_request. Missing required parameter: scope")
		return
	}
	// Google also accepts plain PKCE or none; the catalog asks for S256,
	// so anything else is a Joinery bug the fake reports.
	if q.Get("code_challenge") == "" || q.Get("code_challenge_method") != "S256" {
		errorPage(w, http.StatusBadRequest, "Error 400: invalid_request. code_challenge with code_challenge_method=S256 is required.")
		return
	}
	state := q.Get("state")
	if s.deny {
		s.deny = false
		redirect(w, ru, url.Values{"error": {"access_denied"}, "state": {state}})
		return
	}
	g := s.newGrant(scopes)
	acct := ""
	if len(g.accounts) > 0 {
		acct = g.accounts[0].ID
	}
	offline := q.Get("access_type") == "offline" &&
		(slices.Contains(strings.Fields(q.Get("prompt")), "consent") || !s.consented[acct])
	s.consented[acct] = true
	code := s.newCode(&authCode{grant: g, redirectURI: ru, challenge: q.Get("code_challenge"), method: "S256", offline: offline})
	redirect(w, ru, url.Values{"code": {code}, "scope": {strings.Join(g.scopes, " ")}, "state": {state}})
}

func googleError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

func (s *Server) googleToken(w http.ResponseWriter, r *http.Request) {
	b := readBody(r)
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := takeFail(&s.failToken); st != 0 {
		if st == http.StatusTooManyRequests {
			retryAfter(w, 30)
			googleError(w, st, "rate_limit_exceeded", "Rate limit exceeded.")
			return
		}
		googleError(w, st, "internal_failure", "Backend Error")
		return
	}
	if b.encoding != "form" {
		// Google reads only application/x-www-form-urlencoded bodies.
		googleError(w, http.StatusBadRequest, "invalid_request", "Required parameter is missing: grant_type")
		return
	}
	id, secret, _ := b.client(true, true)
	switch {
	case id == "":
		googleError(w, http.StatusBadRequest, "invalid_request", "Could not determine client ID from request.")
		return
	case id != s.opts.ClientID:
		googleError(w, http.StatusUnauthorized, "invalid_client", "The OAuth client was not found.")
		return
	case secret != s.opts.ClientSecret:
		googleError(w, http.StatusUnauthorized, "invalid_client", "Unauthorized")
		return
	}
	switch gt := b.v.Get("grant_type"); gt {
	case "authorization_code":
		if b.v.Get("code") == "" {
			googleError(w, http.StatusBadRequest, "invalid_request", "Missing required parameter: code")
			return
		}
		c, fail := s.redeem(b.v.Get("code"), b.v.Get("redirect_uri"), b.v.Get("code_verifier"), true)
		switch fail {
		case codeUnknown:
			googleError(w, http.StatusBadRequest, "invalid_grant", "Malformed auth code.")
			return
		case codeUsed, codeExpired:
			googleError(w, http.StatusBadRequest, "invalid_grant", "Bad Request")
			return
		case codeRedirect:
			googleError(w, http.StatusBadRequest, "redirect_uri_mismatch", "Bad Request")
			return
		case codeVerifierMissing:
			googleError(w, http.StatusBadRequest, "invalid_grant", "Missing code verifier.")
			return
		case codeVerifierBad:
			googleError(w, http.StatusBadRequest, "invalid_grant", "Invalid code verifier.")
			return
		}
		at, rt := s.issue(c.grant, c.offline, false)
		resp := map[string]any{"access_token": at, "expires_in": s.expiresIn(at), "scope": strings.Join(c.grant.scopes, " "), "token_type": "Bearer"}
		if rt != nil {
			resp["refresh_token"] = s.tokenOf(rt)
		}
		writeJSON(w, http.StatusOK, resp)
	case "refresh_token":
		tok := b.v.Get("refresh_token")
		if tok == "" {
			googleError(w, http.StatusBadRequest, "invalid_request", "Missing required parameter: refresh_token")
			return
		}
		rt := s.refresh[tok]
		if rt == nil || rt.dead || rt.grant.dead {
			googleError(w, http.StatusBadRequest, "invalid_grant", "Token has been expired or revoked.")
			return
		}
		rt.lastUsed = s.now()
		at, _ := s.issue(rt.grant, false, false)
		s.refreshes++
		// No refresh_token: Google's refresh tokens do not rotate.
		writeJSON(w, http.StatusOK, map[string]any{"access_token": at, "expires_in": s.expiresIn(at), "scope": strings.Join(rt.grant.scopes, " "), "token_type": "Bearer"})
	case "":
		googleError(w, http.StatusBadRequest, "invalid_request", "Required parameter is missing: grant_type")
	default:
		googleError(w, http.StatusBadRequest, "unsupported_grant_type", "Invalid grant_type: "+gt)
	}
}

// googleRevoke revokes a token and with it the whole grant: revoking an
// access token also ends its refresh token, and the other way round.
func (s *Server) googleRevoke(w http.ResponseWriter, r *http.Request) {
	b := readBody(r)
	tok := b.v.Get("token")
	if tok == "" {
		tok = r.URL.Query().Get("token")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// The revocation endpoint shares oauth2.googleapis.com with the token
	// endpoint, and FailToken with it.
	if st := takeFail(&s.failToken); st != 0 {
		if st == http.StatusTooManyRequests {
			retryAfter(w, 30)
		}
		googleError(w, st, "internal_failure", "Backend Error")
		return
	}
	var g *grant
	if a := s.access[tok]; a != nil && s.accessState(a) != tokRevoked {
		g = a.grant
	}
	if rt := s.refresh[tok]; rt != nil && !rt.dead && !rt.grant.dead {
		g = rt.grant
	}
	if g == nil {
		googleError(w, http.StatusBadRequest, "invalid_token", "Token expired or revoked")
		return
	}
	g.dead = true
	s.revokes++
	writeJSON(w, http.StatusOK, map[string]any{})
}

func googleAPIError(w http.ResponseWriter, status int, message, domain, reason, rpcStatus string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{
		"code": status, "message": message, "status": rpcStatus,
		"errors": []map[string]any{{"message": message, "domain": domain, "reason": reason}},
	}})
}

func (s *Server) googleCalendarPrimary(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := takeFail(&s.failAPI); st != 0 {
		if st == http.StatusTooManyRequests {
			retryAfter(w, 1)
			googleAPIError(w, st, "Too Many Requests", "usageLimits", "rateLimitExceeded", "RESOURCE_EXHAUSTED")
			return
		}
		googleAPIError(w, st, "Backend Error", "global", "backendError", "UNAVAILABLE")
		return
	}
	if s.takeRate() {
		googleAPIError(w, http.StatusForbidden, "Rate Limit Exceeded", "usageLimits", "rateLimitExceeded", "PERMISSION_DENIED")
		return
	}
	a, st := s.useAccess(bearer(r))
	switch st {
	case tokMissing:
		w.Header().Set("WWW-Authenticate", `Bearer realm="https://accounts.google.com/"`)
		googleAPIError(w, http.StatusUnauthorized, "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential.", "global", "required", "UNAUTHENTICATED")
		return
	case tokUnknown, tokExpired, tokRevoked:
		w.Header().Set("WWW-Authenticate", `Bearer realm="https://accounts.google.com/", error="invalid_token"`)
		googleAPIError(w, http.StatusUnauthorized, "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.", "global", "authError", "UNAUTHENTICATED")
		return
	}
	if !slices.ContainsFunc(a.grant.scopes, func(sc string) bool { return slices.Contains(calendarListScopes, sc) }) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="https://accounts.google.com/", error="insufficient_scope", scope="`+strings.Join(calendarListScopes, " ")+`"`)
		googleAPIError(w, http.StatusForbidden, "Request had insufficient authentication scopes.", "global", "insufficientPermissions", "PERMISSION_DENIED")
		return
	}
	acct := Account{}
	if len(a.grant.accounts) > 0 {
		acct = a.grant.accounts[0]
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"kind": "calendar#calendarListEntry", "etag": `"1700000000000000"`, "id": acct.ID, "summary": acct.Name,
		"timeZone": "Europe/Paris", "accessRole": "owner", "primary": true, "selected": true,
		"defaultReminders": []any{}, "conferenceProperties": map[string]any{"allowedConferenceSolutionTypes": []string{"hangoutsMeet"}},
	})
}
