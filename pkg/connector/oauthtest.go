package connector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/joinery/joinery/pkg/integration"
)

// TokenSource gives a valid access token for an OAuth integration,
// refreshing it when due. When the grant is gone its error is an *Error of
// kind ErrAuth (or wraps ErrReauthorize, or has a ReauthorizationRequired()
// bool method saying so); a failure worth retrying later is an *Error of
// kind ErrUnavailable or ErrRateLimited (or has a Temporary() bool method).
type TokenSource func(ctx context.Context, it *integration.Integration) (string, error)

// ErrReauthorize is what a TokenSource's error wraps when the platform no
// longer honours the grant: the user must connect again.
var ErrReauthorize = errors.New("the platform no longer honours the grant")

// connectionActionRequired: the grant works but a choice is missing (a
// Jira grant covering several sites and no config.cloud_id).
const connectionActionRequired integration.ConnectionStatus = "action_required"

// OAuthTarget is what an OAuth platform's test calls are made for.
type OAuthTarget struct {
	SiteURL     string
	Config      map[string]any
	AccountID   string // the platform account the grant belongs to (TikTok open_id)
	AccessToken string
}

// runOAuth tests an OAuth integration: a token from the token source,
// then the catalog's test calls.
func (t *Tester) runOAuth(ctx context.Context, it *integration.Integration, e *Entry) (TestResult, error) {
	if !it.Credentials.HasCredentials() {
		return TestResult{OK: false, Status: integration.ConnectionError,
			Message: fmt.Sprintf("The integration is not connected to %s yet: connect it first.", e.DisplayName)}, nil
	}
	token, err := t.Tokens(ctx, it)
	if err != nil {
		if res, ok := tokenFailure(e, err); ok {
			return res, nil
		}
		return TestResult{}, fmt.Errorf("test connection of %s: access token: %w", it.ID, err)
	}
	creds, err := t.Integrations.Credentials(ctx, it)
	if err != nil {
		return TestResult{}, err
	}
	if _, own := t.Connectors[it.Platform]; own {
		// The platform's connector tests it, with the valid token.
		c := make(map[string]string, len(creds)+1)
		for k, v := range creds {
			c[k] = v
		}
		c["access_token"] = token
		return t.RunWith(ctx, it.Platform, Connection{SiteURL: it.ExternalSiteURL, Config: it.Config, Credentials: c})
	}
	return RunTestCalls(ctx, t.HTTP, e, OAuthTarget{SiteURL: it.ExternalSiteURL, Config: it.Config,
		AccountID: creds["external_account_id"], AccessToken: token})
}

// tokenFailure turns a token source's error into a result when it says
// the grant is gone or the failure is temporary.
func tokenFailure(e *Entry, err error) (TestResult, bool) {
	var re interface{ ReauthorizationRequired() bool }
	var te interface{ Temporary() bool }
	var ce *Error
	isCE := errors.As(err, &ce)
	switch {
	case errors.Is(err, ErrReauthorize) || (errors.As(err, &re) && re.ReauthorizationRequired()) || (isCE && ce.Kind == ErrAuth):
		return TestResult{OK: false, Status: integration.ConnectionReauthorizationNeeded,
			Message: fmt.Sprintf("%s no longer accepts Joinery's authorization (it was revoked or has lapsed): reconnect the integration.", e.DisplayName)}, true
	case (errors.As(err, &te) && te.Temporary()) || (isCE && (ce.Kind == ErrUnavailable || ce.Kind == ErrRateLimited)):
		return TestResult{OK: false, Status: integration.ConnectionError,
			Message: fmt.Sprintf("Joinery could not renew its access token with %s just now (the platform did not answer or was busy); try again in a few minutes.", e.DisplayName)}, true
	}
	return TestResult{}, false
}

// site is one entry of an account list (Jira's accessible resources).
type site struct {
	ID   string `json:"id"`
	URL  string `json:"url"`
	Name string `json:"name"`
}

// RunTestCalls makes an OAuth platform's test calls with an access token,
// in order, and says what the first failure means and what to do about it.
func RunTestCalls(ctx context.Context, hc *http.Client, e *Entry, tg OAuthTarget) (TestResult, error) {
	var sites []site
	var last any
	details := map[string]any{}
	for _, c := range e.TestCalls {
		vals, missing := paramValues(e, c, tg, sites)
		if res, stop := pickSite(e, c, sites, vals); stop {
			return res, nil
		}
		if len(missing) > 0 {
			return TestResult{OK: false, Status: integration.ConnectionError,
				Message: fmt.Sprintf("The test call to %s needs %s, which the integration does not have yet; reconnect it.", e.DisplayName, strings.Join(missing, ", "))}, nil
		}
		ans, fail, err := testCall(ctx, hc, e, c, vals)
		if err != nil {
			return TestResult{}, err
		}
		if fail != nil {
			return fail.result(e, c), nil
		}
		if e.OAuth != nil && e.OAuth.Account.List && c.URL == e.OAuth.Account.URL {
			if list, ok := ans.([]any); ok {
				raw, _ := json.Marshal(list)
				_ = json.Unmarshal(raw, &sites)
				details["sites"] = sitesDetail(sites)
			}
		}
		last = ans
	}
	msg := fmt.Sprintf("Connected to %s.", e.DisplayName)
	if who := identity(last); who != "" {
		msg = fmt.Sprintf("Connected to %s as %s.", e.DisplayName, who)
	}
	if id, ok := tg.Config["cloud_id"].(string); ok && id != "" {
		if i := slices.IndexFunc(sites, func(s site) bool { return s.ID == id }); i >= 0 {
			msg = strings.TrimSuffix(msg, ".") + fmt.Sprintf(" on the site %s (%s).", sites[i].Name, sites[i].URL)
		}
	}
	return TestResult{OK: true, Status: integration.ConnectionConnected, Message: msg, Details: details}, nil
}

// pickSite handles a call needing a config key the account list answers
// (Jira's cloud_id): one site is used; several need a choice; a chosen
// site the grant no longer covers needs a new choice or a reconnect.
func pickSite(e *Entry, c Call, sites []site, vals map[string]string) (TestResult, bool) {
	for _, name := range templateParams(c.URL + c.Body) {
		key, ok := strings.CutPrefix(e.Params[name], "config.")
		if !ok || sites == nil {
			continue
		}
		names := make([]string, 0, len(sites))
		for _, s := range sites {
			names = append(names, fmt.Sprintf("%s (%s, id %s)", s.Name, s.URL, s.ID))
		}
		chosen := vals[name]
		switch {
		case len(sites) == 0:
			return TestResult{OK: false, Status: integration.ConnectionError, Details: map[string]any{"sites": []any{}},
				Message: fmt.Sprintf("The %s grant covers no site: reconnect with an account that can use the site.", e.DisplayName)}, true
		case chosen == "" && len(sites) == 1:
			vals[name] = sites[0].ID
		case chosen == "":
			return TestResult{OK: false, Status: connectionActionRequired, Details: map[string]any{"sites": sitesDetail(sites)},
				Message: fmt.Sprintf("The %s grant covers several sites: %s. Pick one by setting config.%s.", e.DisplayName, strings.Join(names, "; "), key)}, true
		case !slices.ContainsFunc(sites, func(s site) bool { return s.ID == chosen }):
			return TestResult{OK: false, Status: connectionActionRequired, Details: map[string]any{"sites": sitesDetail(sites)},
				Message: fmt.Sprintf("The %s site %s (config.%s) is not among the sites the grant covers (%s): pick one of them, or reconnect with an account that can use it.", e.DisplayName, chosen, key, strings.Join(names, "; "))}, true
		}
	}
	return TestResult{}, false
}

func sitesDetail(sites []site) []map[string]any {
	out := make([]map[string]any, 0, len(sites))
	for _, s := range sites {
		out = append(out, map[string]any{"id": s.ID, "url": s.URL, "name": s.Name})
	}
	return out
}

// paramValues resolves the params a call uses; missing names the sources
// of those without a value (config ones an account list may supply).
func paramValues(e *Entry, c Call, tg OAuthTarget, sites []site) (map[string]string, []string) {
	vals := map[string]string{}
	var missing []string
	used := templateParams(c.URL + c.Body + strings.Join(mapValues(e.API.Headers), " ") + strings.Join(mapValues(e.API.Query), " "))
	for _, name := range used {
		src := e.Params[name]
		var v string
		switch {
		case src == "site_url":
			v = tg.SiteURL
		case src == "site_subdomain":
			if u, err := url.Parse(tg.SiteURL); err == nil {
				v, _, _ = strings.Cut(u.Hostname(), ".")
			}
		case src == "access_token":
			v = tg.AccessToken
		case src == "account_id":
			v = tg.AccountID
		case strings.HasPrefix(src, "config."):
			if x, ok := tg.Config[strings.TrimPrefix(src, "config.")]; ok && x != nil {
				v = fmt.Sprint(x)
			}
		}
		vals[name] = v
		if v == "" && !(strings.HasPrefix(src, "config.") && sites != nil) {
			missing = append(missing, src)
		}
	}
	return vals, missing
}

func mapValues(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

func templateParams(s string) []string {
	var out []string
	for _, m := range templateName.FindAllStringSubmatch(s, -1) {
		if !slices.Contains(out, m[1]) {
			out = append(out, m[1])
		}
	}
	return out
}

func expand(s string, vals map[string]string, escape func(string) string) string {
	return templateName.ReplaceAllStringFunc(s, func(m string) string {
		return escape(vals[m[1:len(m)-1]])
	})
}

// expandURL fills a URL template, each value escaped for where it goes:
// a path segment, or the query.
func expandURL(tmpl string, vals map[string]string) string {
	path, query, hasQuery := strings.Cut(tmpl, "?")
	out := expand(path, vals, url.PathEscape)
	if hasQuery {
		out += "?" + expand(query, vals, url.QueryEscape)
	}
	return out
}

// callFailure is why a test call failed.
type callFailure struct {
	kind       string // reauth, scope, rate, unavailable, forbidden, not_found, other
	status     int
	code       string // the platform's error code
	message    string // the platform's own words, when safe to show
	retryAfter time.Duration
	needed     []string // scopes the platform says are missing
}

func testCall(ctx context.Context, hc *http.Client, e *Entry, c Call, vals map[string]string) (any, *callFailure, error) {
	u := expandURL(c.URL, vals)
	if len(e.API.Query) > 0 {
		pu, err := url.Parse(u)
		if err != nil {
			return nil, nil, fmt.Errorf("%s test call: %w", e.Name, err)
		}
		q := pu.Query()
		for k, v := range e.API.Query {
			q.Set(k, expand(v, vals, func(s string) string { return s }))
		}
		pu.RawQuery = q.Encode()
		u = pu.String()
	}
	var body io.Reader
	if c.Body != "" {
		body = strings.NewReader(expand(c.Body, vals, func(s string) string { return s }))
	}
	req, err := http.NewRequestWithContext(ctx, c.Method, u, body)
	if err != nil {
		return nil, nil, fmt.Errorf("%s test call: %w", e.Name, err)
	}
	for k, v := range e.API.Headers {
		req.Header.Set(k, expand(v, vals, func(s string) string { return s }))
	}
	if c.Body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		return nil, &callFailure{kind: "unavailable", message: "no answer (" + safeNetError(err) + ")"}, nil
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var ans any
	_ = json.Unmarshal(raw, &ans)
	return ans, classify(e, resp, ans), nil
}

// safeNetError names a transport failure without the request's URL (its
// query may carry an account id) or anything the platform sent.
func safeNetError(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out"
	case strings.Contains(err.Error(), "connection refused"):
		return "connection refused"
	case strings.Contains(err.Error(), "no such host"):
		return "host not found"
	}
	return "connection failed"
}

func retryAfterOf(resp *http.Response) time.Duration {
	v := resp.Header.Get("Retry-After")
	if f, err := strconv.ParseFloat(v, 64); err == nil && f >= 0 {
		return time.Duration(f * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		return time.Until(t)
	}
	return 0
}

func str(v any, path string) string {
	for _, p := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = m[p]
	}
	switch v := v.(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	}
	return ""
}

// slackReauth are Slack API errors meaning the token is gone for good.
var slackReauth = []string{"invalid_auth", "not_authed", "token_revoked", "account_inactive", "no_permission", "team_access_not_granted"}

// TikTok Business API codes (unpublished; those its clients handle).
const (
	tiktokNoPermission = "40001"
	tiktokRateLimited  = "40100"
	tiktokNoToken      = "40104"
	tiktokBadToken     = "40105"
)

// classify reads an answer as the platform reports errors: Slack in an
// HTTP 200 with ok:false, TikTok in an HTTP 200 with code ≠ 0, the others
// by HTTP status with the body's details (Google's reason, Atlassian's
// message, Shopify's GraphQL errors).
func classify(e *Entry, resp *http.Response, ans any) *callFailure {
	f := &callFailure{status: resp.StatusCode, retryAfter: retryAfterOf(resp)}
	format := ""
	if e.OAuth != nil {
		format = e.OAuth.TokenResponse.ErrorFormat
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		f.kind = "rate"
		return f
	}
	if resp.StatusCode >= 500 {
		f.kind = "unavailable"
		return f
	}
	switch format {
	case "ok_false":
		if resp.StatusCode/100 == 2 && str(ans, "ok") == "true" {
			return nil
		}
		f.code = str(ans, "error")
		switch {
		case f.code == "ratelimited":
			f.kind = "rate"
		case slices.Contains(slackReauth, f.code):
			f.kind = "reauth"
		case f.code == "missing_scope":
			f.kind = "scope"
			f.needed = splitList(str(ans, "needed"))
		case f.code == "token_expired":
			f.kind = "expired"
		default:
			f.kind = "other"
		}
		if f.code == "" {
			f.code = "HTTP " + strconv.Itoa(resp.StatusCode)
		}
		return f
	case "code_nonzero":
		code := str(ans, "code")
		if resp.StatusCode/100 == 2 && code == "0" {
			return nil
		}
		f.code, f.message = code, str(ans, "message")
		switch code {
		case tiktokRateLimited:
			f.kind = "rate"
		case tiktokNoToken, tiktokBadToken:
			f.kind = "reauth"
		case tiktokNoPermission:
			f.kind = "scope"
		default:
			f.kind = "other"
		}
		if code == "" {
			f.kind, f.code = "other", "HTTP "+strconv.Itoa(resp.StatusCode)
		}
		return f
	}
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		// Atlassian answers a missing scope with a 401 of its own words.
		if strings.Contains(str(ans, "message"), "scope does not match") {
			f.kind = "scope"
			return f
		}
		f.kind = "reauth"
		return f
	case http.StatusForbidden:
		reasons := googleReasons(ans)
		switch {
		case slices.ContainsFunc(reasons, func(r string) bool {
			return r == "rateLimitExceeded" || r == "userRateLimitExceeded" || r == "quotaExceeded" || r == "dailyLimitExceeded"
		}):
			f.kind = "rate"
		case slices.Contains(reasons, "insufficientPermissions") || strings.Contains(resp.Header.Get("WWW-Authenticate"), "insufficient_scope"):
			f.kind = "scope"
		default:
			f.kind = "forbidden"
		}
		return f
	case http.StatusNotFound:
		f.kind = "not_found"
		return f
	}
	if resp.StatusCode/100 != 2 {
		f.kind = "other"
		f.code = "HTTP " + strconv.Itoa(resp.StatusCode)
		return f
	}
	// GraphQL reports errors in an HTTP 200.
	if errs, ok := str2any(ans, "errors").([]any); ok && len(errs) > 0 {
		for _, x := range errs {
			switch str(x, "extensions.code") {
			case "THROTTLED":
				f.kind = "rate"
				return f
			case "ACCESS_DENIED":
				f.kind = "scope"
				return f
			}
		}
		f.kind, f.message = "other", str(errs[0], "message")
		return f
	}
	return nil
}

func googleReasons(ans any) []string {
	var out []string
	if errs, ok := str2any(ans, "error.errors").([]any); ok {
		for _, x := range errs {
			out = append(out, str(x, "reason"))
		}
	}
	return out
}

func str2any(v any, path string) any {
	for _, p := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' })
}

// result says what a failure means for the user.
func (f *callFailure) result(e *Entry, c Call) TestResult {
	name := e.DisplayName
	details := map[string]any{}
	if f.status != 0 {
		details["http_status"] = f.status
	}
	if f.code != "" {
		details["platform_error"] = f.code
	}
	res := TestResult{OK: false, Status: integration.ConnectionError, Details: details}
	path := c.URL
	if u, err := url.Parse(c.URL); err == nil {
		path = u.Path
	}
	switch f.kind {
	case "reauth":
		res.Status = integration.ConnectionReauthorizationNeeded
		res.Message = fmt.Sprintf("%s rejected the access token: the authorization was revoked or has lapsed. Reconnect the integration.", name)
	case "expired":
		res.Message = fmt.Sprintf("%s says the access token has expired; Joinery renews it on the next call, so test again.", name)
	case "scope":
		needed := f.needed
		if len(needed) == 0 {
			needed = c.Scopes
		}
		details["missing_scopes"] = needed
		switch len(needed) {
		case 0:
			res.Message = fmt.Sprintf("%s refused %s for lack of permission: reconnect the integration and grant every permission asked.", name, path)
		case 1:
			res.Message = fmt.Sprintf("%s refused %s: the grant lacks the scope %s. Reconnect the integration and grant it.", name, path, needed[0])
		default:
			res.Message = fmt.Sprintf("%s refused %s: the grant lacks a scope; it needs one of %s. Reconnect the integration and grant it.", name, path, strings.Join(needed, ", "))
		}
	case "rate":
		msg := fmt.Sprintf("%s is rate-limiting Joinery's calls", name)
		if f.retryAfter > 0 {
			details["retry_after_seconds"] = int(f.retryAfter.Round(time.Second) / time.Second)
			msg += fmt.Sprintf("; try again in %s", f.retryAfter.Round(time.Second))
		} else {
			msg += "; try again in a minute"
		}
		res.Message = msg + "."
	case "unavailable":
		if f.status != 0 {
			res.Message = fmt.Sprintf("%s is unavailable (HTTP %d); try again later.", name, f.status)
		} else {
			res.Message = fmt.Sprintf("%s could not be reached: %s; try again later.", name, f.message)
		}
	case "forbidden":
		res.Message = fmt.Sprintf("%s refused %s (HTTP 403): the connected account lacks permission for it.", name, path)
	case "not_found":
		res.Message = fmt.Sprintf("%s answered 404 to %s: the account or site is gone or no longer shared with this grant; reconnect the integration.", name, path)
	default:
		switch {
		case f.code != "" && f.message != "":
			res.Message = fmt.Sprintf("%s answered %s with error %s: %s.", name, path, f.code, strings.TrimSuffix(f.message, "."))
		case f.code != "":
			res.Message = fmt.Sprintf("%s answered %s with error %s.", name, path, f.code)
		case f.message != "":
			res.Message = fmt.Sprintf("%s answered %s with an error: %s.", name, path, strings.TrimSuffix(f.message, "."))
		default:
			res.Message = fmt.Sprintf("%s answered %s with an error.", name, path)
		}
	}
	return res
}

// identity is who the last test call says the connection acts as: a
// Slack team, a Shopify shop, a TikTok account, a Jira user, a Google
// calendar.
func identity(ans any) string {
	for _, p := range []string{"team", "data.shop.name", "data.display_name", "data.username", "displayName", "summary", "id"} {
		if v := str(ans, p); v != "" {
			return v
		}
	}
	return ""
}
