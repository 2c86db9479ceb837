package awsapp

import (
	"context"
	"net/url"
	"strings"
	"time"

	"github.com/joinery/joinery/pkg/apigw"
	"github.com/joinery/joinery/pkg/integration"
	"github.com/joinery/joinery/pkg/oauth"
)

// Origins reads a comma-separated list of origins (JOINERY_OAUTH_RETURN_ORIGINS).
func Origins(raw string) []string {
	var out []string
	for _, o := range strings.Split(raw, ",") {
		if o = strings.TrimSpace(o); o != "" {
			out = append(out, strings.TrimSuffix(o, "/"))
		}
	}
	return out
}

// OAuthFlow is the OAuth connect flow, its states kept in the table.
func (a *App) OAuthFlow() *oauth.Flow {
	f := &oauth.Flow{
		Integrations:  a.Service,
		States:        a.Store,
		Secrets:       a.Service.Secrets,
		Apps:          a.Apps(),
		Catalog:       a.catalog,
		HTTP:          a.httpClient(),
		PublicURL:     a.Env.PublicURL,
		ReturnOrigins: a.Env.ReturnOrigins,
	}
	// A Shopify store just connected is subscribed to post its webhooks
	// (JOINERY_WEBHOOK_URL_SHOPIFY) before its first run, which checks
	// them again. Its calls draw on the integration's cost budget in the
	// table, as the sync worker's do: a reconnect during a run cannot
	// overdraw the store's points.
	if a.Env.WebhookURLShopify != "" {
		f.Connected = a.Engine().SubscribeOnConnect
	}
	return f
}

// OAuth is the API of the OAuth connect flow.
func (a *App) OAuth() *apigw.OAuthAPI {
	return OAuthRoutes(a.API(), a.OAuthFlow(), nil)
}

// OAuthRoutes puts flow behind the API's OAuth routes; authorizeURL, when
// set, changes the consent link handed out (the local runner points it at
// a platform's stand-in). A flow without a public URL takes the domain
// each request came in on.
func OAuthRoutes(api *apigw.API, flow *oauth.Flow, authorizeURL func(string) string) *apigw.OAuthAPI {
	at := func(public string) *oauth.Flow {
		if flow.PublicURL != "" || public == "" {
			return flow
		}
		f := *flow
		f.PublicURL = public
		return &f
	}
	return &apigw.OAuthAPI{API: api, PublicURL: flow.PublicURL,
		Authorize: func(ctx context.Context, public string, actor integration.Actor, id, returnURL string) (string, time.Time, error) {
			res, err := at(public).Authorize(ctx, actor, id, returnURL)
			if err != nil {
				return "", time.Time{}, err
			}
			link := res.AuthorizeURL
			if authorizeURL != nil {
				link = authorizeURL(link)
			}
			return link, res.ExpiresAt, nil
		},
		Callback: func(ctx context.Context, public, platform string, query url.Values) (string, error) {
			return at(public).Callback(ctx, platform, query)
		},
	}
}
