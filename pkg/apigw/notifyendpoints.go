package apigw

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/joinery/joinery/pkg/integration"
	"github.com/joinery/joinery/pkg/notify"
)

// EndpointsAPI serves the host's outbound webhook endpoints
// (/v1/webhook_endpoints), admin and above.
type EndpointsAPI struct {
	*API
	Endpoints *notify.Endpoints
}

// endpointJSON is an endpoint as the API shows it: never its secrets,
// which are shown once, when made.
type endpointJSON struct {
	ID             string     `json:"id"`
	URL            string     `json:"url"`
	Description    string     `json:"description"`
	EventTypes     []string   `json:"event_types"`
	SiteIDs        []string   `json:"site_ids"`
	Disabled       bool       `json:"disabled"`
	DisabledReason string     `json:"disabled_reason,omitempty"`
	SecretRotating *time.Time `json:"previous_secret_expires_at,omitempty"`
	CreatedAt      time.Time  `json:"created_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
	Version        int64      `json:"version"`
}

func endpointToJSON(e *integration.Endpoint, now time.Time) endpointJSON {
	out := endpointJSON{ID: e.ID, URL: e.URL, Description: e.Description, EventTypes: e.EventTypes, SiteIDs: e.SiteIDs, Disabled: e.Disabled,
		DisabledReason: e.DisabledReason, CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt, Version: e.Version}
	if out.EventTypes == nil {
		out.EventTypes = []string{}
	}
	if out.SiteIDs == nil {
		out.SiteIDs = []string{}
	}
	for _, s := range e.Secrets {
		if !s.Until.IsZero() && s.Until.After(now) && (out.SecretRotating == nil || s.Until.After(*out.SecretRotating)) {
			until := s.Until
			out.SecretRotating = &until
		}
	}
	return out
}

type endpointWithSecret struct {
	endpointJSON
	Secret string `json:"secret"`
}

// deliveryJSON is one delivery of an event to an endpoint, as its log
// shows it.
type deliveryJSON struct {
	DeliveryID    string     `json:"delivery_id"`
	EndpointID    string     `json:"endpoint_id"`
	EventID       string     `json:"event_id"`
	EventType     string     `json:"event_type"`
	Status        string     `json:"status"`
	Attempts      int        `json:"attempts"`
	StatusCode    int        `json:"status_code"`
	DurationMS    int64      `json:"duration_ms"`
	Error         string     `json:"error"`
	Response      string     `json:"response"`
	CreatedAt     time.Time  `json:"created_at"`
	UpdatedAt     time.Time  `json:"updated_at"`
	NextAttemptAt *time.Time `json:"next_attempt_at"`
}

func deliveryToJSON(d *integration.NotifyDelivery) deliveryJSON {
	out := deliveryJSON{DeliveryID: d.ID, EndpointID: d.EndpointID, EventID: d.EventID, EventType: d.EventType, Status: d.Status, Attempts: d.Attempts,
		StatusCode: d.StatusCode, DurationMS: d.DurationMS, Error: d.Error, Response: d.Response, CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt}
	if !d.NextAttemptAt.IsZero() {
		t := d.NextAttemptAt
		out.NextAttemptAt = &t
	}
	return out
}

// endpointBody is the JSON of a create or a change; absent fields are
// left as they are.
type endpointBody struct {
	URL         *string   `json:"url"`
	EventTypes  *[]string `json:"event_types"`
	SiteIDs     *[]string `json:"site_ids"`
	Description *string   `json:"description"`
	Disabled    *bool     `json:"disabled"`
}

func (b endpointBody) input() notify.EndpointInput {
	return notify.EndpointInput{URL: b.URL, EventTypes: b.EventTypes, SiteIDs: b.SiteIDs, Description: b.Description, Disabled: b.Disabled}
}

// CreateEndpoint handles POST /v1/webhook_endpoints. The answer holds the
// signing secret, this once.
func (a *EndpointsAPI) CreateEndpoint() Handler {
	return a.route("POST /v1/webhook_endpoints", integration.RoleAdmin, func(ctx context.Context, actor integration.Actor, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		var in endpointBody
		if err := decode(req, &in); err != nil {
			return none, err
		}
		if in.Disabled != nil {
			return none, integration.Invalid(map[string]string{"disabled": "an endpoint is created enabled; disable it with PATCH"})
		}
		e, secret, err := a.Endpoints.Create(ctx, actor, in.input())
		if err != nil {
			return none, err
		}
		return jsonResponse(http.StatusCreated, endpointWithSecret{endpointToJSON(e, time.Now()), secret}), nil
	})
}

// ListEndpoints handles GET /v1/webhook_endpoints.
func (a *EndpointsAPI) ListEndpoints() Handler {
	return a.route("GET /v1/webhook_endpoints", integration.RoleAdmin, func(ctx context.Context, actor integration.Actor, _ events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		list, err := a.Endpoints.List(ctx, actor)
		if err != nil {
			return none, err
		}
		out := struct {
			Items []endpointJSON `json:"items"`
		}{Items: make([]endpointJSON, len(list))}
		now := time.Now()
		for i, e := range list {
			out.Items[i] = endpointToJSON(e, now)
		}
		return jsonResponse(http.StatusOK, out), nil
	})
}

// GetEndpoint handles GET /v1/webhook_endpoints/{id}.
func (a *EndpointsAPI) GetEndpoint() Handler {
	return a.route("GET /v1/webhook_endpoints/{id}", integration.RoleAdmin, func(ctx context.Context, actor integration.Actor, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		e, err := a.Endpoints.Get(ctx, actor, req.PathParameters["id"])
		if err != nil {
			return none, err
		}
		return jsonResponse(http.StatusOK, endpointToJSON(e, time.Now())), nil
	})
}

// UpdateEndpoint handles PATCH /v1/webhook_endpoints/{id}: url,
// event_types, site_ids, description, disabled.
func (a *EndpointsAPI) UpdateEndpoint() Handler {
	return a.route("PATCH /v1/webhook_endpoints/{id}", integration.RoleAdmin, func(ctx context.Context, actor integration.Actor, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		var in endpointBody
		if err := decode(req, &in); err != nil {
			return none, err
		}
		e, err := a.Endpoints.Update(ctx, actor, req.PathParameters["id"], in.input())
		if err != nil {
			return none, err
		}
		return jsonResponse(http.StatusOK, endpointToJSON(e, time.Now())), nil
	})
}

// DeleteEndpoint handles DELETE /v1/webhook_endpoints/{id}.
func (a *EndpointsAPI) DeleteEndpoint() Handler {
	return a.route("DELETE /v1/webhook_endpoints/{id}", integration.RoleAdmin, func(ctx context.Context, actor integration.Actor, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		if err := a.Endpoints.Delete(ctx, actor, req.PathParameters["id"]); err != nil {
			return none, err
		}
		return jsonResponse(http.StatusNoContent, nil), nil
	})
}

// TestEndpoint handles POST /v1/webhook_endpoints/{id}/test: a ping is
// queued for the endpoint, and its delivery returned.
func (a *EndpointsAPI) TestEndpoint() Handler {
	return a.route("POST /v1/webhook_endpoints/{id}/test", integration.RoleAdmin, func(ctx context.Context, actor integration.Actor, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		d, err := a.Endpoints.Test(ctx, actor, req.PathParameters["id"])
		if err != nil {
			return none, err
		}
		return jsonResponse(http.StatusAccepted, deliveryToJSON(d)), nil
	})
}

// RotateEndpointSecret handles POST /v1/webhook_endpoints/{id}/rotate_secret.
// The answer holds the new secret, this once; the previous one keeps
// signing beside it for 24 hours.
func (a *EndpointsAPI) RotateEndpointSecret() Handler {
	return a.route("POST /v1/webhook_endpoints/{id}/rotate_secret", integration.RoleAdmin, func(ctx context.Context, actor integration.Actor, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		e, secret, err := a.Endpoints.RotateSecret(ctx, actor, req.PathParameters["id"])
		if err != nil {
			return none, err
		}
		return jsonResponse(http.StatusOK, endpointWithSecret{endpointToJSON(e, time.Now()), secret}), nil
	})
}

// EndpointDeliveries handles GET /v1/webhook_endpoints/{id}/deliveries?status=&cursor=&limit=.
func (a *EndpointsAPI) EndpointDeliveries() Handler {
	return a.route("GET /v1/webhook_endpoints/{id}/deliveries", integration.RoleAdmin, func(ctx context.Context, actor integration.Actor, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		q := req.QueryStringParameters
		limit, err := limitParam(q)
		if err != nil {
			return none, err
		}
		var items []*integration.NotifyDelivery
		next, err := a.page(ctx, q["cursor"], func(cursor string) (int, string, error) {
			var next string
			items, next, err = a.Endpoints.Deliveries(ctx, actor, req.PathParameters["id"], strings.TrimSpace(q["status"]), limit, cursor)
			return len(items), next, err
		})
		if err != nil {
			return none, err
		}
		out := struct {
			Items      []deliveryJSON `json:"items"`
			NextCursor string         `json:"next_cursor,omitempty"`
		}{Items: make([]deliveryJSON, len(items)), NextCursor: next}
		for i, d := range items {
			out.Items[i] = deliveryToJSON(d)
		}
		return jsonResponse(http.StatusOK, out), nil
	})
}

// RetryDelivery handles POST /v1/webhook_endpoints/{id}/deliveries/{delivery_id}/retry:
// the event is sent again now, with the same webhook-id.
func (a *EndpointsAPI) RetryDelivery() Handler {
	return a.route("POST /v1/webhook_endpoints/{id}/deliveries/{delivery_id}/retry", integration.RoleAdmin, func(ctx context.Context, actor integration.Actor, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		d, err := a.Endpoints.Retry(ctx, actor, req.PathParameters["id"], req.PathParameters["delivery_id"])
		if err != nil {
			return none, err
		}
		return jsonResponse(http.StatusAccepted, deliveryToJSON(d)), nil
	})
}
