package integration

import "time"

// ConnectionActionRequired says the platform granted access but the user
// must still choose something (the Jira site of a grant covering several)
// before the integration can work.
const ConnectionActionRequired ConnectionStatus = "action_required"

// OAuthSite is one site an OAuth grant covers (an Atlassian accessible
// resource).
type OAuthSite struct{ ID, URL, Name string }

// OAuthInfo is what an integration shows of its OAuth grant: facts about
// the grant, never a token (the tokens live in its secret).
type OAuthInfo struct {
	Scopes    []string
	ExpiresAt *time.Time // the access token's expiry; nil: none given
	// ExternalAccountID names the platform account that granted access
	// (Slack team, TikTok open_id, Shopify shop, Google calendar); a
	// reauthorization must come from the same one.
	ExternalAccountID, ExternalAccountName string
	// Sites are the sites a grant covers where it can cover several.
	Sites []OAuthSite
	// RefreshedAt is the last successful refresh (keepalive).
	RefreshedAt *time.Time
}

// Site returns the grant's site with the given id.
func (o *OAuthInfo) Site(id string) (OAuthSite, bool) {
	if o == nil {
		return OAuthSite{}, false
	}
	for _, s := range o.Sites {
		if s.ID == id {
			return s, true
		}
	}
	return OAuthSite{}, false
}
