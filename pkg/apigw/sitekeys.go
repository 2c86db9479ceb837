package apigw

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/joinery/joinery/pkg/integration"
)

type siteKeyJSON struct {
	ID        string     `json:"id"`
	SiteID    string     `json:"site_id"`
	Name      string     `json:"name"`
	Hint      string     `json:"hint"`
	CreatedAt time.Time  `json:"created_at"`
	CreatedBy string     `json:"created_by,omitempty"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
	Revoked   bool       `json:"revoked"`
}

func siteKeyToJSON(k *integration.SiteKey) siteKeyJSON {
	return siteKeyJSON{ID: k.ID, SiteID: k.SiteID, Name: k.Name, Hint: k.Hint, CreatedAt: k.CreatedAt, CreatedBy: k.CreatedBy,
		RevokedAt: k.RevokedAt, Revoked: k.RevokedAt != nil}
}

// CreateSiteKey handles POST /v1/sites/{site_id}/keys. The answer holds the
// key itself, this once; only its hash is stored.
func (a *API) CreateSiteKey() Handler {
	return a.route("POST /v1/sites/{site_id}/keys", integration.RoleEditor, func(ctx context.Context, actor integration.Actor, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		var in struct {
			Name string `json:"name"`
		}
		// The body is optional: a key needs no name.
		if strings.TrimSpace(req.Body) != "" {
			if err := decode(req, &in); err != nil {
				return none, err
			}
		}
		k, secret, err := a.Service.CreateSiteKey(ctx, actor, req.PathParameters["site_id"], in.Name)
		if err != nil {
			return none, err
		}
		return jsonResponse(http.StatusCreated, struct {
			siteKeyJSON
			Key string `json:"key"`
		}{siteKeyToJSON(k), secret}), nil
	})
}

// ListSiteKeys handles GET /v1/sites/{site_id}/keys.
func (a *API) ListSiteKeys() Handler {
	return a.route("GET /v1/sites/{site_id}/keys", integration.RoleEditor, func(ctx context.Context, actor integration.Actor, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		q := req.QueryStringParameters
		limit, err := limitParam(q)
		if err != nil {
			return none, err
		}
		var page integration.SiteKeyPage
		next, err := a.page(ctx, q["cursor"], func(cursor string) (int, string, error) {
			page, err = a.Service.ListSiteKeys(ctx, actor, req.PathParameters["site_id"], limit, cursor)
			return len(page.Items), page.NextCursor, err
		})
		if err != nil {
			return none, err
		}
		out := struct {
			Items      []siteKeyJSON `json:"items"`
			NextCursor string        `json:"next_cursor,omitempty"`
		}{Items: make([]siteKeyJSON, len(page.Items)), NextCursor: next}
		for i, k := range page.Items {
			out.Items[i] = siteKeyToJSON(k)
		}
		return jsonResponse(http.StatusOK, out), nil
	})
}

// RevokeSiteKey handles DELETE /v1/sites/{site_id}/keys/{key_id}. The key
// stops working at once; it stays in the list, marked revoked.
func (a *API) RevokeSiteKey() Handler {
	return a.route("DELETE /v1/sites/{site_id}/keys/{key_id}", integration.RoleEditor, func(ctx context.Context, actor integration.Actor, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		k, err := a.Service.RevokeSiteKey(ctx, actor, req.PathParameters["site_id"], req.PathParameters["key_id"])
		if err != nil {
			return none, err
		}
		return jsonResponse(http.StatusOK, siteKeyToJSON(k)), nil
	})
}

// bearer returns the token of an "Authorization: Bearer <token>" header.
func bearer(req events.APIGatewayV2HTTPRequest) string {
	scheme, token, ok := strings.Cut(strings.TrimSpace(header(req, "Authorization")), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}

// siteKeyRoute makes a Lambda handler of a route that has no gateway
// authorizer: the function verifies the site key itself (in f, through
// the service), and errors are rendered in the one error shape.
func (a *API) siteKeyRoute(name string, f func(ctx context.Context, key string, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error)) Handler {
	return a.wrap(name, func(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		if err := a.limitSource(ctx, "site_key", req); err != nil {
			return errorResponse(ctx, a.log(), err), nil
		}
		key := bearer(req)
		if key == "" {
			return errorResponse(ctx, a.log(), integration.Errorf(integration.EUNAUTHORIZED, "A site key is required: Authorization: Bearer <site key>.")), nil
		}
		resp, err := f(ctx, key, req)
		if err != nil {
			return errorResponse(ctx, a.log(), err), nil
		}
		return resp, nil
	})
}
