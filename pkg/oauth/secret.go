// Package oauth connects platforms through OAuth 2.0's authorization code
// grant: the token endpoint calls every platform's quirks need (token.go),
// the tokens as an integration's secret keeps them (secret.go), and the
// connect flow from the authorize URL to the callback (flow.go).
package oauth

import (
	"fmt"
	"strings"
	"time"
)

// Field names of an OAuth integration's secret.
const (
	FieldAccessToken         = "access_token"
	FieldRefreshToken        = "refresh_token"
	FieldTokenType           = "token_type"
	FieldExpiresAt           = "expires_at"
	FieldRefreshExpiresAt    = "refresh_expires_at"
	FieldScopes              = "scopes"
	FieldExternalAccountID   = "external_account_id"
	FieldExternalAccountName = "external_account_name"
	FieldObtainedAt          = "obtained_at"
)

// TokenSet is what an OAuth integration's secret holds.
type TokenSet struct {
	AccessToken, RefreshToken, TokenType   string
	ExpiresAt, RefreshExpiresAt            time.Time // zero = none
	Scopes                                 []string
	ExternalAccountID, ExternalAccountName string
	ObtainedAt                             time.Time
}

// Values is the token set as the secret stores it: times in RFC 3339 UTC,
// scopes space-separated; empty fields are left out (absent = empty).
func (t TokenSet) Values() map[string]string {
	v := map[string]string{}
	put := func(k, s string) {
		if s != "" {
			v[k] = s
		}
	}
	put(FieldAccessToken, t.AccessToken)
	put(FieldRefreshToken, t.RefreshToken)
	put(FieldTokenType, t.TokenType)
	put(FieldExpiresAt, formatTime(t.ExpiresAt))
	put(FieldRefreshExpiresAt, formatTime(t.RefreshExpiresAt))
	put(FieldScopes, strings.Join(t.Scopes, " "))
	put(FieldExternalAccountID, t.ExternalAccountID)
	put(FieldExternalAccountName, t.ExternalAccountName)
	put(FieldObtainedAt, formatTime(t.ObtainedAt))
	return v
}

// ParseTokenSet reads a secret's values. A malformed time is an error
// naming the field (never its value's neighbours: the tokens).
func ParseTokenSet(v map[string]string) (TokenSet, error) {
	t := TokenSet{
		AccessToken: v[FieldAccessToken], RefreshToken: v[FieldRefreshToken], TokenType: v[FieldTokenType],
		Scopes:            strings.Fields(v[FieldScopes]),
		ExternalAccountID: v[FieldExternalAccountID], ExternalAccountName: v[FieldExternalAccountName],
	}
	for _, f := range []struct {
		name string
		to   *time.Time
	}{{FieldExpiresAt, &t.ExpiresAt}, {FieldRefreshExpiresAt, &t.RefreshExpiresAt}, {FieldObtainedAt, &t.ObtainedAt}} {
		s := v[f.name]
		if s == "" {
			continue
		}
		at, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return TokenSet{}, fmt.Errorf("oauth secret: %s is not an RFC 3339 time", f.name)
		}
		*f.to = at.UTC()
	}
	return t, nil
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}
