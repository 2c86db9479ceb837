package oauth

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/fakeplatforms"
	"github.com/joinery/joinery/pkg/integration"
)

func integrationPatchCloudID(id string) integration.PatchInput {
	return integration.PatchInput{ConfigPatch: map[string]any{"cloud_id": id}}
}

// availableCatalog is the real catalog, URLs and all, with every platform
// available.
func availableCatalog(t *testing.T) *connector.Catalog {
	t.Helper()
	raw, err := os.ReadFile("../connector/catalog.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	for _, e := range doc["platforms"].([]any) {
		e.(map[string]any)["available"] = true
	}
	raw, _ = json.Marshal(doc)
	c, err := connector.ParseCatalog(raw)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var appOf = map[string][2]string{
	"google_calendar": {"g-client", "g-secret"}, "slack": {"s-client", "s-secret"}, "jira": {"j-client", "j-secret"},
	"tiktok": {"t-client", "t-secret"}, "shopify": {"sh-client", "sh-secret"},
}

// withFake is a harness whose platform is the platform's fake.
func withFake(t *testing.T, platform string) (*harness, *fakeplatforms.Server) {
	var h *harness
	fake := fakeplatforms.Start(t, platform, fakeplatforms.Options{
		ClientID: appOf[platform][0], ClientSecret: appOf[platform][1], Shop: "acme",
		Now:         func() time.Time { return h.now },
		RedirectURI: "https://api.joinery.test/v1/oauth/" + platform + "/callback",
	})
	h = newHarnessOn(t, availableCatalog(t), fake.Client(), nil)
	return h, fake
}

// through consents at the fake and hands its redirect to the callback.
func (h *harness) through(fake *fakeplatforms.Server, platform, id string) url.Values {
	h.t.Helper()
	cb, err := fake.Consent(h.authorize(id).String())
	if err != nil {
		h.t.Fatalf("consent: %v", err)
	}
	u, err := url.Parse(cb)
	if err != nil || u.Scheme+"://"+u.Host+u.Path != h.flow.RedirectURI(platform) {
		h.t.Fatalf("the platform redirected to %q", cb)
	}
	return h.callback(platform, u.Query())
}

// Against each platform's fake, which checks every parameter as the
// platform does: authorize, consent, callback, connected; a denied consent
// and a failed exchange end in status=error.
func TestConnectFlowAgainstEachPlatformsFake(t *testing.T) {
	for _, platform := range oauthPlatforms {
		t.Run(platform, func(t *testing.T) {
			h, fake := withFake(t, platform)
			it := h.create(platform, siteURLOf(platform))
			back := h.through(fake, platform, it.ID)
			if back.Get("status") != "connected" || back.Get("integration_id") != it.ID {
				t.Fatalf("back with %v", back)
			}
			got := h.get(it.ID)
			ts, err := ParseTokenSet(h.secret(got))
			if err != nil || !fake.Valid(ts.AccessToken) || got.OAuth == nil || got.OAuth.ExternalAccountID == "" || got.Version != it.Version {
				t.Fatalf("after connecting: %+v, oauth %+v, %v", got, got.OAuth, err)
			}
			if platform != "slack" && ts.RefreshToken == "" {
				t.Fatal("no refresh token stored")
			}
			if platform == "shopify" && ts.ExpiresAt.Sub(h.now) > 3600e9 {
				t.Fatalf("Shopify token not an expiring one: expires %v", ts.ExpiresAt)
			}

			fake.DenyNext()
			if back := h.through(fake, platform, it.ID); back.Get("status") != "error" || back.Get("error") != "access_denied" {
				t.Fatalf("denied: %v", back)
			}
			fake.FailToken(http.StatusServiceUnavailable, 1)
			if back := h.through(fake, platform, it.ID); back.Get("status") != "error" || back.Get("error") != "exchange_failed" {
				t.Fatalf("failed exchange: %v", back)
			}
			// The working grant stays in force through both.
			if now := h.get(it.ID); now.ConnectionStatus != "connected" || now.Credentials.VersionID != got.Credentials.VersionID {
				t.Fatalf("after failures: %s %+v", now.ConnectionStatus, now.Credentials)
			}
			if h.through(fake, platform, it.ID).Get("status") != "connected" {
				t.Fatal("reauthorizing failed")
			}
		})
	}
}

func TestJiraSitesAgainstTheFake(t *testing.T) {
	h, fake := withFake(t, "jira")
	fake.Accounts(fakeplatforms.Account{ID: "c-1", Name: "one", URL: "https://one.atlassian.net"},
		fakeplatforms.Account{ID: "c-2", Name: "two", URL: "https://two.atlassian.net"})
	it := h.create("jira", "")
	if back := h.through(fake, "jira", it.ID); back.Get("status") != "action_required" {
		t.Fatalf("back with %v", back)
	}
	got := h.get(it.ID)
	if len(got.OAuth.Sites) != 2 || got.OAuth.Sites[0].URL != "https://one.atlassian.net" {
		t.Fatalf("sites %+v", got.OAuth.Sites)
	}
	upd, err := h.svc.Update(context.Background(), h.actor, it.ID, integrationPatchCloudID("c-2"))
	if err != nil || upd.ConnectionStatus != "connected" || !strings.EqualFold(upd.OAuth.ExternalAccountName, "two") {
		t.Fatalf("choosing a site: %+v %v", upd, err)
	}
}

// A freshly connected grant of a platform that lets unused grants lapse
// (catalog keepalive_days) is due a renewal then, in the scheduler's due
// index even though it never syncs; a platform without one is not.
func TestConnectedGrantIsDueItsRenewal(t *testing.T) {
	for _, platform := range []string{"jira", "shopify", "google_calendar"} {
		t.Run(platform, func(t *testing.T) {
			h, fake := withFake(t, platform)
			it := h.create(platform, siteURLOf(platform))
			if back := h.through(fake, platform, it.ID); back.Get("status") != "connected" && back.Get("status") != "action_required" {
				t.Fatalf("back with %v", back)
			}
			got := h.get(it.ID)
			ctx := context.Background()
			e, _ := h.flow.Catalog.Entry(platform)
			if e.OAuth.KeepaliveDays == 0 {
				if got.OAuth.RenewAt != nil {
					t.Fatalf("renew_at %v for a platform with no keepalive", got.OAuth.RenewAt)
				}
				return
			}
			want := h.now.Add(time.Duration(e.OAuth.KeepaliveDays) * 24 * time.Hour)
			if got.OAuth.RenewAt == nil || !got.OAuth.RenewAt.Equal(want) {
				t.Fatalf("renew_at %v, want %v", got.OAuth.RenewAt, want)
			}
			dueAt := func(at time.Time) []*integration.Integration {
				var out []*integration.Integration
				for _, shard := range h.svc.DueShards() {
					its, _, err := h.svc.DuePage(ctx, shard, at, 10, "")
					if err != nil {
						t.Fatal(err)
					}
					out = append(out, its...)
				}
				return out
			}
			if due := dueAt(want.Add(-time.Minute)); len(due) != 0 {
				t.Fatalf("due before the renewal: %d", len(due))
			}
			if due := dueAt(want); len(due) != 1 || due[0].ID != it.ID {
				t.Fatalf("due at the renewal: %+v", due)
			}
		})
	}
}
