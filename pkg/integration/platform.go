package integration

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

// Platform is what the domain needs to know of a platform to validate an
// integration. The catalog (package connector) holds the rest.
type Platform struct {
	Name        string
	DisplayName string
	AuthMode    AuthMode
	SiteURL     SiteURLRule
	Credentials []CredentialField
}

// AcceptsCredentials reports whether credentials may be set through the API.
func (p Platform) AcceptsCredentials() bool { return p.AuthMode != AuthOAuth2 }

// Catalog finds platforms by name.
type Catalog interface {
	Platform(name string) (Platform, bool)
	Names() []string
}
