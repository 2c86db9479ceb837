package fakeplatforms

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// TikTok Business Messaging (API for Business v1.3; Chatwoot's
// app/services/tiktok/auth_client.rb): www.tiktok.com authorizes with
// client_key; business-api.tiktok.com takes JSON token requests with the
// client credentials in the body and answers everything as HTTP 200 with
// an envelope {"code", "message", "request_id", "data"}: code 0 is
// success. The error codes are not published; the fake uses the ones
// Business API clients handle (40100 rate limit, 40101 bad app
// credentials, 40105 bad access token, 40110 bad auth code) and, where
// none is known, a code of its own (tiktokBadRefresh). Whether refresh
// tokens rotate is not documented: the fake takes the strict reading,
// a new refresh token on every refresh and the old one dead at once.

const (
	tiktokOK           = 0
	tiktokParamError   = 40002
	tiktokNoPermission = 40001
	tiktokRateLimited  = 40100
	tiktokBadClient    = 40101
	tiktokBadRefresh   = 40102 // unpublished: any code ≠ 0 on refresh means reauthorize
	tiktokNoToken      = 40104
	tiktokBadToken     = 40105
	tiktokBadAuthCode  = 40110
)

func (s *Server) routesTikTok() {
	s.mux.HandleFunc("GET /v2/auth/authorize/", s.tiktokAuthorize)
	s.mux.HandleFunc("POST /open_api/v1.3/tt_user/oauth2/token/", s.tiktokToken)
	s.mux.HandleFunc("POST /open_api/v1.3/tt_user/oauth2/refresh_token/", s.tiktokToken)
	s.mux.HandleFunc("POST /open_api/v1.3/tt_user/oauth2/revoke/", s.tiktokRevoke)
	s.mux.HandleFunc("GET /open_api/v1.3/business/get/", s.tiktokBusiness)
}

func (s *Server) tiktokEnvelope(w http.ResponseWriter, code int, message string, data any) {
	if data == nil {
		data = map[string]any{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"code": code, "message": message, "request_id": s.random("req-"), "data": data})
}

func (s *Server) tiktokAuthorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s.mu.Lock()
	defer s.mu.Unlock()
	if q.Get("client_key") != s.opts.ClientID {
		errorPage(w, http.StatusBadRequest, "Something went wrong: client_key is not valid (error_type: client_key).")
		return
	}
	ru := q.Get("redirect_uri")
	if ru == "" || !s.checkRedirectURI(ru) {
		errorPage(w, http.StatusBadRequest, "Something went wrong: redirect_uri is not registered (error_type: redirect_uri).")
		return
	}
	if q.Get("response_type") != "code" {
		errorPage(w, http.StatusBadRequest, "Something went wrong: response_type must be code.")
		return
	}
	scopes := splitScopes(q.Get("scope"), ",")
	if len(scopes) == 0 {
		errorPage(w, http.StatusBadRequest, "Something went wrong: scope is missing (error_type: scope).")
		return
	}
	state := q.Get("state")
	if s.deny {
		s.deny = false
		redirect(w, ru, url.Values{"error": {"access_denied"}, "error_description": {"The user denied the request"}, "state": {state}})
		return
	}
	g := s.newGrant(scopes)
	code := s.newCode(&authCode{grant: g, redirectURI: ru, offline: true})
	redirect(w, ru, url.Values{"code": {code}, "scopes": {strings.Join(g.scopes, ",")}, "state": {state}})
}

func (s *Server) tiktokTokenData(at string, rt *refreshToken) map[string]any {
	g := s.access[at].grant
	openID := ""
	if len(g.accounts) > 0 {
		openID = g.accounts[0].ID
	}
	return map[string]any{"open_id": openID, "scope": strings.Join(g.scopes, ","), "access_token": at,
		"refresh_token": s.tokenOf(rt), "expires_in": s.expiresIn(at), "refresh_token_expires_in": s.refreshExpiresIn(rt),
		"token_type": "Bearer"}
}

func (s *Server) tiktokToken(w http.ResponseWriter, r *http.Request) {
	b := readBody(r)
	refreshPath := strings.HasSuffix(r.URL.Path, "/refresh_token/")
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := takeFail(&s.failToken); st != 0 {
		if st == http.StatusTooManyRequests {
			s.tiktokEnvelope(w, tiktokRateLimited, "Too many requests. Please retry in some time.", nil)
			return
		}
		writeJSON(w, st, map[string]any{"code": 50000, "message": "System error", "request_id": s.random("req-")})
		return
	}
	if b.encoding != "json" {
		s.tiktokEnvelope(w, tiktokParamError, "Content-Type must be application/json.", nil)
		return
	}
	if b.v.Get("client_id") != s.opts.ClientID || b.v.Get("client_secret") != s.opts.ClientSecret {
		s.tiktokEnvelope(w, tiktokBadClient, "The app_id or secret is invalid.", nil)
		return
	}
	gt := b.v.Get("grant_type")
	switch {
	case !refreshPath && gt == "authorization_code":
		if b.v.Get("auth_code") == "" {
			s.tiktokEnvelope(w, tiktokParamError, "auth_code: Missing data for required field.", nil)
			return
		}
		c, fail := s.redeem(b.v.Get("auth_code"), b.v.Get("redirect_uri"), "", true)
		switch fail {
		case codeOK:
		case codeRedirect:
			s.tiktokEnvelope(w, tiktokParamError, "redirect_uri does not match the authorization request.", nil)
			return
		default:
			s.tiktokEnvelope(w, tiktokBadAuthCode, "The auth_code is invalid or has expired.", nil)
			return
		}
		at, rt := s.issue(c.grant, true, false)
		s.tiktokEnvelope(w, tiktokOK, "OK", s.tiktokTokenData(at, rt))
	case refreshPath && gt == "refresh_token":
		old := s.refresh[b.v.Get("refresh_token")]
		if old == nil || old.dead || old.grant.dead || !s.now().Before(old.expires) {
			s.tiktokEnvelope(w, tiktokBadRefresh, "The refresh_token is invalid or has expired.", nil)
			return
		}
		old.dead, old.retired = true, true
		at, rt := s.issue(old.grant, true, false)
		s.refreshes++
		s.tiktokEnvelope(w, tiktokOK, "OK", s.tiktokTokenData(at, rt))
	default:
		s.tiktokEnvelope(w, tiktokParamError, "grant_type: invalid value.", nil)
	}
}

func (s *Server) tiktokRevoke(w http.ResponseWriter, r *http.Request) {
	b := readBody(r)
	s.mu.Lock()
	defer s.mu.Unlock()
	if b.v.Get("client_id") != s.opts.ClientID || b.v.Get("client_secret") != s.opts.ClientSecret {
		s.tiktokEnvelope(w, tiktokBadClient, "The app_id or secret is invalid.", nil)
		return
	}
	a := s.access[b.v.Get("access_token")]
	if s.accessState(a) == tokUnknown || s.accessState(a) == tokRevoked {
		s.tiktokEnvelope(w, tiktokBadToken, "Access token is incorrect or has been revoked.", nil)
		return
	}
	a.grant.dead = true
	s.revokes++
	s.tiktokEnvelope(w, tiktokOK, "OK", nil)
}

func (s *Server) tiktokBusiness(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := takeFail(&s.failAPI); st != 0 {
		if st == http.StatusTooManyRequests {
			retryAfter(w, 1)
		}
		writeJSON(w, st, map[string]any{"code": 50000, "message": http.StatusText(st), "request_id": s.random("req-")})
		return
	}
	if s.takeRate() {
		s.tiktokEnvelope(w, tiktokRateLimited, "Too many requests. Please retry in some time.", nil)
		return
	}
	a, st := s.useAccess(r.Header.Get("Access-Token"))
	switch st {
	case tokMissing:
		s.tiktokEnvelope(w, tiktokNoToken, "Access token is null, please check.", nil)
		return
	case tokUnknown, tokExpired, tokRevoked:
		s.tiktokEnvelope(w, tiktokBadToken, "Access token is incorrect or has been revoked.", nil)
		return
	}
	q := r.URL.Query()
	acct := Account{}
	if len(a.grant.accounts) > 0 {
		acct = a.grant.accounts[0]
	}
	if q.Get("business_id") == "" {
		s.tiktokEnvelope(w, tiktokParamError, "business_id: Missing data for required field.", nil)
		return
	}
	if q.Get("business_id") != acct.ID {
		s.tiktokEnvelope(w, tiktokNoPermission, "No permission to operate this business_id.", nil)
		return
	}
	if !slices.Contains(a.grant.scopes, "user.info.basic") {
		s.tiktokEnvelope(w, tiktokNoPermission, "The access token is not authorized for the scope user.info.basic.", nil)
		return
	}
	all := map[string]any{"username": acct.Name, "display_name": acct.Name,
		"profile_image": "https://p16.tiktokcdn.com/fake.jpeg", "followers_count": 1200}
	data := map[string]any{}
	if f := q.Get("fields"); f != "" {
		var fields []string
		if json.Unmarshal([]byte(f), &fields) != nil {
			s.tiktokEnvelope(w, tiktokParamError, "fields: Not a valid list.", nil)
			return
		}
		for _, k := range fields {
			if v, ok := all[k]; ok {
				data[k] = v
			}
		}
	} else {
		data = all
	}
	s.tiktokEnvelope(w, tiktokOK, "OK", data)
}
