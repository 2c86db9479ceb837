package apigw_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/joinery/joinery/pkg/apigw"
)

// listAs invokes GET /v1/integrations with the given authorizer claims and
// headers, and returns the status and the error message, if any.
func listAs(t *testing.T, api *apigw.API, claims map[string]string, headers map[string]string) (int, string, map[string]any) {
	t.Helper()
	req := events.APIGatewayV2HTTPRequest{
		RouteKey: "GET /v1/integrations",
		Headers:  headers,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RequestID: "req-1",
			Authorizer: &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
				JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: claims},
			},
		},
	}
	resp, err := api.ListIntegrations()(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Error struct {
			Message string         `json:"message"`
			Fields  map[string]any `json:"fields"`
		} `json:"error"`
	}
	_ = json.Unmarshal([]byte(resp.Body), &body)
	return resp.StatusCode, body.Error.Message, body.Error.Fields
}

// The role claim is read in every form an issuer or the HTTP API's JWT
// authorizer gives it; the highest known role counts.
func TestRoleClaimForms(t *testing.T) {
	api := newAPI(t)
	for _, tc := range []struct {
		role   string
		status int
	}{
		{"viewer", 200},
		{"Viewer", 200},
		{"VIEWER", 200},
		{"[viewer]", 200},
		{"[Admins viewer]", 200},   // a Cognito groups array, flattened
		{"[Admins Viewer]", 200},   // case does not matter
		{"staff owner", 200},       // space-separated
		{"staff,editor", 200},      // comma-separated
		{`["staff","admin"]`, 200}, // a JSON array in a string claim
		{"[Admins staff]", 403},
		{"root", 403},
		{"", 403},
		{"[]", 403},
	} {
		t.Run(tc.role, func(t *testing.T) {
			status, msg, _ := listAs(t, api, map[string]string{"sub": "u", "account_id": "acct", "role": tc.role}, nil)
			if status != tc.status {
				t.Fatalf("status %d, want %d (%s)", status, tc.status, msg)
			}
			if tc.status == 403 && !strings.Contains(msg, "viewer, editor, admin, owner") {
				t.Fatalf("message %q does not name the roles", msg)
			}
		})
	}
	status, msg, _ := listAs(t, api, map[string]string{"sub": "u", "account_id": "acct"}, nil)
	if status != 403 || !strings.Contains(msg, "no role claim") || !strings.Contains(msg, "viewer, editor, admin, owner") {
		t.Fatalf("no role claim: %d %q", status, msg)
	}
}

// The highest known role counts: a viewer-and-editor may create.
func TestRoleClaimHighestCounts(t *testing.T) {
	api := newAPI(t)
	for role, want := range map[string]int{"[viewer editor]": 400, "[Admins viewer]": 403} {
		req := events.APIGatewayV2HTTPRequest{
			RouteKey: "POST /v1/integrations",
			Body:     `{}`,
			RequestContext: events.APIGatewayV2HTTPRequestContext{Authorizer: &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
				JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: map[string]string{"sub": "u", "account_id": "acct", "role": role}},
			}},
		}
		resp, err := api.CreateIntegration()(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		// 400: past the role check, refused for the empty body.
		if resp.StatusCode != want {
			t.Errorf("role %q: status %d, want %d: %s", role, resp.StatusCode, want, resp.Body)
		}
	}
}

// A service token is one whose client is listed and whose scope holds the
// service scope; it acts as owner of the account X-Joinery-Account names.
func TestServiceTokens(t *testing.T) {
	var logs bytes.Buffer
	api := newAPI(t)
	api.Log = slog.New(slog.NewJSONHandler(&logs, nil))
	api.ServiceAccess = apigw.ParseServiceAccess(" backend-1 , backend-2", "")
	service := map[string]string{"sub": "backend-1", "client_id": "backend-1", "scope": "openid joinery/service", "token_use": "access"}
	acct := map[string]string{apigw.AccountHeader: "acct-1"}

	if status, msg, _ := listAs(t, api, service, acct); status != 200 {
		t.Fatalf("service token: %d %s", status, msg)
	}
	if !strings.Contains(logs.String(), `"client_id":"backend-1"`) || !strings.Contains(logs.String(), `"account_id":"acct-1"`) {
		t.Fatalf("the call is not logged with its client id: %s", logs.String())
	}
	azp := map[string]string{"azp": "backend-2", "scope": "joinery/service"}
	if status, msg, _ := listAs(t, api, azp, map[string]string{"x-joinery-account": "acct-1"}); status != 200 {
		t.Fatalf("azp service token: %d %s", status, msg)
	}
	for name, h := range map[string]map[string]string{"missing": nil, "malformed": {"x-joinery-account": "not an id!"}} {
		status, _, fields := listAs(t, api, service, h)
		if status != 400 || fields[apigw.AccountHeader] == nil {
			t.Errorf("%s header: %d %v, want 400 naming %s", name, status, fields, apigw.AccountHeader)
		}
	}
	// Not service tokens: they may not name an account.
	user := map[string]string{"sub": "u", "account_id": "acct-1", "role": "owner"}
	for name, claims := range map[string]map[string]string{
		"user token":       user,
		"unlisted client":  {"client_id": "someone", "scope": "joinery/service"},
		"no service scope": {"client_id": "backend-1", "scope": "openid joinery/service-x"},
	} {
		status, msg, _ := listAs(t, api, claims, acct)
		if status != 403 || msg != "X-Joinery-Account needs a service token." {
			t.Errorf("%s with the header: %d %q", name, status, msg)
		}
	}
	if status, msg, _ := listAs(t, api, user, nil); status != 200 {
		t.Errorf("user token without the header: %d %s", status, msg)
	}
	// Service access off: no token is a service token.
	api.ServiceAccess = apigw.ParseServiceAccess("", "")
	if status, msg, _ := listAs(t, api, service, acct); status != 403 || !strings.Contains(msg, "needs a service token") {
		t.Errorf("service access off: %d %q", status, msg)
	}
	if strings.Contains(logs.String(), "eyJ") {
		t.Error("a token reached the logs")
	}
}
