package syncer

import (
	"context"
	"maps"

	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/integration"
)

// AccessTokens gives an OAuth integration a valid access token,
// refreshing it when due (oauth.Tokens). Its error is a *connector.Error:
// ErrAuth when the grant is gone (the integration already marked
// reauthorization_required), ErrUnavailable when the token endpoint did
// not answer.
type AccessTokens interface {
	AccessToken(ctx context.Context, it *integration.Integration) (string, error)
}

// credentials are what a connector gets of the integration's secret: for
// an OAuth platform, its access token as Tokens gives it (valid, from the
// secret's current version), never the version the item points at.
func (e *Engine) credentials(ctx context.Context, it *integration.Integration) (map[string]string, error) {
	creds, err := e.Integrations.Credentials(ctx, it)
	if err != nil || e.Tokens == nil || !e.oauthPlatform(it.Platform) {
		return creds, err
	}
	token, err := e.Tokens.AccessToken(ctx, it)
	if integration.ErrorCode(err) == integration.EUNPROCESSABLE {
		// The deployment's app for the platform is missing: not the
		// user's grant, and not mended by retrying.
		return nil, &connector.Error{Kind: connector.ErrInvalid, Message: integration.ErrorMessage(err), Err: err}
	}
	if err != nil {
		return nil, err
	}
	creds = maps.Clone(creds)
	creds["access_token"] = token
	return creds, nil
}

func (e *Engine) oauthPlatform(name string) bool {
	if e.OAuthPlatform != nil {
		return e.OAuthPlatform(name)
	}
	en, ok := connector.NewCatalog().Entry(name)
	return ok && en.OAuth != nil
}
