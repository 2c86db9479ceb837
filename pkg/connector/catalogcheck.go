package connector

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/joinery/joinery/pkg/integration"
)

// The values catalog.json may use where it names one of a set.
var (
	categories       = []string{"cms", "commerce", "messaging", "calendar", "project_management", "ai"}
	authModes        = []integration.AuthMode{integration.AuthBasic, integration.AuthAPIKey, integration.AuthOAuth2}
	siteURLRules     = []integration.SiteURLRule{integration.SiteURLRequired, integration.SiteURLOptional}
	configTypes      = []string{integration.ConfigString, integration.ConfigInteger, integration.ConfigBoolean, integration.ConfigObject, integration.ConfigArray}
	tokenEncodings   = []string{"form", "json"}
	clientAuths      = []string{"basic", "body"}
	errorFormats     = []string{"oauth2", "ok_false", "code_nonzero"}
	rotations        = []string{"never", "always", "optional"}
	accountSources   = []string{"token_response", "callback", "call"}
	methods          = []string{"GET", "POST"}
	plainParamSource = []string{"site_url", "site_subdomain", "access_token", "account_id"}
)

var (
	namePattern  = regexp.MustCompile(`^[a-z][a-z0-9_]{0,39}$`)
	templateName = regexp.MustCompile(`\{([A-Za-z0-9_.]+)\}`)
)

// check validates one entry and returns its domain view.
func check(e *Entry) (integration.Platform, error) {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	required := func(field, v string) {
		if strings.TrimSpace(v) == "" {
			bad(field, "required")
		}
	}
	if !namePattern.MatchString(e.Name) {
		bad("name", "must be lower-case letters, digits and '_', starting with a letter")
	}
	required("display_name", e.DisplayName)
	oneOf(bad, "category", e.Category, categories)
	oneOf(bad, "auth_mode", e.AuthMode, authModes)
	oneOf(bad, "site_url", e.SiteURL, siteURLRules)
	checkURLField(bad, "docs_url", e.DocsURL, nil)

	p := integration.Platform{Name: e.Name, DisplayName: e.DisplayName, AuthMode: e.AuthMode, SiteURL: e.SiteURL, Available: e.Available}
	if e.SiteURLPattern != "" {
		re, err := regexp.Compile(e.SiteURLPattern)
		if err != nil {
			bad("site_url_pattern", "%v", err)
		}
		p.SiteURLPattern = re
	}

	// Credentials: set by the API for basic and api_key platforms; OAuth
	// ones get theirs only through the connect flow.
	if e.AuthMode == integration.AuthOAuth2 && len(e.Credentials) > 0 {
		bad("credentials", "an oauth2 platform takes none: its tokens come from the connect flow")
	}
	if e.AuthMode != integration.AuthOAuth2 && len(e.Credentials) == 0 {
		bad("credentials", "required for auth_mode %s", e.AuthMode)
	}
	credNames := checkFields(bad, "credentials", e.Credentials, false)
	for _, f := range e.Credentials {
		p.Credentials = append(p.Credentials, integration.CredentialField{Name: f.Name, Required: f.Required, Secret: f.Secret, MaxLen: f.MaxLen})
	}
	configNames := checkFields(bad, "config", e.Config, true)
	for _, f := range e.Config {
		k := integration.ConfigKey{Name: f.Name, Type: f.Type, Enum: f.Enum, Min: f.Min, Max: f.Max, Items: f.Items, Format: f.Format}
		if f.Pattern != "" {
			re, err := regexp.Compile(f.Pattern)
			if err != nil {
				bad("config."+f.Name+".pattern", "%v", err)
			}
			k.Pattern = re
		}
		p.Config = append(p.Config, k)
	}

	if e.App != nil {
		if len(e.App.Fields) == 0 {
			bad("app.fields", "required")
		}
		checkFields(bad, "app.fields", e.App.Fields, false)
		p.AppRequired = e.App.Required
		for _, f := range e.App.Fields {
			p.AppFields = append(p.AppFields, integration.AppField{Name: f.Name, Required: f.Required, Secret: f.Secret})
		}
	}

	// Params: each has a known source, each is used, and each template
	// names a declared one.
	for _, name := range sortedKeys(e.Params) {
		src := e.Params[name]
		field := "params." + name
		switch {
		case !namePattern.MatchString(name):
			bad(field, "must be lower-case letters, digits and '_'")
		case slices.Contains(plainParamSource, src):
			if (src == "access_token" || src == "account_id") && e.AuthMode != integration.AuthOAuth2 {
				bad(field, "%s is only known for oauth2 platforms", src)
			}
		case strings.HasPrefix(src, "credentials."):
			if !credNames[strings.TrimPrefix(src, "credentials.")] {
				bad(field, "%s is not a declared credential", src)
			}
		case strings.HasPrefix(src, "config."):
			if !configNames[strings.TrimPrefix(src, "config.")] {
				bad(field, "%s is not a declared config key", src)
			}
		default:
			bad(field, "unknown source %q; expected %s, credentials.<field> or config.<key>", src, strings.Join(plainParamSource, ", "))
		}
	}
	used := map[string]bool{}
	tmpl := func(field, s string) {
		for _, m := range templateName.FindAllStringSubmatch(s, -1) {
			used[m[1]] = true
			if _, ok := e.Params[m[1]]; !ok {
				bad(field, "uses {%s}, which params does not declare", m[1])
			}
		}
	}
	checkURL := func(field, s string) {
		tmpl(field, s)
		checkURLField(bad, field, s, e.Params)
	}

	if e.OAuth == nil && e.AuthMode == integration.AuthOAuth2 {
		bad("oauth", "required for auth_mode oauth2")
	}
	if e.OAuth != nil && e.AuthMode != integration.AuthOAuth2 {
		bad("oauth", "only for auth_mode oauth2")
	}
	if o := e.OAuth; o != nil {
		checkURL("oauth.authorize_url", o.AuthorizeURL)
		checkURL("oauth.token_url", o.TokenURL)
		checkURL("oauth.refresh_url", o.RefreshURL)
		if o.RevokeURL != "" {
			checkURL("oauth.revoke_url", o.RevokeURL)
		}
		if o.DocsURL != "" {
			checkURLField(bad, "oauth.docs_url", o.DocsURL, nil)
		}
		if len(o.Scopes) == 0 {
			bad("oauth.scopes", "required")
		}
		for _, s := range o.Scopes {
			if s == "" || strings.Contains(s, o.ScopeSeparator) {
				bad("oauth.scopes", "%q is empty or contains the separator", s)
			}
		}
		if o.ScopeSeparator != " " && o.ScopeSeparator != "," {
			bad("oauth.scope_separator", "must be \" \" or \",\"")
		}
		required("oauth.client_id_param", o.ClientIDParam)
		required("oauth.code_param", o.CodeParam)
		oneOf(bad, "oauth.token_encoding", o.TokenEncoding, tokenEncodings)
		oneOf(bad, "oauth.client_auth", o.ClientAuth, clientAuths)
		if o.ClientAuth == "basic" && o.TokenEncoding == "json" {
			bad("oauth.client_auth", "basic goes with form encoding")
		}
		oneOf(bad, "oauth.token_response.error_format", o.TokenResponse.ErrorFormat, errorFormats)
		required("oauth.token_response.access_token", o.TokenResponse.AccessToken)
		oneOf(bad, "oauth.account.source", o.Account.Source, accountSources)
		required("oauth.account.id", o.Account.ID)
		if (o.Account.Source == "call") != (o.Account.URL != "") {
			bad("oauth.account.url", "required with source call, and only then")
		}
		if o.Account.URL != "" {
			checkURL("oauth.account.url", o.Account.URL)
		}
		oneOf(bad, "oauth.refresh_rotation", o.RefreshRotation, rotations)
		if o.RefreshReuseSeconds < 0 || o.KeepaliveDays < 0 || o.RefreshMarginSeconds < 0 {
			bad("oauth", "refresh_reuse_seconds, refresh_margin_seconds and keepalive_days must not be negative")
		}
		if o.ReauthorizeErrors == nil {
			bad("oauth.reauthorize_errors", "required (may be empty)")
		}
		if e.App == nil || !e.App.Required {
			bad("app", "an oauth2 platform requires its app credentials")
		} else {
			for _, f := range []string{"client_id", "client_secret"} {
				if !slices.ContainsFunc(e.App.Fields, func(x Field) bool { return x.Name == f && x.Required }) {
					bad("app.fields", "an oauth2 platform requires %s", f)
				}
			}
		}
	}

	checkURL("api.base_url", e.API.BaseURL)
	for _, k := range sortedKeys(e.API.Headers) {
		tmpl("api.headers."+k, e.API.Headers[k])
	}
	for _, k := range sortedKeys(e.API.Query) {
		tmpl("api.query."+k, e.API.Query[k])
	}
	if b := e.API.BasicAuth; b != nil {
		tmpl("api.basic_auth.username", b.Username)
		tmpl("api.basic_auth.password", b.Password)
	}
	if e.RateLimit.RequestsPerSecond <= 0 {
		bad("rate_limit.requests_per_second", "must be above 0")
	}
	if e.RateLimit.MaxInFlight <= 0 {
		bad("rate_limit.max_in_flight", "must be above 0")
	}
	if len(e.TestCalls) == 0 {
		bad("test_calls", "required: the cheap call that proves a connection works")
	}
	for i, c := range e.TestCalls {
		field := fmt.Sprintf("test_calls[%d]", i)
		oneOf(bad, field+".method", c.Method, methods)
		checkURL(field+".url", c.URL)
		tmpl(field+".body", c.Body)
		if len(c.Scopes) > 0 && (e.OAuth == nil || !slices.ContainsFunc(c.Scopes, func(sc string) bool { return slices.Contains(e.OAuth.Scopes, sc) })) {
			bad(field+".scopes", "oauth.scopes asks for none of %s, so the test call would fail", strings.Join(c.Scopes, ", "))
		}
	}
	for _, name := range sortedKeys(e.Params) {
		if !used[name] {
			bad("params."+name, "declared but no template uses it")
		}
	}
	return p, errors.Join(errs...)
}

// checkFields checks declared fields (credentials, app credentials or
// config keys) and returns their names.
func checkFields(bad func(string, string, ...any), field string, fs []Field, config bool) map[string]bool {
	names := map[string]bool{}
	for i, f := range fs {
		at := fmt.Sprintf("%s[%d]", field, i)
		if !namePattern.MatchString(f.Name) {
			bad(at+".name", "must be lower-case letters, digits and '_', starting with a letter")
		}
		if names[f.Name] {
			bad(at+".name", "%s is declared twice", f.Name)
		}
		names[f.Name] = true
		if f.MaxLen < 0 {
			bad(at+".max_len", "must not be negative")
		}
		if !config {
			if f.Type != "" || f.Enum != nil || f.Min != nil || f.Max != nil || f.Pattern != "" || f.Items != "" || f.Format != "" {
				bad(at, "type, enum, min, max, pattern, items and format are for config keys")
			}
			continue
		}
		oneOf(bad, at+".type", f.Type, configTypes)
		if f.Required || f.Secret || f.MaxLen != 0 {
			bad(at, "required, secret and max_len are for credentials")
		}
		if f.Enum != nil && f.Type != integration.ConfigString {
			bad(at+".enum", "only for type string")
		}
		if (f.Min != nil || f.Max != nil) && f.Type != integration.ConfigInteger {
			bad(at, "min and max are only for type integer")
		}
		if f.Min != nil && f.Max != nil && *f.Min > *f.Max {
			bad(at, "min is above max")
		}
		if f.Pattern != "" && f.Type != integration.ConfigString {
			bad(at+".pattern", "only for type string")
		}
		if f.Items != "" && (f.Type != integration.ConfigArray || f.Items != integration.ConfigString) {
			bad(at+".items", "only for type array, and only string")
		}
		if f.Format != "" && (f.Type != integration.ConfigString || f.Format != integration.ConfigFormatBCP47) {
			bad(at+".format", "only for type string, and only %s", integration.ConfigFormatBCP47)
		}
		if f.Name == integration.ContentTypesKey {
			bad(at+".name", "content_types is kept outside config")
		}
	}
	return names
}

// checkURLField parses a URL once its templates are filled with samples:
// an absolute https URL with a host; a fragment only in a docs URL (nil
// params).
func checkURLField(bad func(string, string, ...any), field, raw string, params map[string]string) {
	if raw == "" {
		bad(field, "required")
		return
	}
	filled := templateName.ReplaceAllStringFunc(raw, func(m string) string {
		switch params[m[1:len(m)-1]] {
		case "site_url":
			return "https://site.example"
		default:
			return "x"
		}
	})
	u, err := url.Parse(filled)
	switch {
	case err != nil:
		bad(field, "not a URL: %v", err)
	case u.Scheme != "https" || u.Host == "" || u.User != nil:
		bad(field, "must be an absolute https URL with a host and no user info")
	case u.Fragment != "" && params != nil:
		bad(field, "must not have a fragment")
	}
}

func oneOf[T ~string](bad func(string, string, ...any), field string, v T, allowed []T) {
	if !slices.Contains(allowed, v) {
		names := make([]string, len(allowed))
		for i, a := range allowed {
			names[i] = string(a)
		}
		bad(field, "%q is not one of %s", v, strings.Join(names, ", "))
	}
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
