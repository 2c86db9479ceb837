package dynamostore

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/joinery/joinery/pkg/integration"
)

// oauthAttr is an integration's OAuth facts as its item keeps them: one
// JSON attribute "oauth", absent on items without a grant (and on every
// item an earlier release wrote).
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

func encodeOAuth(o *integration.OAuthInfo) (string, error) {
	if o == nil {
		return "", nil
	}
	a := oauthAttr{Scopes: o.Scopes, ExpiresAt: o.ExpiresAt, ExternalAccountID: o.ExternalAccountID,
		ExternalAccountName: o.ExternalAccountName, RefreshedAt: o.RefreshedAt, RenewAt: o.RenewAt}
	for _, s := range o.Sites {
		a.Sites = append(a.Sites, oauthSite(s))
	}
	b, err := json.Marshal(a)
	if err != nil {
		return "", fmt.Errorf("encode oauth: %w", err)
	}
	return string(b), nil
}

func decodeOAuth(s string) (*integration.OAuthInfo, error) {
	if s == "" {
		return nil, nil
	}
	var a oauthAttr
	if err := json.Unmarshal([]byte(s), &a); err != nil {
		return nil, fmt.Errorf("decode oauth: %w", err)
	}
	o := &integration.OAuthInfo{Scopes: a.Scopes, ExpiresAt: a.ExpiresAt, ExternalAccountID: a.ExternalAccountID,
		ExternalAccountName: a.ExternalAccountName, RefreshedAt: a.RefreshedAt, RenewAt: a.RenewAt}
	for _, s := range a.Sites {
		o.Sites = append(o.Sites, integration.OAuthSite(s))
	}
	return o, nil
}
