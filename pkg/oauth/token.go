package oauth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/safehttp"
)

// Grant is a token endpoint's answer, read as the catalog entry says.
type Grant struct {
	AccessToken, RefreshToken, TokenType string
	ExpiresIn, RefreshExpiresIn          time.Duration  // 0 = not given
	Scopes                               []string       // nil = not given
	Raw                                  map[string]any // the answer under root (account fields)
}

// TokenError is a token endpoint's refusal, or a failure to reach it. Its
// message carries the platform's error code and description, never a
// token, a code or a client secret.
type TokenError struct {
	// Code is the platform's error ("invalid_grant", Slack's
	// "invalid_refresh_token", TikTok's numeric code as a string ...).
	Code, Description string
	Status            int // HTTP status; 0 when no answer came
	// Reauthorize: the grant is gone (Code is one of the entry's
	// reauthorize_errors); only the user can fix it.
	Reauthorize bool
	// Temporary: a 5xx, a 429, a timeout or a connection error; trying
	// again later may succeed.
	Temporary bool
}

func (e *TokenError) Error() string {
	var b strings.Builder
	b.WriteString("token endpoint: ")
	b.WriteString(or(e.Code, "error"))
	if e.Description != "" {
		b.WriteString(": " + e.Description)
	}
	if e.Status != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", e.Status)
	}
	return b.String()
}

// maxTokenAnswer bounds what is read of a token endpoint's answer.
const maxTokenAnswer = 1 << 20

// Exchange posts to the catalog's token (or refresh) URL as the entry says: form or json
// encoding, client auth basic or body, the code parameter's name, token_params, and
// parses the answer under token_response.root with its error format
// (oauth2 / ok_false / code_nonzero).
//
// grant holds grant_type, code or refresh_token, redirect_uri and
// code_verifier as RFC 6749 names them; vars fills the URLs' templates
// ({shop}). A refresh_token grant goes to the refresh URL.
func Exchange(ctx context.Context, hc *http.Client, e *connector.Entry, app map[string]string,
	vars map[string]string, grant url.Values) (*Grant, error) {
	o := e.OAuth
	if o == nil {
		return nil, fmt.Errorf("oauth: %s is not an OAuth platform", e.Name)
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	raw := o.TokenURL
	if grant.Get("grant_type") == "refresh_token" && o.RefreshURL != "" {
		raw = o.RefreshURL
	}
	endpoint, err := Fill(raw, vars)
	if err != nil {
		return nil, fmt.Errorf("oauth: %s token url: %w", e.Name, err)
	}

	params := map[string]string{}
	for k, v := range o.TokenParams {
		params[k] = v
	}
	for k := range grant {
		name := k
		if k == "code" && o.CodeParam != "" {
			name = o.CodeParam
		}
		params[name] = grant.Get(k)
	}
	if o.ClientAuth != "basic" {
		params["client_id"], params["client_secret"] = app["client_id"], app["client_secret"]
	}
	var body []byte
	var contentType string
	if o.TokenEncoding == "json" {
		body, err = json.Marshal(params)
		if err != nil {
			return nil, fmt.Errorf("oauth: encode token request: %w", err)
		}
		contentType = "application/json"
	} else {
		form := url.Values{}
		for k, v := range params {
			form.Set(k, v)
		}
		body, contentType = []byte(form.Encode()), "application/x-www-form-urlencoded"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("oauth: %s token request: %w", e.Name, err)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Accept", "application/json")
	if o.ClientAuth == "basic" {
		req.SetBasicAuth(app["client_id"], app["client_secret"])
	}

	// Whatever the platform says back is scrubbed of what was sent: a
	// description quoting the code or the refresh token must not carry it
	// into a log.
	secrets := []string{app["client_secret"], grant.Get("code"), grant.Get("refresh_token"), grant.Get("code_verifier")}
	g, err := exchange(hc, req, e)
	if err != nil {
		var te *TokenError
		if errors.As(err, &te) {
			te.Code, te.Description = scrub(te.Code, secrets), scrub(te.Description, secrets)
			te.Reauthorize = te.Code != "" && slices.Contains(o.ReauthorizeErrors, te.Code)
			if te.Code != "" && slices.Contains(o.TemporaryErrors, te.Code) {
				te.Temporary = true
			}
			return nil, te
		}
		return nil, err
	}
	return g, nil
}

func exchange(hc *http.Client, req *http.Request, e *connector.Entry) (*Grant, error) {
	resp, err := hc.Do(req)
	if err != nil {
		return nil, &TokenError{Code: "unreachable", Description: reachError(err), Temporary: true}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenAnswer))
	if err != nil {
		return nil, &TokenError{Code: "unreachable", Description: reachError(err), Status: resp.StatusCode, Temporary: true}
	}
	if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
		te := &TokenError{Status: resp.StatusCode, Temporary: true}
		var doc map[string]any
		if json.Unmarshal(data, &doc) == nil {
			te.Code, te.Description = platformError(e.OAuth.TokenResponse.ErrorFormat, doc)
		}
		return nil, te
	}
	var doc map[string]any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		if resp.StatusCode >= 400 {
			return nil, &TokenError{Status: resp.StatusCode, Description: "the answer is not JSON"}
		}
		return nil, &TokenError{Code: "invalid_response", Status: resp.StatusCode, Description: "the answer is not JSON"}
	}
	tr := e.OAuth.TokenResponse
	failed := resp.StatusCode >= 400
	switch tr.ErrorFormat {
	case "ok_false":
		if ok, isBool := doc["ok"].(bool); isBool && !ok {
			failed = true
		}
	case "code_nonzero":
		if c, present := doc["code"]; present && fmt.Sprint(c) != "0" {
			failed = true
		}
	default:
		if s, _ := doc["error"].(string); s != "" {
			failed = true
		}
	}
	if failed {
		code, desc := platformError(tr.ErrorFormat, doc)
		return nil, &TokenError{Code: code, Description: desc, Status: resp.StatusCode}
	}

	root := doc
	if tr.Root != "" {
		v, _ := Lookup(doc, tr.Root)
		if root, _ = v.(map[string]any); root == nil {
			return nil, &TokenError{Code: "invalid_response", Status: resp.StatusCode, Description: "the answer has no " + tr.Root}
		}
	}
	g := &Grant{Raw: root}
	g.AccessToken = lookupString(root, tr.AccessToken)
	if g.AccessToken == "" {
		return nil, &TokenError{Code: "invalid_response", Status: resp.StatusCode, Description: "the answer has no access token"}
	}
	g.RefreshToken = lookupString(root, tr.RefreshToken)
	g.TokenType = lookupString(root, "token_type")
	g.ExpiresIn = lookupSeconds(root, tr.ExpiresIn)
	g.RefreshExpiresIn = lookupSeconds(root, tr.RefreshExpiresIn)
	if tr.Scope != "" {
		if v, ok := Lookup(root, tr.Scope); ok {
			g.Scopes = scopesOf(v)
		}
	}
	return g, nil
}

// platformError reads the error code and description of an answer in the
// given format.
func platformError(format string, doc map[string]any) (code, desc string) {
	switch format {
	case "ok_false":
		code = stringOf(doc["error"])
		desc = stringOf(doc["error_description"])
	case "code_nonzero":
		if c, ok := doc["code"]; ok {
			code = stringOf(c)
		}
		desc = stringOf(doc["message"])
	default:
		code = stringOf(doc["error"])
		desc = stringOf(doc["error_description"])
	}
	const maxDesc = 300
	if len(desc) > maxDesc {
		desc = desc[:maxDesc]
	}
	return code, desc
}

// reachError describes a failure to reach the endpoint without the
// request's details.
func reachError(err error) string {
	if safehttp.IsTimeout(err) || errors.Is(err, context.DeadlineExceeded) {
		return "timed out"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

func scrub(s string, secrets []string) string {
	for _, v := range secrets {
		if len(v) >= 4 {
			s = strings.ReplaceAll(s, v, "[redacted]")
		}
	}
	return s
}

// Lookup finds a dot-separated path in a JSON object.
func Lookup(doc map[string]any, path string) (any, bool) {
	if path == "" {
		return nil, false
	}
	var cur any = doc
	for _, part := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[part]; !ok {
			return nil, false
		}
	}
	return cur, cur != nil
}

func lookupString(doc map[string]any, path string) string {
	v, _ := Lookup(doc, path)
	return stringOf(v)
}

func stringOf(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case json.Number:
		return x.String()
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	}
	return ""
}

// lookupSeconds reads a lifetime in seconds, given as a number or a
// string; 0 when absent or unreadable.
func lookupSeconds(doc map[string]any, path string) time.Duration {
	s := lookupString(doc, path)
	if s == "" {
		return 0
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f <= 0 || f > math.MaxInt32 {
		return 0
	}
	return time.Duration(f) * time.Second
}

// scopesOf reads granted scopes: a string separated by spaces or commas
// (platforms differ), or an array.
func scopesOf(v any) []string {
	switch x := v.(type) {
	case string:
		return strings.FieldsFunc(x, func(r rune) bool { return r == ' ' || r == ',' })
	case []any:
		out := make([]string, 0, len(x))
		for _, s := range x {
			if str := stringOf(s); str != "" {
				out = append(out, str)
			}
		}
		return out
	}
	return nil
}

var placeholder = regexp.MustCompile(`\{([a-z_]+)\}`)

// Fill replaces a URL template's {name} placeholders with vars; a value
// must be a plain label (letters, digits, '-', '_', '.') so it cannot
// change the URL's structure.
func Fill(tmpl string, vars map[string]string) (string, error) {
	var err error
	out := placeholder.ReplaceAllStringFunc(tmpl, func(m string) string {
		name := m[1 : len(m)-1]
		v, ok := vars[name]
		if !ok || v == "" || !plainLabel(v) {
			if err == nil {
				err = fmt.Errorf("no usable value for {%s}", name)
			}
			return m
		}
		return v
	})
	return out, err
}

func plainLabel(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// TokenSet is the grant as an integration's secret keeps it, obtained at
// now: expiries from the answer's lifetimes.
func (g *Grant) TokenSet(now time.Time) TokenSet {
	t := TokenSet{AccessToken: g.AccessToken, RefreshToken: g.RefreshToken, TokenType: g.TokenType,
		Scopes: g.Scopes, ObtainedAt: now.UTC()}
	if g.ExpiresIn > 0 {
		t.ExpiresAt = now.Add(g.ExpiresIn).UTC()
	}
	if g.RefreshExpiresIn > 0 {
		t.RefreshExpiresAt = now.Add(g.RefreshExpiresIn).UTC()
	}
	return t
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
