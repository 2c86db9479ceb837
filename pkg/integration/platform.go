package integration

import "regexp"

// AuthMode is how a platform authenticates Joinery's calls.
type AuthMode string

const (
	AuthBasic  AuthMode = "basic"   // username + password-like secret (WordPress Application Passwords)
	AuthAPIKey AuthMode = "api_key" // a static key or token supplied by the user
	AuthOAuth2 AuthMode = "oauth2"  // credentials only through the OAuth flow
)

// SiteURLRule says whether a platform needs the external site's URL.
type SiteURLRule string

const (
	SiteURLRequired SiteURLRule = "required"
	SiteURLOptional SiteURLRule = "optional"
)

// CredentialField is one field of a platform's credentials.
type CredentialField struct {
	Name     string
	Required bool
	Secret   bool // never shown, not even masked
	MaxLen   int
}

// ConfigKey is a config key a platform declares. Keys it does not declare
// are kept as they are; declared ones must have the declared shape.
type ConfigKey struct {
	Name     string
	Type     string   // string, integer, boolean, object or array
	Enum     []string // string: the values allowed
	Min, Max *int     // integer: the bounds, inclusive
	Pattern  *regexp.Regexp
	Items    string // array: the type of every item (string), or any when empty
	Format   string // string: a further check, e.g. ConfigFormatBCP47
}

// ConfigFormatBCP47 is a string format: a BCP 47 language tag ("en", "pt-BR").
const ConfigFormatBCP47 = "bcp47"

// Config key types.
const (
	ConfigString  = "string"
	ConfigInteger = "integer"
	ConfigBoolean = "boolean"
	ConfigObject  = "object"
	ConfigArray   = "array"
)

// AppField is one field of a platform's app credentials: what the
// deployment itself holds for the platform (an OAuth client, a signing
// secret, a key of its own), as opposed to an integration's credentials.
type AppField struct {
	Name     string
	Required bool
	Secret   bool
}

// Platform is what the domain needs to know of a platform to validate an
// integration. The catalog (package connector) holds the rest.
type Platform struct {
	Name        string
	DisplayName string
	AuthMode    AuthMode
	SiteURL     SiteURLRule
	// SiteURLPattern, when set, is what the (lower-cased) site URL must
	// match.
	SiteURLPattern *regexp.Regexp
	Credentials    []CredentialField
	Config         []ConfigKey
	// Available says whether integrations of the platform can be created
	// on this build; existing ones stay readable and deletable either way.
	Available bool
	// AppRequired says the platform cannot be connected without its app
	// credentials (AppFields) in the deployment's apps secret.
	AppRequired bool
	AppFields   []AppField
}

// AcceptsCredentials reports whether credentials may be set through the API.
func (p Platform) AcceptsCredentials() bool { return p.AuthMode != AuthOAuth2 }

// Catalog finds platforms by name.
type Catalog interface {
	Platform(name string) (Platform, bool)
	Names() []string
}
