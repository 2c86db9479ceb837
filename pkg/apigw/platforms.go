package apigw

import (
	"context"
	"net/http"

	"github.com/aws/aws-lambda-go/events"
	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/integration"
)

// PlatformsAPI lists the platforms a host can offer its users: the
// catalog's public part, never an app credential.
type PlatformsAPI struct {
	API     *API
	Catalog *connector.Catalog
	// Apps has the deployment's app credentials (nil: none).
	Apps integration.Apps
}

// Why a platform cannot be connected here.
const (
	reasonNotYet        = "not_available_yet" // this build cannot connect it yet
	reasonNotConfigured = "not_configured"    // its app credentials are missing
)

type fieldJSON struct {
	Name        string   `json:"name"`
	Required    bool     `json:"required,omitempty"`
	Secret      bool     `json:"secret,omitempty"`
	MaxLength   int      `json:"max_length,omitempty"`
	Type        string   `json:"type,omitempty"`
	Enum        []string `json:"enum,omitempty"`
	Min         *int     `json:"min,omitempty"`
	Max         *int     `json:"max,omitempty"`
	Pattern     string   `json:"pattern,omitempty"`
	Items       string   `json:"items,omitempty"`
	Format      string   `json:"format,omitempty"`
	Description string   `json:"description,omitempty"`
}

type platformJSON struct {
	Name              string      `json:"name"`
	DisplayName       string      `json:"display_name"`
	Category          string      `json:"category"`
	Available         bool        `json:"available"`
	UnavailableReason string      `json:"unavailable_reason,omitempty"`
	AuthMode          string      `json:"auth_mode"`
	SiteURL           string      `json:"site_url"`
	SiteURLPattern    string      `json:"site_url_pattern,omitempty"`
	Credentials       []fieldJSON `json:"credentials"`
	Config            []fieldJSON `json:"config"`
	Scopes            []string    `json:"scopes,omitempty"`
	// AppConfigured, for a platform with app credentials, says whether
	// the deployment holds them (for an AI provider: a key of its own).
	AppConfigured *bool  `json:"app_configured,omitempty"`
	DocsURL       string `json:"docs_url"`
}

func fieldsJSON(fs []connector.Field) []fieldJSON {
	out := make([]fieldJSON, len(fs))
	for i, f := range fs {
		out[i] = fieldJSON{Name: f.Name, Required: f.Required, Secret: f.Secret, MaxLength: f.MaxLen, Type: f.Type,
			Enum: f.Enum, Min: f.Min, Max: f.Max, Pattern: f.Pattern, Items: f.Items, Format: f.Format, Description: f.Description}
	}
	return out
}

// ListPlatforms is GET /v1/platforms (viewer+).
func (p *PlatformsAPI) ListPlatforms() Handler {
	return p.API.route("GET /v1/platforms", integration.RoleViewer, func(ctx context.Context, _ integration.Actor, _ events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		items := make([]platformJSON, 0, len(p.Catalog.Names()))
		for _, name := range p.Catalog.Names() {
			e, _ := p.Catalog.Entry(name)
			out := platformJSON{Name: e.Name, DisplayName: e.DisplayName, Category: e.Category, Available: e.Available,
				AuthMode: string(e.AuthMode), SiteURL: string(e.SiteURL), SiteURLPattern: e.SiteURLPattern,
				Credentials: fieldsJSON(e.Credentials), Config: fieldsJSON(e.Config), DocsURL: e.DocsURL}
			if e.OAuth != nil {
				out.Scopes = e.OAuth.Scopes
			}
			if e.App != nil {
				configured := p.configured(ctx, name)
				out.AppConfigured = &configured
				if e.App.Required && !configured {
					out.Available, out.UnavailableReason = false, reasonNotConfigured
				}
			}
			if !e.Available {
				out.UnavailableReason = reasonNotYet
			}
			items = append(items, out)
		}
		return jsonResponse(http.StatusOK, map[string]any{"items": items}), nil
	})
}

// configured reports whether the deployment holds the platform's app
// credentials. A document it cannot use counts as none, and is logged
// (the error names the platform and field, never a value): the list
// still serves the platforms that need none.
func (p *PlatformsAPI) configured(ctx context.Context, name string) bool {
	if p.Apps == nil {
		return false
	}
	_, err := p.Apps.App(ctx, name)
	if err != nil && integration.ErrorCode(err) != integration.EUNPROCESSABLE {
		p.API.log().ErrorContext(ctx, "app credentials", "platform", name, "err", err)
	}
	return err == nil
}
