package apigw_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/joinery/joinery/pkg/apigw"
	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/integration"
)

type appsDoc map[string]map[string]string

func (d appsDoc) App(_ context.Context, platform string) (map[string]string, error) {
	if v, ok := d[platform]; ok {
		return v, nil
	}
	return nil, integration.Errorf(integration.EUNPROCESSABLE, "not configured")
}

// GET /v1/platforms lists every platform's public part, with whether it
// can be connected here, and never an app credential.
func TestListPlatforms(t *testing.T) {
	api := newAPI(t)
	catalog := connector.NewCatalog()
	secret := "s3cr3t-value"
	p := &apigw.PlatformsAPI{API: api, Catalog: catalog,
		Apps: appsDoc{"slack": {"client_id": "111.222", "client_secret": secret, "signing_secret": secret}, "openai": {"api_key": secret}}}
	resp, err := p.ListPlatforms()(context.Background(), loadEvent(t, "platforms-list.json"))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("%d %s %v", resp.StatusCode, resp.Body, err)
	}
	if strings.Contains(resp.Body, secret) || strings.Contains(resp.Body, "111.222") {
		t.Fatalf("an app credential in the listing: %s", resp.Body)
	}
	var got struct {
		Items []struct {
			Name          string
			Display       string `json:"display_name"`
			Reason        string `json:"unavailable_reason"`
			Available     bool
			AppConfigured *bool `json:"app_configured"`
			Credentials   []struct{ Name string }
			Config        []struct{ Name, Type string }
			Scopes        []string
		}
	}
	if err := json.Unmarshal([]byte(resp.Body), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Items) != len(catalog.Names()) {
		t.Fatalf("%d platforms listed, want %d", len(got.Items), len(catalog.Names()))
	}
	by := map[string]int{}
	for i, it := range got.Items {
		by[it.Name] = i
	}
	for name, want := range map[string]struct {
		available bool
		reason    string
	}{
		"wordpress": {true, ""}, "trello": {true, ""}, "openai": {true, ""}, "anthropic": {true, ""},
		"slack": {true, ""}, "shopify": {false, "not_configured"}, "tiktok": {false, "not_configured"},
		"google_calendar": {false, "not_configured"}, "jira": {false, "not_configured"},
	} {
		it := got.Items[by[name]]
		if it.Available != want.available || it.Reason != want.reason {
			t.Errorf("%s: available %v (%q), want %v (%q)", name, it.Available, it.Reason, want.available, want.reason)
		}
	}
	if it := got.Items[by["tiktok"]]; it.Display != "TikTok Business Messaging" || len(it.Scopes) == 0 {
		t.Errorf("tiktok: %+v", it)
	}
	if it := got.Items[by["wordpress"]]; len(it.Credentials) != 2 || len(it.Config) == 0 || it.AppConfigured != nil {
		t.Errorf("wordpress: %+v", it)
	}
	if c := got.Items[by["openai"]].AppConfigured; c == nil || !*c {
		t.Errorf("openai: the deployment's own key not reported")
	}
	if c := got.Items[by["anthropic"]].AppConfigured; c == nil || *c {
		t.Errorf("anthropic: reported configured without a key")
	}
	if c := got.Items[by["slack"]].AppConfigured; c == nil || !*c {
		t.Errorf("slack: app credentials not reported")
	}

	// A platform this build connects but whose app credentials are
	// missing is not available here.
	p.Catalog = availableCatalog(t, "google_calendar", "slack")
	resp, _ = p.ListPlatforms()(context.Background(), loadEvent(t, "platforms-list.json"))
	got.Items = nil
	_ = json.Unmarshal([]byte(resp.Body), &got)
	if it := got.Items[by["google_calendar"]]; it.Available || it.Reason != "not_configured" {
		t.Errorf("google_calendar without app credentials: %+v", it)
	}
	if it := got.Items[by["slack"]]; !it.Available || it.Reason != "" {
		t.Errorf("slack with app credentials: %+v", it)
	}

	// A platform this build cannot connect says so, configured or not.
	p.Catalog = availableCatalog(t)
	for _, name := range []string{"slack", "jira"} {
		p.Catalog = withoutPlatform(t, p.Catalog, name)
	}
	resp, _ = p.ListPlatforms()(context.Background(), loadEvent(t, "platforms-list.json"))
	got.Items = nil
	_ = json.Unmarshal([]byte(resp.Body), &got)
	for _, name := range []string{"slack", "jira"} {
		if it := got.Items[by[name]]; it.Available || it.Reason != "not_available_yet" {
			t.Errorf("%s on a build that cannot connect it: %+v", name, it)
		}
	}
	p.Catalog = catalog

	// A broken apps document does not break the listing: nothing counts
	// as configured (the fault is logged, naming platform and field).
	p.Apps = brokenApps{}
	resp, _ = p.ListPlatforms()(context.Background(), loadEvent(t, "platforms-list.json"))
	got.Items = nil
	_ = json.Unmarshal([]byte(resp.Body), &got)
	if it := got.Items[by["slack"]]; resp.StatusCode != 200 || it.Available || it.Reason != "not_configured" || *it.AppConfigured {
		t.Errorf("with a broken apps document: %d %+v", resp.StatusCode, it)
	}
	if it := got.Items[by["wordpress"]]; !it.Available {
		t.Errorf("wordpress unavailable with a broken apps document")
	}

	// Viewers and up only.
	ev := loadEvent(t, "platforms-list.json")
	ev.RequestContext.Authorizer.JWT.Claims["role"] = "nobody"
	if resp, _ := p.ListPlatforms()(context.Background(), ev); resp.StatusCode != 403 && resp.StatusCode != 401 {
		t.Errorf("no role: %d", resp.StatusCode)
	}
}

type brokenApps struct{}

func (brokenApps) App(context.Context, string) (map[string]string, error) {
	return nil, errors.New("app credentials: slack.client_secret: required")
}

func availableCatalog(t *testing.T, names ...string) *connector.Catalog {
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
		for _, n := range names {
			if n == name {
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

// withoutPlatform is c with the named platform not available.
func withoutPlatform(t *testing.T, c *connector.Catalog, name string) *connector.Catalog {
	t.Helper()
	var file struct {
		Platforms []map[string]any `json:"platforms"`
	}
	for _, n := range c.Names() {
		e, _ := c.Entry(n)
		b, _ := json.Marshal(e)
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		if n == name {
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
