package embedded

import (
	"time"

	"github.com/joinery/joinery/pkg/integration"
)

// oauthAttr is an integration's OAuth facts as its record keeps them:
// "oauth", absent on records without a grant (and on every record an
// earlier release wrote).
type oauthAttr struct {
	Scopes              []string    `json:"scopes,omitempty"`
	ExpiresAt           *time.Time  `json:"expires_at,omitempty"`
	ExternalAccountID   string      `json:"external_account_id,omitempty"`
	ExternalAccountName string      `json:"external_account_name,omitempty"`
	Sites               []oauthSite `json:"sites,omitempty"`
	RefreshedAt         *time.Time  `json:"refreshed_at,omitempty"`
	RenewAt             *time.Time  `json:"renew_at,omitempty"`
}

type oauthSite struct {
	ID   string `json:"id"`
	URL  string `json:"url,omitempty"`
	Name string `json:"name,omitempty"`
}

func encodeOAuth(o *integration.OAuthInfo) *oauthAttr {
	if o == nil {
		return nil
	}
	a := oauthAttr{Scopes: o.Scopes, ExpiresAt: o.ExpiresAt, ExternalAccountID: o.ExternalAccountID,
		ExternalAccountName: o.ExternalAccountName, RefreshedAt: o.RefreshedAt, RenewAt: o.RenewAt}
	for _, s := range o.Sites {
		a.Sites = append(a.Sites, oauthSite(s))
	}
	return &a
}

func decodeOAuth(a *oauthAttr) *integration.OAuthInfo {
	if a == nil {
		return nil
	}
	o := &integration.OAuthInfo{Scopes: a.Scopes, ExpiresAt: a.ExpiresAt, ExternalAccountID: a.ExternalAccountID,
		ExternalAccountName: a.ExternalAccountName, RefreshedAt: a.RefreshedAt, RenewAt: a.RenewAt}
	for _, s := range a.Sites {
		o.Sites = append(o.Sites, integration.OAuthSite(s))
	}
	return o
}
