package fakeplatforms

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strings"
)

// Shopify (shopify.dev: authorization code grant; expiring offline access
// tokens; changelog 2026-08-28): each shop is its own host,
// {shop}.myshopify.com. The callback carries code, hmac, host, shop,
// state and timestamp, hmac being hex(HMAC-SHA256(client secret, the other
// parameters sorted and joined as k=v&k=v)). The token call takes the
// client credentials in the body; expiring=1 asks for an expiring offline
// token (1 h) with a 90-day refresh token replaced on every use. The
// replaced refresh token keeps working until the app first uses its
// replacement, at most 30 days from its own first use and never beyond
// its 90 days. A cancelled install redirecting with error=access_denied
// rests on a secondary source. The fake serves one shop, Options.Shop.
//
// The Admin GraphQL API (POST /admin/api/{version}/graphql.json, the
// version the catalog pins, X-Shopify-Access-Token) runs on a declared
// subset of Shopify's schema (shopify_schema.go): queries are parsed and
// validated (unknown fields and arguments are HTTP 200 with top-level
// errors, as Shopify answers), priced by Shopify's cost rules against a
// leaky bucket on the fake's clock (THROTTLED when short, over 1000
// refused), then run on the shop's products and webhook subscriptions.
// Mutations answer userErrors as Shopify does; writes, whether through
// the API or the helpers (shopify_helpers.go), send signed webhooks.

func (s *Server) routesShopify() {
	s.mux.HandleFunc("GET /admin/oauth/authorize", s.shopifyAuthorize)
	s.mux.HandleFunc("POST /admin/oauth/access_token", s.shopifyToken)
	s.mux.HandleFunc("POST /admin/api/{version}/graphql.json", s.shopifyGraphQL)
	s.shopify = newShopifyState()
}

func (s *Server) shopDomain() string { return s.opts.Shop + ".myshopify.com" }

// wrongShop: a request naming another shop's host (the fake reached
// through a proxy keeping the Host) gets that shop's 404.
func (s *Server) wrongShop(w http.ResponseWriter, r *http.Request) bool {
	h := r.Host
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.Contains(h[i:], "]") {
		h = h[:i]
	}
	if strings.HasSuffix(h, ".myshopify.com") && h != s.shopDomain() {
		errorPage(w, http.StatusNotFound, "There's nothing here: no shop at "+h+".")
		return true
	}
	return false
}

// ShopifySign signs a callback query as Shopify does: hex HMAC-SHA256 with
// the client secret over every parameter but hmac and signature, sorted
// and joined as k=v&k=v.
func ShopifySign(q url.Values, clientSecret string) string {
	var keys []string
	for k := range q {
		if k != "hmac" && k != "signature" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+"="+strings.Join(q[k], ","))
	}
	m := hmac.New(sha256.New, []byte(clientSecret))
	m.Write([]byte(strings.Join(parts, "&")))
	return hex.EncodeToString(m.Sum(nil))
}

func (s *Server) shopifyAuthorize(w http.ResponseWriter, r *http.Request) {
	if s.wrongShop(w, r) {
		return
	}
	q := r.URL.Query()
	s.mu.Lock()
	defer s.mu.Unlock()
	if q.Get("client_id") != s.opts.ClientID {
		errorPage(w, http.StatusBadRequest, "Oauth error invalid_request: The client_id provided is invalid.")
		return
	}
	ru := q.Get("redirect_uri")
	if ru == "" || !s.checkRedirectURI(ru) {
		errorPage(w, http.StatusBadRequest, "Oauth error invalid_request: The redirect_uri is not whitelisted.")
		return
	}
	scopes := splitScopes(q.Get("scope"), ",")
	if len(scopes) == 0 {
		errorPage(w, http.StatusBadRequest, "Oauth error invalid_scope: the scope is empty.")
		return
	}
	params := url.Values{
		"shop":      {s.shopDomain()},
		"host":      {base64.RawStdEncoding.EncodeToString([]byte("admin.shopify.com/store/" + s.opts.Shop))},
		"state":     {q.Get("state")},
		"timestamp": {fmt.Sprint(s.now().Unix())},
	}
	if s.deny {
		s.deny = false
		params.Set("error", "access_denied")
	} else {
		g := s.newGrant(scopes)
		params.Set("code", s.newCode(&authCode{grant: g, redirectURI: ru}))
	}
	params.Set("hmac", ShopifySign(params, s.opts.ClientSecret))
	redirect(w, ru, params)
}

func (s *Server) shopifyTokenAnswer(at string, rt *refreshToken) map[string]any {
	resp := map[string]any{"access_token": at, "scope": strings.Join(s.access[at].grant.scopes, ",")}
	if n := s.expiresIn(at); n > 0 {
		resp["expires_in"] = n
	}
	if rt != nil {
		resp["refresh_token"] = s.tokenOf(rt)
		resp["refresh_token_expires_in"] = s.refreshExpiresIn(rt)
	}
	return resp
}

func (s *Server) shopifyToken(w http.ResponseWriter, r *http.Request) {
	if s.wrongShop(w, r) {
		return
	}
	b := readBody(r)
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := takeFail(&s.failToken); st != 0 {
		if st == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "2.0")
		}
		writeJSON(w, st, map[string]any{"errors": http.StatusText(st)})
		return
	}
	id, secret, _ := b.client(false, true)
	if id != s.opts.ClientID || secret != s.opts.ClientSecret {
		googleError(w, http.StatusUnauthorized, "invalid_client", "Client authentication failed: the client_id or client_secret is wrong.")
		return
	}
	switch gt := b.v.Get("grant_type"); gt {
	case "", "authorization_code":
		c, fail := s.redeem(b.v.Get("code"), "", "", false)
		if fail != codeOK {
			googleError(w, http.StatusBadRequest, "invalid_request", "The authorization code was not found or was already used")
			return
		}
		expiring := b.v.Get("expiring") == "1"
		at, rt := s.issue(c.grant, expiring, expiring)
		writeJSON(w, http.StatusOK, s.shopifyTokenAnswer(at, rt))
	case "refresh_token":
		old := s.refresh[b.v.Get("refresh_token")]
		now := s.now()
		ok := old != nil && !old.dead && !old.grant.dead && now.Before(old.expires)
		if ok && old.retired && !now.Before(old.firstUsed.Add(reuseWindow("shopify"))) {
			ok = false
		}
		if !ok {
			googleError(w, http.StatusBadRequest, "invalid_grant", "The refresh token is invalid, expired or revoked.")
			return
		}
		if old.firstUsed.IsZero() {
			old.firstUsed = now
		}
		// Using a replacement retires the token it replaced.
		if old.prev != nil {
			old.prev.dead = true
		}
		old.retired = true
		at, rt := s.issue(old.grant, true, true)
		rt.prev = old
		s.refreshes++
		writeJSON(w, http.StatusOK, s.shopifyTokenAnswer(at, rt))
	default:
		googleError(w, http.StatusBadRequest, "unsupported_grant_type", "grant_type is not supported: "+gt)
	}
}

// shopifyGraphQL serves the Admin GraphQL API: the pinned version only,
// a valid access token, then the query parsed, validated, priced and run
// against the shop under the cost bucket (see shopify_gql.go).
func (s *Server) shopifyGraphQL(w http.ResponseWriter, r *http.Request) {
	if s.wrongShop(w, r) {
		return
	}
	raw, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	s.mu.Lock()
	st := s.shopify
	if r.PathValue("version") != st.version {
		s.mu.Unlock()
		writeJSON(w, http.StatusNotFound, map[string]any{"errors": "Not Found"})
		return
	}
	if code := takeFail(&s.failAPI); code != 0 {
		s.mu.Unlock()
		if code == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "2.0")
		}
		writeJSON(w, code, map[string]any{"errors": http.StatusText(code)})
		return
	}
	tok, ts := s.useAccess(r.Header.Get("X-Shopify-Access-Token"))
	if ts != tokOK {
		s.mu.Unlock()
		writeJSON(w, http.StatusUnauthorized, map[string]any{"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"})
		return
	}
	st.calls++
	status, answer, out := s.shopifyAnswer(raw, mt, tok.grant.scopes)
	w.Header().Set("X-Shopify-API-Version", st.version)
	w.Header().Set("X-Request-Id", s.uuid())
	s.mu.Unlock()
	s.sendLater(out)
	writeJSON(w, status, answer)
}

// shopifyAnswer runs one GraphQL request (callers hold s.mu) and returns
// the answer and the webhook deliveries it triggered.
func (s *Server) shopifyAnswer(raw []byte, mt string, scopes []string) (int, map[string]any, []outgoing) {
	st := s.shopify
	now := s.now()
	cost := func(requested int, actual any) map[string]any {
		return map[string]any{"cost": map[string]any{"requestedQueryCost": requested, "actualQueryCost": actual,
			"throttleStatus": st.bucket.status(now)}}
	}
	var req struct {
		Query         string         `json:"query"`
		OperationName string         `json:"operationName"`
		Variables     map[string]any `json:"variables"`
	}
	switch mt {
	case "application/json":
		if json.Unmarshal(raw, &req) != nil {
			return http.StatusBadRequest, map[string]any{"errors": "Bad Request"}, nil
		}
	case "application/graphql":
		req.Query = string(raw)
	default:
		return http.StatusUnsupportedMediaType, map[string]any{"errors": "Unsupported Media Type"}, nil
	}
	q, errs := parseGQL(req.Query, req.OperationName, req.Variables)
	if errs != nil {
		return http.StatusOK, map[string]any{"errors": errs, "extensions": cost(0, 0)}, nil
	}
	requested, errs := q.requestedCost()
	if errs != nil {
		return http.StatusOK, map[string]any{"errors": errs, "extensions": cost(0, 0)}, nil
	}
	if requested > shopifyMaxQueryCost {
		msg := fmt.Sprintf("Query cost is %d, which exceeds the single query max cost limit (%d).\n\n"+
			"See https://shopify.dev/concepts/about-apis/rate-limits for more information on how the\n"+
			"cost of a query is calculated.\n\nTo query larger amounts of data with fewer limits, bulk operations should be used instead.\n"+
			"See https://shopify.dev/tutorials/perform-bulk-operations-with-admin-api for usage details.\n", requested, shopifyMaxQueryCost)
		return http.StatusOK, map[string]any{"errors": []map[string]any{gqlErr(msg, map[string]any{"code": "MAX_COST_EXCEEDED",
			"cost": requested, "maxCost": shopifyMaxQueryCost})}, "extensions": cost(requested, nil)}, nil
	}
	if s.takeRate() || float64(requested) > st.bucket.level(now) {
		st.throttled++
		return http.StatusOK, map[string]any{"errors": []map[string]any{gqlErr("Throttled", map[string]any{"code": "THROTTLED",
			"documentation": "https://shopify.dev/api/usage/rate-limits"})}, "extensions": cost(requested, nil)}, nil
	}
	// The requested cost is taken before the query runs and the
	// difference to the actual cost given back after it.
	st.bucket.avail -= float64(requested)
	root := &shopifyRoot{s: s, st: st, now: now, mutation: q.op.Operation == "mutation", scopes: scopes}
	data, actual := q.run(root)
	st.bucket.avail = min(st.bucket.max, st.bucket.avail+float64(requested-actual))
	answer := map[string]any{"data": data}
	if len(q.errs) > 0 {
		answer["errors"] = q.errs
	}
	ext := cost(requested, actual)
	if len(root.search) > 0 {
		ext["search"] = root.search
	}
	answer["extensions"] = ext
	var out []outgoing
	if st.apiHooks {
		out = s.prepare(root.events)
	}
	return http.StatusOK, answer, out
}

// shopifyMaxQueryCost is the most a single query may cost.
const shopifyMaxQueryCost = 1000
