package integration_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/embedded"
	"github.com/joinery/joinery/pkg/integration"
)

// catalogWith is the built-in catalog with the named platforms available,
// as a later build will have them.
func catalogWith(t *testing.T, available ...string) integration.Catalog {
	t.Helper()
	c := connector.NewCatalog()
	var file struct {
		Platforms []map[string]any `json:"platforms"`
	}
	for _, name := range c.Names() {
		e, _ := c.Entry(name)
		b, _ := json.Marshal(e)
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		for _, a := range available {
			if a == name {
				m["available"] = true
			}
		}
		file.Platforms = append(file.Platforms, m)
	}
	b, _ := json.Marshal(file)
	out, err := connector.ParseCatalog(b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

type fakeApps map[string]map[string]string

func (f fakeApps) App(_ context.Context, platform string) (map[string]string, error) {
	if v, ok := f[platform]; ok {
		return v, nil
	}
	return nil, integration.Errorf(integration.EUNPROCESSABLE, "%s is not configured on this deployment.", platform)
}

func newService(t *testing.T, c integration.Catalog) (*integration.Service, *embedded.Store) {
	t.Helper()
	dir := t.TempDir()
	st, err := embedded.OpenStore(filepath.Join(dir, "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	sec, err := embedded.OpenSecrets(filepath.Join(dir, "secrets"))
	if err != nil {
		t.Fatal(err)
	}
	return &integration.Service{Store: st, Secrets: sec, Catalog: c, SyncData: st}, st
}

var editor = integration.Actor{Subject: "u", AccountID: "acct", Role: integration.RoleEditor}

func wantCode(t *testing.T, err error, code, msg string) {
	t.Helper()
	if integration.ErrorCode(err) != code || !strings.Contains(integration.ErrorMessage(err), msg) {
		t.Fatalf("got %v, want %s %q", err, code, msg)
	}
}

// unavailableCatalog is the built-in catalog with the named platforms not
// available, as a build that cannot connect them yet has them.
func unavailableCatalog(t *testing.T, names ...string) integration.Catalog {
	t.Helper()
	c := connector.NewCatalog()
	var file struct {
		Platforms []map[string]any `json:"platforms"`
	}
	for _, name := range c.Names() {
		e, _ := c.Entry(name)
		b, _ := json.Marshal(e)
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		if slices.Contains(names, name) {
			m["available"] = false
		}
		file.Platforms = append(file.Platforms, m)
	}
	b, _ := json.Marshal(file)
	out, err := connector.ParseCatalog(b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// A platform cannot be created on a build that cannot connect it, and
// nothing is written; an integration of it from before stays readable,
// changeable and deletable.
func TestCreateRefusesUnavailablePlatforms(t *testing.T) {
	ctx := context.Background()
	svc, st := newService(t, unavailableCatalog(t, "slack", "tiktok", "shopify", "google_calendar", "jira"))
	for platform, display := range map[string]string{"slack": "Slack", "tiktok": "TikTok Business Messaging", "shopify": "Shopify",
		"google_calendar": "Google Calendar", "jira": "Jira"} {
		_, err := svc.Create(ctx, editor, integration.CreateInput{SiteID: "s1", Platform: platform, ExternalSiteURL: "https://a.myshopify.com"})
		wantCode(t, err, integration.EUNPROCESSABLE, display+" is not available on this deployment yet")
	}
	page, err := svc.List(ctx, editor, "", "", 0, "")
	if err != nil || len(page.Items) != 0 {
		t.Fatalf("a refused create wrote %d integrations (%v)", len(page.Items), err)
	}
	for _, p := range []string{"wordpress", "trello", "openai", "anthropic"} {
		in := integration.CreateInput{SiteID: "s1", Platform: p, ExternalSiteURL: "https://blog.example.com"}
		if _, err := svc.Create(ctx, editor, in); err != nil {
			t.Errorf("create %s: %v", p, err)
		}
	}

	// A Shopify integration an earlier release made with an access token.
	now := time.Now().UTC()
	old := &integration.Integration{ID: "01OLDSHOP", AccountID: "acct", SiteID: "s2", Platform: "shopify", ExternalSiteURL: "https://a.myshopify.com",
		Config: map[string]any{}, IsActive: true, SyncStatus: integration.SyncIdle, ConnectionStatus: integration.ConnectionUnknown,
		CreatedAt: now, UpdatedAt: now, Version: 1}
	if err := st.CreateIntegration(ctx, old); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Get(ctx, editor, old.ID); err != nil {
		t.Fatalf("get: %v", err)
	}
	off := false
	if _, err := svc.Update(ctx, editor, old.ID, integration.PatchInput{IsActive: &off}); err != nil {
		t.Fatalf("update: %v", err)
	}
	if err := svc.Delete(ctx, editor, old.ID, nil); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := svc.Get(ctx, editor, old.ID); integration.ErrorCode(err) != integration.ENOTFOUND {
		t.Fatalf("after delete: %v", err)
	}
}

// A platform that needs app credentials is refused with a 422 while the
// deployment lacks them, never a 500, and created once it has them.
func TestCreateNeedsAppCredentials(t *testing.T) {
	ctx := context.Background()
	svc, _ := newService(t, catalogWith(t, "slack", "shopify"))
	_, err := svc.Create(ctx, editor, integration.CreateInput{SiteID: "s1", Platform: "slack"})
	wantCode(t, err, integration.EUNPROCESSABLE, "Slack is not configured on this deployment")
	svc.Apps = fakeApps{"google_calendar": {"client_id": "x"}}
	_, err = svc.Create(ctx, editor, integration.CreateInput{SiteID: "s1", Platform: "slack"})
	wantCode(t, err, integration.EUNPROCESSABLE, "slack is not configured")
	svc.Apps = fakeApps{"slack": {"client_id": "x", "client_secret": "y", "signing_secret": "z"}, "shopify": {"client_id": "x", "client_secret": "y"}}
	if _, err := svc.Create(ctx, editor, integration.CreateInput{SiteID: "s1", Platform: "slack"}); err != nil {
		t.Fatalf("create with app credentials: %v", err)
	}
	// The API-key platforms' own keys are optional: no apps needed.
	svc.Apps = nil
	if _, err := svc.Create(ctx, editor, integration.CreateInput{SiteID: "s1", Platform: "openai"}); err != nil {
		t.Fatalf("openai: %v", err)
	}

	// Shopify's site URL is a shop domain, kept lower-cased.
	svc.Apps = fakeApps{"shopify": {"client_id": "x", "client_secret": "y"}}
	it, err := svc.Create(ctx, editor, integration.CreateInput{SiteID: "s2", Platform: "shopify", ExternalSiteURL: "https://My-Shop.myshopify.com"})
	if err != nil || it.ExternalSiteURL != "https://my-shop.myshopify.com" {
		t.Fatalf("shopify: %+v %v", it, err)
	}
	_, err = svc.Create(ctx, editor, integration.CreateInput{SiteID: "s3", Platform: "shopify", ExternalSiteURL: "https://shop.example.com"})
	if f := integration.ErrorFields(err); !strings.Contains(f["external_site_url"], "myshopify") {
		t.Fatalf("a shop outside myshopify.com: %v", err)
	}
}

// Declared config keys must have their declared shape; others are refused.
func TestConfigKeysFollowTheCatalog(t *testing.T) {
	ctx := context.Background()
	svc, _ := newService(t, connector.NewCatalog())
	create := func(site string, config map[string]any) error {
		_, err := svc.Create(ctx, editor, integration.CreateInput{SiteID: site, Platform: "wordpress", ExternalSiteURL: "https://blog.example.com", Config: config})
		return err
	}
	for _, c := range []struct {
		config map[string]any
		field  string
	}{
		{map[string]any{"max_concurrency": float64(33)}, "config.max_concurrency"},
		{map[string]any{"max_concurrency": 2.5}, "config.max_concurrency"},
		{map[string]any{"max_concurrency": "8"}, "config.max_concurrency"},
		{map[string]any{"conflict_policy": "mine"}, "config.conflict_policy"},
		{map[string]any{"content_types": "posts"}, "config.content_types"},
	} {
		err := create("bad", c.config)
		if _, ok := integration.ErrorFields(err)[c.field]; !ok {
			t.Errorf("%v: got %v, want a 400 naming %s", c.config, err, c.field)
		}
	}
	if err := create("s1", map[string]any{"max_concurrency": float64(8), "conflict_policy": "manual"}); err != nil {
		t.Fatal(err)
	}
	it, err := svc.Find(ctx, editor, "s1", "wordpress")
	if err != nil {
		t.Fatal(err)
	}
	_, err = svc.Update(ctx, editor, it.ID, integration.PatchInput{ConfigPatch: map[string]any{"conflict_policy": "theirs"}})
	if _, ok := integration.ErrorFields(err)["config.conflict_policy"]; !ok {
		t.Fatalf("patch: %v", err)
	}
	if _, err := svc.Update(ctx, editor, it.ID, integration.PatchInput{ConfigPatch: map[string]any{"max_concurrency": nil, "language": "pt-BR"}}); err != nil {
		t.Fatalf("patch removing a key: %v", err)
	}
}
