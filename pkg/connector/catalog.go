// Package connector holds the platform catalog and the connectors that talk
// to each platform. A platform is mostly data (catalog.json, embedded in
// every binary); code exists only for what data cannot say.
package connector

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"slices"
	"sync"

	"github.com/joinery/joinery/pkg/integration"
)

//go:embed catalog.json
var catalogJSON []byte

// RateLimit is what a platform documents about its limits.
type RateLimit struct {
	RequestsPerSecond float64 `json:"requests_per_second"` // sustained rate Joinery keeps to, per integration
	MaxInFlight       int     `json:"max_in_flight"`       // concurrent requests per integration
	RetryAfterHeader  string  `json:"retry_after_header"`  // header carrying the wait on 429 ("": Retry-After)
	Note              string  `json:"note,omitempty"`      // where the numbers come from
	// CostBased: the platform limits by query cost (Shopify's GraphQL
	// Admin API): the engine gives its connector the integration's shared
	// cost budget, which it keeps to instead of a request rate.
	CostBased bool `json:"cost_based,omitempty"`
}

// Field is a credential, app credential or config key a platform declares.
type Field struct {
	Name        string   `json:"name"`
	Required    bool     `json:"required,omitempty"`
	Secret      bool     `json:"secret,omitempty"`
	MaxLen      int      `json:"max_len,omitempty"`
	Type        string   `json:"type,omitempty"` // config keys: string, integer, boolean, object, array
	Enum        []string `json:"enum,omitempty"`
	Min         *int     `json:"min,omitempty"`
	Max         *int     `json:"max,omitempty"`
	Pattern     string   `json:"pattern,omitempty"`
	Items       string   `json:"items,omitempty"`  // config keys of type array: the items' type (string)
	Format      string   `json:"format,omitempty"` // config keys of type string: bcp47
	Description string   `json:"description,omitempty"`
}

// App is what a deployment holds for a platform in its apps secret.
type App struct {
	// Required: the platform cannot be connected without it.
	Required bool    `json:"required"`
	Fields   []Field `json:"fields"`
}

// TokenResponse says where a token endpoint's answer keeps its fields:
// paths (dot-separated) under Root, and how it reports an error.
type TokenResponse struct {
	Root string `json:"root,omitempty"` // TikTok nests everything under "data"
	// ErrorFormat: oauth2 (RFC 6749: an HTTP error with "error"), ok_false
	// (Slack: HTTP 200 with "ok": false and "error") or code_nonzero
	// (TikTok: HTTP 200 with "code" other than 0 and "message").
	ErrorFormat      string `json:"error_format"`
	AccessToken      string `json:"access_token"`
	RefreshToken     string `json:"refresh_token,omitempty"`
	ExpiresIn        string `json:"expires_in,omitempty"`
	RefreshExpiresIn string `json:"refresh_expires_in,omitempty"`
	Scope            string `json:"scope,omitempty"`
}

// Account says how the connected account on the platform is identified.
type Account struct {
	// Source: token_response (paths under the answer's root), callback
	// (a parameter of the OAuth callback) or call (a GET of URL with the
	// new token; List: the answer is an array, one item per site).
	Source  string `json:"source"`
	URL     string `json:"url,omitempty"`
	List    bool   `json:"list,omitempty"`
	ID      string `json:"id"`
	Name    string `json:"name,omitempty"`
	SiteURL string `json:"site_url,omitempty"`
}

// OAuth is how a platform's OAuth 2.0 authorization code grant goes.
type OAuth struct {
	AuthorizeURL   string   `json:"authorize_url"`
	TokenURL       string   `json:"token_url"`
	RefreshURL     string   `json:"refresh_url"`
	RevokeURL      string   `json:"revoke_url,omitempty"`
	Scopes         []string `json:"scopes"`
	ScopeSeparator string   `json:"scope_separator"`
	PKCE           bool     `json:"pkce"`
	// ClientIDParam names the client id in the authorize URL (TikTok:
	// client_key); CodeParam the code in the token request (TikTok:
	// auth_code).
	ClientIDParam string `json:"client_id_param"`
	CodeParam     string `json:"code_param"`
	// TokenEncoding is form or json; ClientAuth basic (HTTP Basic) or body.
	TokenEncoding   string            `json:"token_encoding"`
	ClientAuth      string            `json:"client_auth"`
	AuthorizeParams map[string]string `json:"authorize_params,omitempty"`
	TokenParams     map[string]string `json:"token_params,omitempty"`
	TokenResponse   TokenResponse     `json:"token_response"`
	Account         Account           `json:"account"`
	// RefreshRotation: never, always (each refresh returns a new refresh
	// token), or optional (only when the app opted in, as Slack's token
	// rotation; or unconfirmed: keep whatever comes back).
	RefreshRotation string `json:"refresh_rotation"`
	// RefreshReuseSeconds is how long a replaced refresh token still works.
	RefreshReuseSeconds int `json:"refresh_reuse_seconds,omitempty"`
	// RefreshMarginSeconds: refresh this long before the access token
	// expires (0: five minutes).
	RefreshMarginSeconds int `json:"refresh_margin_seconds,omitempty"`
	// KeepaliveDays: refresh at least this often, or the grant lapses.
	KeepaliveDays     int      `json:"keepalive_days,omitempty"`
	ReauthorizeErrors []string `json:"reauthorize_errors"`
	// TemporaryErrors are error codes a platform reports in a successful
	// HTTP answer (Slack's ok:false, TikTok's code) that mean "try again
	// later", as a 5xx or a 429 would.
	TemporaryErrors []string `json:"temporary_errors,omitempty"`
	DocsURL         string   `json:"docs_url,omitempty"`
}

// API is how calls to a platform are made: templates filled from Params.
type API struct {
	BaseURL   string            `json:"base_url"`
	Headers   map[string]string `json:"headers,omitempty"`
	Query     map[string]string `json:"query,omitempty"`
	BasicAuth *struct {
		Username string `json:"username"`
		Password string `json:"password"`
	} `json:"basic_auth,omitempty"`
}

// Call is one request of a connection test, made with the API's auth.
type Call struct {
	Method string `json:"method"`
	URL    string `json:"url"`
	Body   string `json:"body,omitempty"`
	// Scopes: an OAuth grant needs one of these for the call to succeed
	// (none: any grant will do). The catalog check makes sure the scopes
	// the platform's entry asks for include one.
	Scopes []string `json:"scopes,omitempty"`
}

// Entry is one platform of the catalog, as catalog.json describes it.
type Entry struct {
	Name        string `json:"name"`
	DisplayName string `json:"display_name"`
	// Category: cms, commerce, messaging, calendar, project_management, ai.
	Category  string               `json:"category"`
	Available bool                 `json:"available"`
	AuthMode  integration.AuthMode `json:"auth_mode"`
	// SiteURL says whether an integration needs external_site_url;
	// SiteURLPattern, when set, is what it must match, lower-cased.
	SiteURL        integration.SiteURLRule `json:"site_url"`
	SiteURLPattern string                  `json:"site_url_pattern,omitempty"`
	DocsURL        string                  `json:"docs_url"`
	// Notes say what the facts rest on, and what is not confirmed.
	Notes string `json:"notes,omitempty"`
	// Params are the names templates may use ({shop}), each with where
	// its value comes from: site_url, site_subdomain (the first label of
	// the site URL's host), access_token, account_id,
	// credentials.<field> or config.<key>.
	Params      map[string]string `json:"params"`
	Credentials []Field           `json:"credentials,omitempty"`
	Config      []Field           `json:"config,omitempty"`
	App         *App              `json:"app,omitempty"`
	OAuth       *OAuth            `json:"oauth,omitempty"`
	API         API               `json:"api"`
	RateLimit   RateLimit         `json:"rate_limit"`
	TestCalls   []Call            `json:"test_calls"`

	platform integration.Platform
}

// Platform is what the domain needs of the entry.
func (e *Entry) Platform() integration.Platform { return e.platform }

// Catalog is the set of platforms Joinery knows. It is read-only.
type Catalog struct {
	byName map[string]*Entry
	names  []string
}

var _ integration.Catalog = (*Catalog)(nil)

var builtin = sync.OnceValues(func() (*Catalog, error) { return ParseCatalog(catalogJSON) })

// NewCatalog returns the built-in catalog, catalog.json. The file is
// checked by the package's tests, so a failure here is a broken build.
func NewCatalog() *Catalog {
	c, err := builtin()
	if err != nil {
		panic("connector: catalog.json: " + err.Error())
	}
	return c
}

// ParseCatalog reads and checks a catalog file. The error names the
// platform and the field at fault.
func ParseCatalog(data []byte) (*Catalog, error) {
	var file struct {
		Platforms []*Entry `json:"platforms"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&file); err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	if len(file.Platforms) == 0 {
		return nil, fmt.Errorf("catalog: no platforms")
	}
	c := &Catalog{byName: make(map[string]*Entry, len(file.Platforms))}
	for i, e := range file.Platforms {
		if e == nil {
			return nil, fmt.Errorf("catalog: platform %d is null", i)
		}
		if _, dup := c.byName[e.Name]; dup {
			return nil, fmt.Errorf("catalog: %s: listed twice", e.Name)
		}
		p, err := check(e)
		if err != nil {
			return nil, fmt.Errorf("catalog: %s: %w", or(e.Name, fmt.Sprintf("platform %d", i)), err)
		}
		e.platform = p
		c.byName[e.Name] = e
		c.names = append(c.names, e.Name)
	}
	slices.Sort(c.names)
	return c, nil
}

// Platform returns what the domain needs of a platform.
func (c *Catalog) Platform(name string) (integration.Platform, bool) {
	e, ok := c.byName[name]
	if !ok {
		return integration.Platform{}, false
	}
	return e.platform, true
}

// Entry returns the whole catalog entry of a platform. Callers must not
// change it.
func (c *Catalog) Entry(name string) (*Entry, bool) {
	e, ok := c.byName[name]
	return e, ok
}

// Names lists the platforms, sorted.
func (c *Catalog) Names() []string { return c.names }

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
