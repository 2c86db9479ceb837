package apigw

import (
	"context"
	"net/http"

	"github.com/aws/aws-lambda-go/events"
	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/integration"
)

// ConnectionAPI holds the handlers that talk to the platforms.
type ConnectionAPI struct {
	*API
	Tester     *connector.Tester
	Onboarding *connector.Onboarding
}

// TestConnection handles POST /v1/integrations/{id}/test_connection. The
// answer is 200 whether or not the test passed: a failed test is a result.
func (a *ConnectionAPI) TestConnection() Handler {
	return a.route("POST /v1/integrations/{id}/test_connection", integration.RoleEditor, func(ctx context.Context, actor integration.Actor, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		res, err := a.Tester.Test(ctx, actor, req.PathParameters["id"])
		if err != nil {
			return none, err
		}
		details := res.Details
		if details == nil {
			details = map[string]any{}
		}
		return jsonResponse(http.StatusOK, struct {
			OK               bool           `json:"ok"`
			ConnectionStatus string         `json:"connection_status"`
			Message          string         `json:"message"`
			Details          map[string]any `json:"details"`
		}{res.OK, string(res.Status), res.Message, details}), nil
	})
}

// Onboard handles POST /v1/integrations/test_connection, authenticated by
// a site key: the site's plugin connects WordPress without a logged-in
// user. 200 {ok, integration_id, created}; a failed test is 422.
func (a *ConnectionAPI) Onboard() Handler {
	return a.siteKeyRoute("POST /v1/integrations/test_connection", func(ctx context.Context, key string, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		var in struct {
			SiteURL string `json:"site_url"`
			// ExternalSiteURL is the integration's name for site_url.
			ExternalSiteURL string `json:"external_site_url"`
			Username        string `json:"username"`
			AppPassword     string `json:"app_password"`
			// RotateWebhookSecret asks for a new webhook secret.
			RotateWebhookSecret bool `json:"rotate_webhook_secret"`
		}
		// The key is checked before the body is read, so a caller without
		// a valid key learns nothing from validation.
		actor, sk, err := a.Service.AuthenticateSiteKey(ctx, key)
		if err != nil {
			return none, err
		}
		if err := decode(req, &in); err != nil {
			return none, err
		}
		if in.SiteURL == "" {
			in.SiteURL = in.ExternalSiteURL
		}
		res, err := a.Onboarding.Connect(ctx, actor, sk, connector.OnboardInput{SiteURL: in.SiteURL, Username: in.Username, AppPassword: in.AppPassword,
			RotateWebhookSecret: in.RotateWebhookSecret})
		if err != nil {
			return none, err
		}
		return jsonResponse(http.StatusOK, struct {
			OK            bool   `json:"ok"`
			IntegrationID string `json:"integration_id"`
			Created       bool   `json:"created"`
			Message       string `json:"message"`
			// The plugin signs its webhooks with the secret (Standard
			// Webhooks) and posts them to the URL.
			WebhookURL    string `json:"webhook_url,omitempty"`
			WebhookSecret string `json:"webhook_secret"`
		}{true, res.IntegrationID, res.Created, res.Test.Message, res.WebhookURL, res.WebhookSecret}), nil
	})
}

// UpdateStructure handles POST /v1/integrations/{id}/update_structure,
// authenticated by the site's key.
func (a *ConnectionAPI) UpdateStructure() Handler {
	return a.siteKeyRoute("POST /v1/integrations/{id}/update_structure", func(ctx context.Context, key string, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		var in struct {
			PostTypes     []connector.ContentType `json:"post_types"`
			Taxonomies    []connector.Taxonomy    `json:"taxonomies"`
			PluginVersion string                  `json:"plugin_version"`
		}
		actor, sk, err := a.Service.AuthenticateSiteKey(ctx, key)
		if err != nil {
			return none, err
		}
		if err := decode(req, &in); err != nil {
			return none, err
		}
		it, err := a.Onboarding.UpdateStructure(ctx, actor, sk, req.PathParameters["id"], connector.PushedStructure{
			Structure: connector.Structure{ContentTypes: in.PostTypes, Taxonomies: in.Taxonomies}, PluginVersion: in.PluginVersion,
		})
		if err != nil {
			return none, err
		}
		return jsonResponse(http.StatusOK, it.ContentTypes), nil
	})
}

// ContentTypes handles GET /v1/integrations/{id}/content_types.
func (a *ConnectionAPI) ContentTypes() Handler {
	return a.route("GET /v1/integrations/{id}/content_types", integration.RoleViewer, func(ctx context.Context, actor integration.Actor, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		ct, err := a.Tester.ContentTypes(ctx, actor, req.PathParameters["id"])
		if err != nil {
			return none, err
		}
		return jsonResponse(http.StatusOK, ct), nil
	})
}
