package fakeplatforms

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Atlassian 3LO (developer.atlassian.com/cloud/jira/platform/oauth-2-3lo-apps,
// …/cloud/oauth/getting-started/refresh-tokens): auth.atlassian.com
// authorizes (audience=api.atlassian.com) and issues tokens; a refresh
// token comes only with the offline_access scope, rotates on every use,
// and the replaced one still works for 10 minutes; reusing it later
// invalidates the whole token family. Refresh tokens lapse after 90 days
// unused and 365 days after consent. api.atlassian.com lists the grant's
// sites and proxies each site's REST API under /ex/jira/{cloudid}.

// jiraAbsolute is how long a grant's refresh tokens live at most.
const jiraAbsolute = 365 * 24 * time.Hour

func (s *Server) routesJira() {
	s.mux.HandleFunc("GET /authorize", s.jiraAuthorize)
	s.mux.HandleFunc("POST /oauth/token", s.jiraToken)
	s.mux.HandleFunc("GET /oauth/token/accessible-resources", s.jiraResources)
	s.mux.HandleFunc("GET /ex/jira/{cloudid}/rest/api/3/myself", s.jiraMyself)
}

func (s *Server) jiraAuthorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s.mu.Lock()
	defer s.mu.Unlock()
	if q.Get("client_id") != s.opts.ClientID {
		errorPage(w, http.StatusBadRequest, "Something went wrong: the app's client_id is not valid.")
		return
	}
	ru := q.Get("redirect_uri")
	if ru == "" || !s.checkRedirectURI(ru) {
		errorPage(w, http.StatusBadRequest, "Something went wrong: redirect_uri is not registered for this app.")
		return
	}
	if q.Get("audience") != "api.atlassian.com" {
		errorPage(w, http.StatusBadRequest, "Something went wrong: audience must be api.atlassian.com.")
		return
	}
	if q.Get("response_type") != "code" {
		errorPage(w, http.StatusBadRequest, "Something went wrong: response_type must be code.")
		return
	}
	scopes := splitScopes(q.Get("scope"), " ")
	if len(scopes) == 0 {
		errorPage(w, http.StatusBadRequest, "Something went wrong: scope is missing.")
		return
	}
	state := q.Get("state")
	if s.deny {
		s.deny = false
		redirect(w, ru, url.Values{"error": {"access_denied"}, "error_description": {"User did not authorize the request"}, "state": {state}})
		return
	}
	g := s.newGrant(scopes)
	code := s.newCode(&authCode{grant: g, redirectURI: ru, offline: slices.Contains(g.scopes, "offline_access")})
	redirect(w, ru, url.Values{"code": {code}, "state": {state}})
}

func (s *Server) jiraTokenAnswer(at string, rt *refreshToken) map[string]any {
	resp := map[string]any{"access_token": at, "expires_in": s.expiresIn(at), "token_type": "Bearer",
		"scope": strings.Join(s.access[at].grant.scopes, " ")}
	if rt != nil {
		resp["refresh_token"] = s.tokenOf(rt)
	}
	return resp
}

func (s *Server) jiraToken(w http.ResponseWriter, r *http.Request) {
	b := readBody(r)
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := takeFail(&s.failToken); st != 0 {
		if st == http.StatusTooManyRequests {
			retryAfter(w, 10)
		}
		googleError(w, st, "server_error", http.StatusText(st))
		return
	}
	id, secret, _ := b.client(false, true)
	if id != s.opts.ClientID || secret != s.opts.ClientSecret {
		googleError(w, http.StatusUnauthorized, "access_denied", "Unauthorized")
		return
	}
	switch gt := b.v.Get("grant_type"); gt {
	case "authorization_code":
		c, fail := s.redeem(b.v.Get("code"), b.v.Get("redirect_uri"), "", true)
		switch fail {
		case codeOK:
		case codeRedirect:
			googleError(w, http.StatusForbidden, "invalid_grant", "Invalid redirect_uri")
			return
		default:
			googleError(w, http.StatusForbidden, "invalid_grant", "Invalid authorization code")
			return
		}
		at, rt := s.issue(c.grant, c.offline, false)
		writeJSON(w, http.StatusOK, s.jiraTokenAnswer(at, rt))
	case "refresh_token":
		old := s.refresh[b.v.Get("refresh_token")]
		now := s.now()
		ok := old != nil && !old.dead && !old.grant.dead &&
			now.Before(old.expires) && now.Before(old.grant.issued.Add(jiraAbsolute))
		if ok && old.retired && now.Sub(old.retiredAt) > reuseWindow("jira") {
			// Reuse after the leeway: the token family is invalidated.
			old.grant.dead = true
			ok = false
		}
		if !ok {
			googleError(w, http.StatusForbidden, "invalid_grant", "Unknown or invalid refresh token.")
			return
		}
		if !old.retired {
			old.retired, old.retiredAt = true, now
		}
		at, rt := s.issue(old.grant, true, false)
		s.refreshes++
		writeJSON(w, http.StatusOK, s.jiraTokenAnswer(at, rt))
	default:
		googleError(w, http.StatusForbidden, "unsupported_grant_type", "Unsupported grant type: "+gt)
	}
}

func atlassianUnauthorized(w http.ResponseWriter, msg string) {
	writeJSON(w, http.StatusUnauthorized, map[string]any{"code": http.StatusUnauthorized, "message": msg})
}

func (s *Server) jiraAPIFailure(w http.ResponseWriter) bool {
	st := takeFail(&s.failAPI)
	if st == 0 && s.takeRate() {
		st = http.StatusTooManyRequests
	}
	if st == 0 {
		return false
	}
	if st == http.StatusTooManyRequests {
		h := w.Header()
		retryAfter(w, 5)
		h.Set("X-RateLimit-Limit", "100")
		h.Set("X-RateLimit-Remaining", "0")
		h.Set("X-RateLimit-Reset", s.now().Add(5*time.Second).UTC().Format(time.RFC3339))
		h.Set("RateLimit-Reason", "jira-burst-based")
	}
	writeJSON(w, st, map[string]any{"code": st, "message": http.StatusText(st)})
	return true
}

func (s *Server) jiraAccess(w http.ResponseWriter, r *http.Request) *accessToken {
	if s.jiraAPIFailure(w) {
		return nil
	}
	a, st := s.useAccess(bearer(r))
	if st != tokOK {
		atlassianUnauthorized(w, "Unauthorized")
		return nil
	}
	return a
}

func (s *Server) jiraResources(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.jiraAccess(w, r)
	if a == nil {
		return
	}
	scopes := slices.DeleteFunc(slices.Clone(a.grant.scopes), func(sc string) bool { return sc == "offline_access" })
	sites := []map[string]any{}
	for _, site := range a.grant.accounts {
		sites = append(sites, map[string]any{"id": site.ID, "url": site.URL, "name": site.Name, "scopes": scopes,
			"avatarUrl": "https://site-admin-avatar-cdn.prod.public.atl-paas.net/avatars/240/rocket.png"})
	}
	writeJSON(w, http.StatusOK, sites)
}

func (s *Server) jiraMyself(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.jiraAccess(w, r)
	if a == nil {
		return
	}
	cloud := r.PathValue("cloudid")
	i := slices.IndexFunc(a.grant.accounts, func(site Account) bool { return site.ID == cloud })
	if i < 0 {
		writeJSON(w, http.StatusNotFound, map[string]any{"code": http.StatusNotFound, "message": "Not Found"})
		return
	}
	if !slices.Contains(a.grant.scopes, "read:jira-user") {
		atlassianUnauthorized(w, "Unauthorized; scope does not match")
		return
	}
	site := a.grant.accounts[i]
	writeJSON(w, http.StatusOK, map[string]any{
		"self":      site.URL + "/rest/api/3/user?accountId=5b10a2844c20165700ede21g",
		"accountId": "5b10a2844c20165700ede21g", "accountType": "atlassian", "emailAddress": "mia@example.com",
		"displayName": "Mia Krystof", "active": true, "timeZone": "Europe/Paris", "locale": "en_US",
	})
}
