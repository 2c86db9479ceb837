package awsapp

import (
	"github.com/joinery/joinery/pkg/integration"
	"github.com/joinery/joinery/pkg/oauth"
)

// Tokens is the OAuth token lifecycle: access tokens read from each
// integration's current secret version and refreshed once, under the
// table's token lease, whatever the number of Lambdas asking. Nil without
// an apps secret: no OAuth platform can be connected then. Its functions
// need secretsmanager:GetSecretValue and PutSecretValue on the
// integrations' secrets, and the table (the lease is an item of it).
func (a *App) Tokens() *oauth.Tokens {
	sec, ok := a.Service.Secrets.(integration.CurrentSecrets)
	if a.Env.AppsSecret == "" || !ok {
		return nil
	}
	return &oauth.Tokens{Leases: a.Store, Secrets: sec, Apps: a.Apps(), Catalog: a.catalog, HTTP: a.httpClient(),
		Integrations: a.Service, Events: a.Store}
}
