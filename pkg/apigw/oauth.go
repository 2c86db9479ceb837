package apigw

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/joinery/joinery/pkg/integration"
)

// OAuthAPI is the connect flow of the OAuth platforms: the authorize
// route, for a signed-in editor, and the public callback the platform
// sends the user back to.
type OAuthAPI struct {
	API *API
	// PublicURL is the API's origin as browsers and platforms reach it,
	// which redirect URIs are built on. "": the domain the request came in
	// on (the HTTP API's own URL, or a custom domain mapped at its root).
	PublicURL string
	// Authorize starts a connect (oauth.Flow.Authorize): the platform's
	// consent page and when its state expires.
	Authorize func(ctx context.Context, publicURL string, actor integration.Actor, id, returnURL string) (authorizeURL string, expiresAt time.Time, err error)
	// Callback finishes one (oauth.Flow.Callback): where to send the user,
	// or an EINVALID error for a state that is missing, expired, reused or
	// forged.
	Callback func(ctx context.Context, publicURL, platform string, query url.Values) (redirect string, err error)
}

// publicURL is the origin redirect URIs are built on for req.
func (o *OAuthAPI) publicURL(req events.APIGatewayV2HTTPRequest) string {
	if o.PublicURL != "" {
		return o.PublicURL
	}
	return "https://" + req.RequestContext.DomainName
}

// sourceScopeOAuthCallback is the callback's own per-address quota.
const sourceScopeOAuthCallback = "oauth_callback"

// AuthorizeOAuth handles POST /v1/integrations/{id}/oauth/authorize.
func (o *OAuthAPI) AuthorizeOAuth() Handler {
	return o.API.route("POST /v1/integrations/{id}/oauth/authorize", integration.RoleEditor, func(ctx context.Context, actor integration.Actor, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		var in struct {
			ReturnURL *string `json:"return_url"`
		}
		if err := decode(req, &in); err != nil {
			return none, err
		}
		if in.ReturnURL == nil || *in.ReturnURL == "" {
			return none, integration.Invalid(map[string]string{"return_url": "required: where the user lands when the connect ends"})
		}
		link, expires, err := o.Authorize(ctx, o.publicURL(req), actor, req.PathParameters["id"], *in.ReturnURL)
		if err != nil {
			return none, err
		}
		return jsonResponse(http.StatusOK, map[string]string{
			"authorize_url": link,
			"expires_at":    expires.UTC().Format(time.RFC3339),
		}), nil
	})
}

// OAuthCallback handles GET /v1/oauth/{platform}/callback. It has no
// gateway authorizer: the state in the query is the proof, usable once.
// Its source address is counted before anything of the request is read.
func (o *OAuthAPI) OAuthCallback() Handler {
	a := o.API
	return a.wrap("GET /v1/oauth/{platform}/callback", func(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		if err := a.limitSource(ctx, sourceScopeOAuthCallback, req); err != nil {
			return errorResponse(ctx, a.log(), err), nil
		}
		// The raw query as sent: Shopify signs it, and the gateway's map
		// joins repeated parameters.
		query, err := url.ParseQuery(req.RawQueryString)
		if err != nil || req.RawQueryString == "" {
			query = url.Values{}
			for k, v := range req.QueryStringParameters {
				query.Set(k, v)
			}
		}
		redirect, err := o.Callback(ctx, o.publicURL(req), req.PathParameters["platform"], query)
		if err != nil {
			if code := integration.ErrorCode(err); code == integration.EINVALID || code == integration.ENOTFOUND {
				return callbackPage(), nil
			}
			return errorResponse(ctx, a.log(), err), nil
		}
		return events.APIGatewayV2HTTPResponse{StatusCode: http.StatusFound, Headers: map[string]string{
			"Location":      redirect,
			"Cache-Control": "no-store",
			// The callback's URL carries the code: never pass it on.
			"Referrer-Policy": "no-referrer",
		}}, nil
	})
}

// callbackPage is what a browser shows for a callback whose state is not
// (or no longer) good. It repeats nothing of the request.
func callbackPage() events.APIGatewayV2HTTPResponse {
	return events.APIGatewayV2HTTPResponse{
		StatusCode: http.StatusBadRequest,
		Headers: map[string]string{
			"Content-Type":            "text/html; charset=utf-8",
			"Cache-Control":           "no-store",
			"Referrer-Policy":         "no-referrer",
			"Content-Security-Policy": "default-src 'none'",
		},
		Body: `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Link expired</title></head>
<body><h1>This connection link is no longer valid</h1>
<p>It has expired, was already used, or did not come from this service. Nothing was changed.
Go back to the app and start connecting again.</p></body></html>
`,
	}
}
