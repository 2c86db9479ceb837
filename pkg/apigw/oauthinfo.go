package apigw

import (
	"time"

	"github.com/joinery/joinery/pkg/integration"
)

// oauthJSON is what the API shows of an OAuth grant: facts, never a token.
type oauthJSON struct {
	Scopes              []string        `json:"scopes"`
	ExpiresAt           *time.Time      `json:"expires_at"`
	ExternalAccountID   string          `json:"external_account_id"`
	ExternalAccountName string          `json:"external_account_name"`
	Sites               []oauthSiteJSON `json:"sites"`
}

type oauthSiteJSON struct {
	ID   string `json:"id"`
	URL  string `json:"url"`
	Name string `json:"name"`
}

func toOAuthJSON(o *integration.OAuthInfo) *oauthJSON {
	if o == nil {
		return nil
	}
	out := &oauthJSON{Scopes: o.Scopes, ExpiresAt: o.ExpiresAt, ExternalAccountID: o.ExternalAccountID,
		ExternalAccountName: o.ExternalAccountName, Sites: []oauthSiteJSON{}}
	if out.Scopes == nil {
		out.Scopes = []string{}
	}
	for _, s := range o.Sites {
		out.Sites = append(out.Sites, oauthSiteJSON(s))
	}
	return out
}
