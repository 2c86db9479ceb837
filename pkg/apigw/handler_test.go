package apigw_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/joinery/joinery/pkg/apigw"
	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/embedded"
	"github.com/joinery/joinery/pkg/integration"
)

func newAPI(t testing.TB) *apigw.API {
	t.Helper()
	dir := t.TempDir()
	store, err := embedded.OpenStore(filepath.Join(dir, "joinery.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	secrets, err := embedded.OpenSecrets(filepath.Join(dir, "secrets"))
	if err != nil {
		t.Fatal(err)
	}
	svc := &integration.Service{Store: store, Secrets: secrets, Catalog: connector.NewCatalog(),
		NewID: func() string { return "01JDEMO0000000000000000000" }}
	return &apigw.API{Service: svc, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

func loadEvent(t testing.TB, name string) events.APIGatewayV2HTTPRequest {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "events", name))
	if err != nil {
		t.Fatal(err)
	}
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return ev
}

// The sample events in events/ drive each function's handler, in the order
// a client would call them.
func TestSampleEvents(t *testing.T) {
	api := newAPI(t)
	steps := []struct {
		event   string
		handler apigw.Handler
		status  int
	}{
		{"integrations-create.json", api.CreateIntegration(), 201},
		{"integrations-list.json", api.ListIntegrations(), 200},
		{"integrations-get.json", api.GetIntegration(), 200},
		{"integrations-update.json", api.UpdateIntegration(), 200},
		{"integrations-delete.json", api.DeleteIntegration(), 204},
		{"integrations-get.json", api.GetIntegration(), 404},
	}
	for _, s := range steps {
		resp, err := s.handler(context.Background(), loadEvent(t, s.event))
		if err != nil {
			t.Fatalf("%s: %v", s.event, err)
		}
		if resp.StatusCode != s.status {
			t.Fatalf("%s: status %d, want %d: %s", s.event, resp.StatusCode, s.status, resp.Body)
		}
		if strings.Contains(resp.Body, "abcd efgh") {
			t.Fatalf("%s: response contains the app password", s.event)
		}
		if resp.StatusCode != 204 && resp.Headers["Content-Type"] != "application/json" {
			t.Fatalf("%s: content type %q", s.event, resp.Headers["Content-Type"])
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	api := newAPI(t)
	create := api.CreateIntegration()
	tests := []struct {
		name, body, field, contains string
	}{
		{"syntax", "{\n  \"site_id\": \"s\",\n  \"platform\" \"wordpress\"\n}", "body", "line 3, column"},
		{"truncated", `{"site_id": "s"`, "body", "unexpected end"},
		{"unknown field", `{"site_id":"s","platform":"openai","extra":1}`, "extra", "unknown field"},
		{"wrong type", `{"site_id":7,"platform":"openai"}`, "site_id", "must be a string"},
		{"wrong nested type", `{"site_id":"s","platform":"openai","config":[1]}`, "config", "must be an object"},
		{"not an object", `[1,2]`, "body", "JSON object"},
		{"two objects", `{"site_id":"s","platform":"openai"} {}`, "body", "single JSON object"},
		{"empty", ``, "body", "required"},
		{"credential not a string", `{"site_id":"s","platform":"openai","credentials":{"api_key":123}}`, "credentials.api_key", "must be a string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := loadEvent(t, "integrations-create.json")
			ev.Body = tt.body
			resp, err := create(context.Background(), ev)
			if err != nil {
				t.Fatal(err)
			}
			var got struct {
				Error struct {
					Code   string            `json:"code"`
					Fields map[string]string `json:"fields"`
				} `json:"error"`
			}
			if err := json.Unmarshal([]byte(resp.Body), &got); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != 400 || got.Error.Code != "invalid" || !strings.Contains(got.Error.Fields[tt.field], tt.contains) {
				t.Fatalf("status %d body %s; want field %q containing %q", resp.StatusCode, resp.Body, tt.field, tt.contains)
			}
		})
	}
}

func TestAuthClaims(t *testing.T) {
	api := newAPI(t)
	get := api.ListIntegrations()
	tests := []struct {
		name   string
		claims map[string]string
		status int
	}{
		{"no authorizer", nil, 401},
		{"no account", map[string]string{"role": "owner"}, 401},
		{"bad account", map[string]string{"account_id": "a b", "role": "owner"}, 401},
		{"no role", map[string]string{"account_id": "a"}, 403},
		{"viewer", map[string]string{"account_id": "a", "role": "viewer"}, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := loadEvent(t, "integrations-list.json")
			ev.RequestContext.Authorizer = nil
			if tt.claims != nil {
				ev.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
					JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: tt.claims}}
			}
			resp, _ := get(context.Background(), ev)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, resp.Body)
			}
		})
	}
	custom := &apigw.API{Service: api.Service, Claims: apigw.ClaimNames{Account: "custom:tenant", Role: "custom:role"}}
	ev := loadEvent(t, "integrations-list.json")
	ev.RequestContext.Authorizer.JWT.Claims = map[string]string{"custom:tenant": "t1", "custom:role": "admin"}
	if resp, _ := custom.ListIntegrations()(context.Background(), ev); resp.StatusCode != 200 {
		t.Fatalf("configured claim names: %d %s", resp.StatusCode, resp.Body)
	}
}

func TestInternalErrorsAreOpaque(t *testing.T) {
	api := newAPI(t)
	api.Service.Store = brokenStore{api.Service.Store}
	resp, _ := api.GetIntegration()(context.Background(), loadEvent(t, "integrations-get.json"))
	if resp.StatusCode != 500 || resp.Body != `{"error":{"code":"internal","message":"Internal error."}}` {
		t.Fatalf("got %d %s", resp.StatusCode, resp.Body)
	}
}

type brokenStore struct{ integration.Store }

func (brokenStore) GetIntegration(context.Context, string, string) (*integration.Integration, error) {
	return nil, io.ErrUnexpectedEOF
}

type fakeTester struct{ calls int }

func (f *fakeTester) TestConnection(_ context.Context, c connector.Connection) (connector.TestResult, error) {
	f.calls++
	if c.Credentials["app_password"] == "" {
		return connector.TestResult{OK: false, Message: "no password"}, nil
	}
	return connector.TestResult{OK: true, Message: "Connected.", Details: map[string]any{"roles": []string{"administrator"}}}, nil
}

func TestSampleEventTestConnection(t *testing.T) {
	api := newAPI(t)
	if resp, _ := api.CreateIntegration()(context.Background(), loadEvent(t, "integrations-create.json")); resp.StatusCode != 201 {
		t.Fatalf("create: %d %s", resp.StatusCode, resp.Body)
	}
	fake := &fakeTester{}
	conn := &apigw.ConnectionAPI{API: api, Tester: &connector.Tester{Integrations: api.Service, Connectors: map[string]connector.ConnectionTester{"wordpress": fake}}}
	resp, err := conn.TestConnection()(context.Background(), loadEvent(t, "integrations-test-connection.json"))
	if err != nil || resp.StatusCode != 200 || !strings.Contains(resp.Body, `"ok":true`) || fake.calls != 1 {
		t.Fatalf("test_connection: %d %s %v", resp.StatusCode, resp.Body, err)
	}
	get, _ := api.GetIntegration()(context.Background(), loadEvent(t, "integrations-get.json"))
	if !strings.Contains(get.Body, `"connection_status":"connected"`) || !strings.Contains(get.Body, `"connection_message":"Connected."`) {
		t.Fatalf("outcome not stored: %s", get.Body)
	}
	ev := loadEvent(t, "integrations-test-connection.json")
	ev.RequestContext.Authorizer.JWT.Claims["role"] = "viewer"
	if resp, _ := conn.TestConnection()(context.Background(), ev); resp.StatusCode != 403 {
		t.Fatalf("viewer: %d", resp.StatusCode)
	}
}
