package apigw

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/joinery/joinery/pkg/integration"
)

// API holds the HTTP handlers of the integrations API.
type API struct {
	Service *integration.Service
	Claims  ClaimNames
	// ServiceAccess says which tokens are the host backend's (none when
	// its Clients are empty).
	ServiceAccess ServiceAccess
	Log           *slog.Logger
	// Cursors signs the listings' cursors (nil: a key of this process
	// only, for tests).
	Cursors *Cursors
	// WebhookURLs are the bases platforms post webhooks to, by platform
	// (JOINERY_WEBHOOK_URL_<PLATFORM>), which an integration shows.
	WebhookURLs map[string]string
}

// Handler is the signature lambda.Start takes for an HTTP API route.
type Handler = func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error)

// integrationJSON is an integration as the API shows it. Credentials are
// only ever described, never included.
type integrationJSON struct {
	ID                  string                      `json:"id"`
	AccountID           string                      `json:"account_id"`
	SiteID              string                      `json:"site_id"`
	Platform            string                      `json:"platform"`
	ExternalSiteURL     string                      `json:"external_site_url"`
	Config              map[string]any              `json:"config"`
	ConfigWarnings      []integration.ConfigWarning `json:"config_warnings"`
	HasCredentials      bool                        `json:"has_credentials"`
	CredentialFields    []string                    `json:"credential_fields"`
	IsActive            bool                        `json:"is_active"`
	SyncEnabled         bool                        `json:"sync_enabled"`
	SyncIntervalMinutes int                         `json:"sync_interval_minutes"`
	SyncStatus          string                      `json:"sync_status"`
	LastSyncAt          *time.Time                  `json:"last_sync_at"`
	SyncError           string                      `json:"sync_error"`
	NextSyncAt          *time.Time                  `json:"next_sync_at"`
	ConnectionStatus    string                      `json:"connection_status"`
	ConnectionMessage   string                      `json:"connection_message"`
	ConnectionCheckedAt *time.Time                  `json:"connection_checked_at"`
	CreatedAt           time.Time                   `json:"created_at"`
	UpdatedAt           time.Time                   `json:"updated_at"`
	Version             int64                       `json:"version"`
	// OAuth is set once an OAuth platform has granted access.
	OAuth *oauthJSON `json:"oauth,omitempty"`
	// Webhooks is shown by GET, for the platforms that post webhooks.
	Webhooks *webhooksJSON `json:"webhooks,omitempty"`
}

func toJSON(c integration.Catalog, it *integration.Integration) integrationJSON {
	fields := it.Credentials.Fields
	if fields == nil || !it.Credentials.HasCredentials() {
		fields = []string{}
	}
	// The webhook secret is Joinery's, not a credential the user gives.
	fields = slices.DeleteFunc(slices.Clone(fields), func(f string) bool { return f == integration.WebhookSecretKey })
	cfg := it.Config
	if cfg == nil {
		cfg = map[string]any{}
	}
	return integrationJSON{
		ID: it.ID, AccountID: it.AccountID, SiteID: it.SiteID, Platform: it.Platform,
		ExternalSiteURL: it.ExternalSiteURL, Config: cfg, ConfigWarnings: integration.ConfigWarnings(c, it),
		HasCredentials: it.Credentials.HasCredentials(), CredentialFields: fields,
		IsActive: it.IsActive, SyncEnabled: it.SyncEnabled, SyncIntervalMinutes: it.SyncIntervalMinutes,
		SyncStatus: string(it.SyncStatus), LastSyncAt: it.LastSyncAt, SyncError: it.SyncError, NextSyncAt: it.NextSyncAt,
		ConnectionStatus: string(it.ConnectionStatus), ConnectionMessage: it.ConnectionMessage,
		ConnectionCheckedAt: it.ConnectionCheckedAt,
		CreatedAt:           it.CreatedAt, UpdatedAt: it.UpdatedAt, Version: it.Version,
		OAuth: toOAuthJSON(it.OAuth),
	}
}

func etag(version int64) string { return `"` + strconv.FormatInt(version, 10) + `"` }

func integrationResponse(c integration.Catalog, status int, it *integration.Integration) events.APIGatewayV2HTTPResponse {
	resp := jsonResponse(status, toJSON(c, it))
	resp.Headers["ETag"] = etag(it.Version)
	if status == http.StatusCreated {
		resp.Headers["Location"] = "/v1/integrations/" + it.ID
	}
	return resp
}

// ifMatch reads an optional If-Match header holding one ETag this API issued.
func ifMatch(req events.APIGatewayV2HTTPRequest) (*int64, error) {
	raw := strings.TrimSpace(header(req, "If-Match"))
	if raw == "" || raw == "*" {
		return nil, nil
	}
	v, err := strconv.ParseInt(strings.Trim(strings.TrimPrefix(raw, "W/"), `"`), 10, 64)
	if err != nil || v < 1 {
		return nil, integration.Invalid(map[string]string{"If-Match": "must be an ETag returned by this API, e.g. \"3\""})
	}
	return &v, nil
}

// CreateIntegration handles POST /v1/integrations.
func (a *API) CreateIntegration() Handler {
	return a.route("POST /v1/integrations", integration.RoleEditor, func(ctx context.Context, actor integration.Actor, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		var in struct {
			SiteID              string          `json:"site_id"`
			Platform            string          `json:"platform"`
			ExternalSiteURL     string          `json:"external_site_url"`
			Config              json.RawMessage `json:"config"`
			Credentials         json.RawMessage `json:"credentials"`
			IsActive            *bool           `json:"is_active"`
			SyncEnabled         *bool           `json:"sync_enabled"`
			SyncIntervalMinutes *int            `json:"sync_interval_minutes"`
		}
		if err := decode(req, &in); err != nil {
			return none, err
		}
		var creds map[string]string
		var config map[string]any
		var err error
		if in.Config != nil && string(in.Config) != "null" {
			if config, err = decodeConfig(in.Config); err != nil || config == nil {
				return none, integration.Invalid(map[string]string{"config": "must be an object"})
			}
		}
		if in.Credentials != nil {
			if creds, err = credentialValues(in.Credentials); err != nil {
				return none, err
			}
		}
		it, err := a.Service.Create(ctx, actor, integration.CreateInput{
			SiteID: in.SiteID, Platform: in.Platform, ExternalSiteURL: in.ExternalSiteURL, Config: config,
			Credentials: creds, IsActive: in.IsActive, SyncEnabled: in.SyncEnabled, SyncIntervalMinutes: in.SyncIntervalMinutes,
		})
		if err != nil {
			return none, err
		}
		return integrationResponse(a.Service.Catalog, http.StatusCreated, it), nil
	})
}

// GetIntegration handles GET /v1/integrations/{id}.
func (a *API) GetIntegration() Handler {
	return a.route("GET /v1/integrations/{id}", integration.RoleViewer, func(ctx context.Context, actor integration.Actor, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		it, err := a.Service.Get(ctx, actor, req.PathParameters["id"])
		if err != nil {
			return none, err
		}
		view := toJSON(a.Service.Catalog, it)
		if view.Webhooks, err = a.webhooksView(ctx, it); err != nil {
			return none, err
		}
		resp := jsonResponse(http.StatusOK, view)
		resp.Headers["ETag"] = etag(it.Version)
		return resp, nil
	})
}

// ListIntegrations handles GET /v1/integrations.
func (a *API) ListIntegrations() Handler {
	return a.route("GET /v1/integrations", integration.RoleViewer, func(ctx context.Context, actor integration.Actor, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		q := req.QueryStringParameters
		limit, err := limitParam(q)
		if err != nil {
			return none, err
		}
		var page integration.Page
		next, err := a.page(ctx, q["cursor"], func(cursor string) (int, string, error) {
			page, err = a.Service.List(ctx, actor, q["site_id"], q["platform"], limit, cursor)
			return len(page.Items), page.NextCursor, err
		})
		if err != nil {
			return none, err
		}
		out := struct {
			Items      []integrationJSON `json:"items"`
			NextCursor string            `json:"next_cursor,omitempty"`
		}{Items: make([]integrationJSON, len(page.Items)), NextCursor: next}
		for i, it := range page.Items {
			out.Items[i] = toJSON(a.Service.Catalog, it)
		}
		return jsonResponse(http.StatusOK, out), nil
	})
}

// UpdateIntegration handles PATCH /v1/integrations/{id}.
func (a *API) UpdateIntegration() Handler {
	return a.route("PATCH /v1/integrations/{id}", integration.RoleEditor, func(ctx context.Context, actor integration.Actor, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		var in struct {
			Version             *int64          `json:"version"`
			ExternalSiteURL     *string         `json:"external_site_url"`
			Config              json.RawMessage `json:"config"`
			Credentials         json.RawMessage `json:"credentials"`
			IsActive            *bool           `json:"is_active"`
			SyncEnabled         *bool           `json:"sync_enabled"`
			SyncIntervalMinutes *int            `json:"sync_interval_minutes"`
		}
		if err := decode(req, &in); err != nil {
			return none, err
		}
		var err error
		patch := integration.PatchInput{
			ExternalSiteURL: in.ExternalSiteURL, IsActive: in.IsActive, SyncEnabled: in.SyncEnabled,
			SyncIntervalMinutes: in.SyncIntervalMinutes,
		}
		if patch.ExpectedVersion, err = ifMatch(req); err != nil {
			return none, err
		}
		if in.Version != nil {
			if patch.ExpectedVersion != nil && *patch.ExpectedVersion != *in.Version {
				return none, integration.Invalid(map[string]string{"version": "differs from If-Match"})
			}
			patch.ExpectedVersion = in.Version
		}
		if in.Config != nil {
			// A null config, merge-patched onto the document, removes it: clear.
			if string(in.Config) == "null" {
				patch.ConfigClear = true
			} else if patch.ConfigPatch, err = decodeConfig(in.Config); err != nil || patch.ConfigPatch == nil {
				return none, integration.Invalid(map[string]string{"config": "must be a JSON object (a JSON Merge Patch)"})
			}
		}
		if in.Credentials != nil {
			patch.CredentialsSet = true
			if patch.Credentials, err = credentialValues(in.Credentials); err != nil {
				return none, err
			}
		}
		it, err := a.Service.Update(ctx, actor, req.PathParameters["id"], patch)
		if err != nil {
			return none, err
		}
		return integrationResponse(a.Service.Catalog, http.StatusOK, it), nil
	})
}

// DeleteIntegration handles DELETE /v1/integrations/{id}.
func (a *API) DeleteIntegration() Handler {
	return a.route("DELETE /v1/integrations/{id}", integration.RoleEditor, func(ctx context.Context, actor integration.Actor, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		expected, err := ifMatch(req)
		if err != nil {
			return none, err
		}
		if err := a.Service.Delete(ctx, actor, req.PathParameters["id"], expected); err != nil {
			return none, err
		}
		return jsonResponse(http.StatusNoContent, nil), nil
	})
}

// credentialValues decodes a credentials object (or null, which clears
// them), naming the member whose value is not a string.
func credentialValues(raw json.RawMessage) (map[string]string, error) {
	if string(raw) == "null" {
		return nil, nil
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, integration.Invalid(map[string]string{"credentials": "must be an object of strings, or null to remove them"})
	}
	out := make(map[string]string, len(m))
	fields := map[string]string{}
	for k, v := range m {
		s, ok := v.(string)
		if !ok {
			fields["credentials."+k] = "must be a string"
			continue
		}
		out[k] = s
	}
	if len(fields) > 0 {
		return nil, integration.Invalid(fields)
	}
	return out, nil
}

// decodeConfig reads a config object keeping its numbers as written, so
// an integer beyond 2^53 can be refused rather than silently rounded.
func decodeConfig(raw json.RawMessage) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	return m, nil
}
