// Package connector holds the platform catalog and the connectors that talk
// to each platform. A platform is mostly data (this catalog); code exists
// only for what data cannot say.
package connector

import (
	"slices"

	"github.com/joinery/joinery/pkg/integration"
)

// RateLimit is what a platform documents about its limits.
type RateLimit struct {
	RequestsPerSecond float64 // sustained rate Joinery keeps to, per integration
	MaxInFlight       int     // concurrent requests per integration
	RetryAfterHeader  string  // header carrying the wait on 429
}

// Entry is one platform of the catalog.
type Entry struct {
	integration.Platform
	BaseURL      string // template; {external_site_url} and {shop} are filled from the integration
	AuthorizeURL string // OAuth 2.0 only
	TokenURL     string // OAuth 2.0 only
	Scopes       []string
	DocsURL      string
	RateLimit    RateLimit
}

var entries = []Entry{
	{
		Platform: integration.Platform{
			Name: "wordpress", DisplayName: "WordPress", AuthMode: integration.AuthBasic, SiteURL: integration.SiteURLRequired,
			Credentials: []integration.CredentialField{
				{Name: "username", Required: true, MaxLen: 200},
				{Name: "app_password", Required: true, Secret: true, MaxLen: 200},
			},
		},
		BaseURL: "{external_site_url}/wp-json",
		DocsURL: "https://developer.wordpress.org/rest-api/",
		// WordPress publishes no rate limit: what a site takes depends on
		// its host. 10 requests a second per integration (a burst of 10),
		// across all workers, is a conservative default that small shared
		// hosts and security plugins tolerate; hosts that throttle say so
		// with a 429, which holds every worker.
		RateLimit: RateLimit{RequestsPerSecond: 10, MaxInFlight: 4, RetryAfterHeader: "Retry-After"},
	},
	{
		Platform: integration.Platform{
			Name: "shopify", DisplayName: "Shopify", AuthMode: integration.AuthAPIKey, SiteURL: integration.SiteURLRequired,
			Credentials: []integration.CredentialField{{Name: "access_token", Required: true, Secret: true, MaxLen: 256}},
		},
		BaseURL:   "{external_site_url}/admin/api/2025-07",
		DocsURL:   "https://shopify.dev/docs/api/admin-rest",
		RateLimit: RateLimit{RequestsPerSecond: 2, MaxInFlight: 2, RetryAfterHeader: "Retry-After"},
	},
	{
		Platform: integration.Platform{Name: "tiktok", DisplayName: "TikTok", AuthMode: integration.AuthOAuth2, SiteURL: integration.SiteURLOptional},
		BaseURL:  "https://open.tiktokapis.com/v2", AuthorizeURL: "https://www.tiktok.com/v2/auth/authorize/",
		TokenURL: "https://open.tiktokapis.com/v2/oauth/token/", Scopes: []string{"user.info.basic", "video.list"},
		DocsURL:   "https://developers.tiktok.com/doc/overview",
		RateLimit: RateLimit{RequestsPerSecond: 5, MaxInFlight: 2},
	},
	{
		Platform: integration.Platform{Name: "slack", DisplayName: "Slack", AuthMode: integration.AuthOAuth2, SiteURL: integration.SiteURLOptional},
		BaseURL:  "https://slack.com/api", AuthorizeURL: "https://slack.com/oauth/v2/authorize",
		TokenURL: "https://slack.com/api/oauth.v2.access", Scopes: []string{"chat:write", "channels:read"},
		DocsURL:   "https://api.slack.com/web",
		RateLimit: RateLimit{RequestsPerSecond: 1, MaxInFlight: 1, RetryAfterHeader: "Retry-After"},
	},
	{
		Platform: integration.Platform{Name: "google_calendar", DisplayName: "Google Calendar", AuthMode: integration.AuthOAuth2, SiteURL: integration.SiteURLOptional},
		BaseURL:  "https://www.googleapis.com/calendar/v3", AuthorizeURL: "https://accounts.google.com/o/oauth2/v2/auth",
		TokenURL: "https://oauth2.googleapis.com/token", Scopes: []string{"https://www.googleapis.com/auth/calendar"},
		DocsURL:   "https://developers.google.com/calendar/api/v3/reference",
		RateLimit: RateLimit{RequestsPerSecond: 5, MaxInFlight: 4},
	},
	{
		Platform: integration.Platform{Name: "jira", DisplayName: "Jira", AuthMode: integration.AuthOAuth2, SiteURL: integration.SiteURLOptional},
		BaseURL:  "https://api.atlassian.com/ex/jira/{cloud_id}/rest/api/3", AuthorizeURL: "https://auth.atlassian.com/authorize",
		TokenURL: "https://auth.atlassian.com/oauth/token", Scopes: []string{"read:jira-work", "write:jira-work", "offline_access"},
		DocsURL:   "https://developer.atlassian.com/cloud/jira/platform/rest/v3/",
		RateLimit: RateLimit{RequestsPerSecond: 5, MaxInFlight: 4, RetryAfterHeader: "Retry-After"},
	},
	{
		Platform: integration.Platform{
			Name: "trello", DisplayName: "Trello", AuthMode: integration.AuthAPIKey, SiteURL: integration.SiteURLOptional,
			Credentials: []integration.CredentialField{
				{Name: "api_key", Required: true, MaxLen: 128},
				{Name: "token", Required: true, Secret: true, MaxLen: 512},
			},
		},
		BaseURL:   "https://api.trello.com/1",
		DocsURL:   "https://developer.atlassian.com/cloud/trello/rest/",
		RateLimit: RateLimit{RequestsPerSecond: 10, MaxInFlight: 4},
	},
	{
		Platform: integration.Platform{
			Name: "openai", DisplayName: "OpenAI", AuthMode: integration.AuthAPIKey, SiteURL: integration.SiteURLOptional,
			Credentials: []integration.CredentialField{{Name: "api_key", Required: true, Secret: true, MaxLen: 512}},
		},
		BaseURL:   "https://api.openai.com/v1",
		DocsURL:   "https://platform.openai.com/docs/api-reference",
		RateLimit: RateLimit{RequestsPerSecond: 5, MaxInFlight: 4, RetryAfterHeader: "Retry-After"},
	},
	{
		Platform: integration.Platform{
			Name: "anthropic", DisplayName: "Anthropic", AuthMode: integration.AuthAPIKey, SiteURL: integration.SiteURLOptional,
			Credentials: []integration.CredentialField{{Name: "api_key", Required: true, Secret: true, MaxLen: 512}},
		},
		BaseURL:   "https://api.anthropic.com/v1",
		DocsURL:   "https://docs.anthropic.com/en/api",
		RateLimit: RateLimit{RequestsPerSecond: 5, MaxInFlight: 4, RetryAfterHeader: "retry-after"},
	},
}

// Catalog is the set of platforms Joinery knows.
type Catalog struct {
	byName map[string]Entry
	names  []string
}

var _ integration.Catalog = (*Catalog)(nil)

// NewCatalog returns the built-in catalog.
func NewCatalog() *Catalog {
	c := &Catalog{byName: make(map[string]Entry, len(entries))}
	for _, e := range entries {
		c.byName[e.Name] = e
		c.names = append(c.names, e.Name)
	}
	slices.Sort(c.names)
	return c
}

// Platform returns what the domain needs of a platform.
func (c *Catalog) Platform(name string) (integration.Platform, bool) {
	e, ok := c.byName[name]
	return e.Platform, ok
}

// Entry returns the whole catalog entry of a platform.
func (c *Catalog) Entry(name string) (Entry, bool) {
	e, ok := c.byName[name]
	return e, ok
}

// Names lists the platforms, sorted.
func (c *Catalog) Names() []string { return c.names }
