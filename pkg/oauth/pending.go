package oauth

// Stand-ins for the token endpoint client and the stored token set, to
// be replaced by the package's own token.go and secret.go.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/joinery/joinery/pkg/connector"
)

type TokenSet struct {
	AccessToken, RefreshToken, TokenType   string
	ExpiresAt, RefreshExpiresAt            time.Time
	Scopes                                 []string
	ExternalAccountID, ExternalAccountName string
	ObtainedAt                             time.Time
}

func (t TokenSet) Values() map[string]string {
	v := map[string]string{}
	put := func(k, s string) {
		if s != "" {
			v[k] = s
		}
	}
	tm := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	}
	put("access_token", t.AccessToken)
	put("refresh_token", t.RefreshToken)
	put("token_type", t.TokenType)
	put("expires_at", tm(t.ExpiresAt))
	put("refresh_expires_at", tm(t.RefreshExpiresAt))
	put("scopes", strings.Join(t.Scopes, " "))
	put("external_account_id", t.ExternalAccountID)
	put("external_account_name", t.ExternalAccountName)
	put("obtained_at", tm(t.ObtainedAt))
	return v
}

func ParseTokenSet(v map[string]string) (TokenSet, error) {
	t := TokenSet{AccessToken: v["access_token"], RefreshToken: v["refresh_token"], TokenType: v["token_type"],
		Scopes: strings.Fields(v["scopes"]), ExternalAccountID: v["external_account_id"], ExternalAccountName: v["external_account_name"]}
	for k, p := range map[string]*time.Time{"expires_at": &t.ExpiresAt, "refresh_expires_at": &t.RefreshExpiresAt, "obtained_at": &t.ObtainedAt} {
		if v[k] == "" {
			continue
		}
		tt, err := time.Parse(time.RFC3339, v[k])
		if err != nil {
			return TokenSet{}, fmt.Errorf("stored tokens: %s is not RFC 3339", k)
		}
		*p = tt
	}
	return t, nil
}

type Grant struct {
	AccessToken, RefreshToken, TokenType string
	ExpiresIn, RefreshExpiresIn          time.Duration
	Scopes                               []string
	Raw                                  map[string]any
}

type TokenError struct {
	Code, Description      string
	Status                 int
	Reauthorize, Temporary bool
}

func (e *TokenError) Error() string {
	return fmt.Sprintf("token endpoint: %s (HTTP %d)", e.Code, e.Status)
}

func Exchange(ctx context.Context, hc *http.Client, e *connector.Entry, app map[string]string, vars map[string]string, grant url.Values) (*Grant, error) {
	o := e.OAuth
	u := o.TokenURL
	if grant.Get("grant_type") == "refresh_token" && o.RefreshURL != "" {
		u = o.RefreshURL
	}
	for k, v := range vars {
		u = strings.ReplaceAll(u, "{"+k+"}", v)
	}
	form := url.Values{}
	for k, v := range grant {
		form[k] = v
	}
	if o.ClientAuth != "basic" {
		form.Set("client_id", app["client_id"])
		form.Set("client_secret", app["client_secret"])
	}
	var body io.Reader
	ct := "application/x-www-form-urlencoded"
	if o.TokenEncoding == "json" {
		m := map[string]string{}
		for k := range form {
			m[k] = form.Get(k)
		}
		b, _ := json.Marshal(m)
		body, ct = strings.NewReader(string(b)), "application/json"
	} else {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, body)
	if err != nil {
		return nil, &TokenError{Code: "bad_request"}
	}
	req.Header.Set("Content-Type", ct)
	if o.ClientAuth == "basic" {
		req.SetBasicAuth(app["client_id"], app["client_secret"])
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, &TokenError{Code: "unreachable", Temporary: true}
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 500 || resp.StatusCode == 429 {
		return nil, &TokenError{Status: resp.StatusCode, Code: "unavailable", Temporary: true}
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, &TokenError{Status: resp.StatusCode, Code: "bad_response", Temporary: true}
	}
	code := ""
	if s, ok := m["error"].(string); ok && (resp.StatusCode >= 400 || m["ok"] == false) {
		code = s
	}
	if resp.StatusCode >= 400 && code == "" {
		code = "http_" + strconv.Itoa(resp.StatusCode)
	}
	if code != "" {
		te := &TokenError{Status: resp.StatusCode, Code: code}
		for _, c := range o.ReauthorizeErrors {
			te.Reauthorize = te.Reauthorize || c == code
		}
		return nil, te
	}
	g := &Grant{Raw: m}
	g.AccessToken, _ = m["access_token"].(string)
	g.RefreshToken, _ = m["refresh_token"].(string)
	g.TokenType, _ = m["token_type"].(string)
	if f, ok := m["expires_in"].(float64); ok {
		g.ExpiresIn = time.Duration(f) * time.Second
	}
	if s, ok := m["scope"].(string); ok {
		g.Scopes = strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' })
	}
	return g, nil
}
