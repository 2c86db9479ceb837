package apigw_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/integration"
)

// An integration an OAuth grant connected shows the grant's facts under
// "oauth", never its tokens, and its version does not move.
func TestIntegrationShowsItsOAuthGrant(t *testing.T) {
	api := newAPI(t)
	ctx := context.Background()
	created, _ := api.CreateIntegration()(ctx, loadEvent(t, "integrations-create.json"))
	if created.StatusCode != 201 || strings.Contains(created.Body, `"oauth"`) {
		t.Fatalf("create: %d %s", created.StatusCode, created.Body)
	}
	var it struct {
		ID      string `json:"id"`
		Account string `json:"account_id"`
		Version int64  `json:"version"`
	}
	if err := json.Unmarshal([]byte(created.Body), &it); err != nil {
		t.Fatal(err)
	}
	exp := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	actor := integration.Actor{Subject: "joinery:oauth", AccountID: it.Account, Role: integration.RoleOwner}
	_, err := api.Service.RecordOAuthGrant(ctx, actor, it.ID, integration.OAuthGrant{
		Tokens: map[string]string{"access_token": "tok-do-not-show", "refresh_token": "refresh-do-not-show"},
		Info: &integration.OAuthInfo{Scopes: []string{"chat:write"}, ExpiresAt: &exp, ExternalAccountID: "T1", ExternalAccountName: "Acme",
			Sites: []integration.OAuthSite{{ID: "c1", URL: "https://a.example", Name: "A"}}},
		Status: integration.ConnectionConnected, At: exp.Add(-time.Hour),
	})
	if err != nil {
		t.Fatal(err)
	}
	get, _ := api.GetIntegration()(ctx, loadEvent(t, "integrations-get.json"))
	var got struct {
		HasCredentials bool            `json:"has_credentials"`
		Version        int64           `json:"version"`
		OAuth          json.RawMessage `json:"oauth"`
	}
	if err := json.Unmarshal([]byte(get.Body), &got); err != nil {
		t.Fatal(err)
	}
	want := `{"scopes":["chat:write"],"expires_at":"2026-07-01T12:00:00Z","external_account_id":"T1","external_account_name":"Acme","sites":[{"id":"c1","url":"https://a.example","name":"A"}]}`
	if string(got.OAuth) != want || !got.HasCredentials || got.Version != it.Version {
		t.Fatalf("got %s", get.Body)
	}
	if strings.Contains(get.Body, "do-not-show") {
		t.Fatalf("a token in the response: %s", get.Body)
	}
}
