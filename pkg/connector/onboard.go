package connector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/joinery/joinery/pkg/integration"
)

// Onboarding connects a site's WordPress through its plugin, authenticated
// by a site key instead of a logged-in user.
type Onboarding struct {
	Integrations *integration.Service
	Tester       *Tester
	// WebhookURL is the base the site's plugin posts its webhooks to
	// (JOINERY_WEBHOOK_URL_WORDPRESS; locally the runner's public URL);
	// "": no webhook URL is answered.
	WebhookURL string
}

// OnboardInput is what the plugin sends.
type OnboardInput struct {
	SiteURL     string
	Username    string
	AppPassword string
	// RotateWebhookSecret replaces the webhook secret a reconnect
	// otherwise keeps.
	RotateWebhookSecret bool
}

// OnboardResult says which integration now holds the credentials.
type OnboardResult struct {
	IntegrationID string
	Created       bool
	Test          TestResult
	// WebhookURL and WebhookSecret are what the plugin signs and posts its
	// webhooks with.
	WebhookURL    string
	WebhookSecret string
}

const onboardPlatform = "wordpress"

// Connect tests the credentials first and stores them only if the test
// passes: a site without a WordPress integration gets one, a site with one
// gets the new URL and credentials. A failed test is EUNPROCESSABLE with
// the test's message and changes nothing — a wrong password never breaks
// or removes a working integration, and nothing is left behind.
//
// actor and key come from AuthenticateSiteKey.
func (o *Onboarding) Connect(ctx context.Context, actor integration.Actor, key *integration.SiteKey, in OnboardInput) (OnboardResult, error) {
	if err := o.Integrations.Allow(ctx, "onboard#"+key.ID, integration.OnboardAttemptsPerMinute, time.Minute); err != nil {
		return OnboardResult{}, err
	}
	creds := map[string]string{"username": in.Username, "app_password": in.AppPassword}
	if fields := o.Integrations.CheckConnectionInput(onboardPlatform, in.SiteURL, creds); fields != nil {
		// Name the fields as the request does; the URL also by the
		// integration's field it sets.
		named := make(map[string]string, len(fields))
		for k, v := range fields {
			k = strings.TrimPrefix(k, "credentials.")
			if k == "external_site_url" {
				named["site_url"] = v
			}
			named[k] = v
		}
		return OnboardResult{}, integration.Invalid(named)
	}
	existing, err := o.Integrations.Find(ctx, actor, key.SiteID, onboardPlatform)
	if err != nil && integration.ErrorCode(err) != integration.ENOTFOUND {
		return OnboardResult{}, err
	}
	var config map[string]any
	if existing != nil {
		// Refused before the new host is called with the credentials.
		if integration.MovesHost(existing.ExternalSiteURL, in.SiteURL) {
			return OnboardResult{}, integration.ErrMovesHost
		}
		config = existing.Config
	}
	res, err := o.Tester.RunWith(ctx, onboardPlatform, Connection{SiteURL: in.SiteURL, Config: config, Credentials: creds})
	if err != nil {
		return OnboardResult{}, err
	}
	if !res.OK {
		return OnboardResult{}, integration.Errorf(integration.EUNPROCESSABLE, "%s", res.Message)
	}

	// A reconnect keeps the site's webhook secret unless asked to rotate
	// it; the plugin is given it again either way.
	secret := ""
	if existing != nil && !in.RotateWebhookSecret {
		if secret, err = o.Integrations.WebhookSecret(ctx, existing); err != nil {
			return OnboardResult{}, err
		}
	}
	if secret == "" {
		secret = integration.NewWebhookSecret()
	}
	created := false
	var it *integration.Integration
	if existing == nil {
		it, err = o.Integrations.Create(ctx, actor, integration.CreateInput{SiteID: key.SiteID, Platform: onboardPlatform, ExternalSiteURL: in.SiteURL, Credentials: creds, WebhookSecret: secret})
		created = err == nil
		if integration.ErrorCode(err) == integration.ECONFLICT {
			// Another onboarding of the same site won the race: update it.
			existing, err = o.Integrations.Find(ctx, actor, key.SiteID, onboardPlatform)
		}
		if err != nil {
			return OnboardResult{}, err
		}
	}
	if it == nil {
		it, err = o.Integrations.Update(ctx, actor, existing.ID, integration.PatchInput{ExternalSiteURL: &in.SiteURL, Credentials: creds, CredentialsSet: true, WebhookSecret: secret})
		if err != nil {
			return OnboardResult{}, err
		}
	}
	if err := o.Integrations.RecordConnection(ctx, actor, it.ID, res.Status, res.Message, o.Tester.now()); err != nil {
		return OnboardResult{}, err
	}
	// The plugin's deliveries name the integration in their path.
	if err := o.Integrations.Store.PutWebhookRoute(ctx, integration.WebhookRoute{Platform: onboardPlatform, Key: it.ID, AccountID: it.AccountID, IntegrationID: it.ID}); err != nil {
		return OnboardResult{}, err
	}
	return OnboardResult{IntegrationID: it.ID, Created: created, Test: res, WebhookURL: WebhookURL(o.WebhookURL, onboardPlatform, it.ID), WebhookSecret: secret}, nil
}

// WebhookURL is the URL a platform posts an integration's webhooks to:
// base/webhooks/<platform>[/<hook id>]; "" without a base.
func WebhookURL(base, platform, hookID string) string {
	if base == "" {
		return ""
	}
	u := strings.TrimSuffix(base, "/") + "/webhooks/" + platform
	if hookID != "" {
		u += "/" + hookID
	}
	return u
}

// PushedStructure is what a site's plugin reports about its site.
type PushedStructure struct {
	Structure
	PluginVersion string
}

// maxStructureItems bounds what a plugin may push; a real site has tens.
const maxStructureItems = 500

// UpdateStructure stores the structure a site's plugin pushes in the
// integration's content types, with the time it arrived.
// actor and key come from AuthenticateSiteKey.
func (o *Onboarding) UpdateStructure(ctx context.Context, actor integration.Actor, key *integration.SiteKey, id string, in PushedStructure) (*integration.Integration, error) {
	if err := o.Integrations.Allow(ctx, "structure#"+key.ID, integration.StructurePushesPerMinute, time.Minute); err != nil {
		return nil, err
	}
	fields := map[string]string{}
	if in.ContentTypes == nil {
		fields["post_types"] = "required: an array of post types"
	}
	if in.Taxonomies == nil {
		fields["taxonomies"] = "required: an array of taxonomies"
	}
	if len(in.ContentTypes) > maxStructureItems {
		fields["post_types"] = fmt.Sprintf("must have at most %d items", maxStructureItems)
	}
	if len(in.Taxonomies) > maxStructureItems {
		fields["taxonomies"] = fmt.Sprintf("must have at most %d items", maxStructureItems)
	}
	for i, t := range in.ContentTypes {
		if strings.TrimSpace(t.Name) == "" {
			fields[fmt.Sprintf("post_types[%d].name", i)] = "required"
		}
	}
	for i, t := range in.Taxonomies {
		if strings.TrimSpace(t.Name) == "" {
			fields[fmt.Sprintf("taxonomies[%d].name", i)] = "required"
		}
	}
	if len(in.PluginVersion) > 64 {
		fields["plugin_version"] = "must be at most 64 characters"
	}
	if len(fields) > 0 {
		return nil, integration.Invalid(fields)
	}
	stored, err := StoredStructure(in.Structure, "plugin", in.PluginVersion, o.Tester.now())
	if err != nil {
		return nil, err
	}
	return o.Integrations.Update(ctx, actor, id, integration.PatchInput{ContentTypes: stored})
}

// StoredStructure is a structure as kept in an integration's content types.
func StoredStructure(s Structure, source, pluginVersion string, at time.Time) (map[string]any, error) {
	if s.ContentTypes == nil {
		s.ContentTypes = []ContentType{}
	}
	if s.Taxonomies == nil {
		s.Taxonomies = []Taxonomy{}
	}
	b, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	m["source"] = source
	m["updated_at"] = at.UTC().Format(time.RFC3339)
	if pluginVersion != "" {
		m["plugin_version"] = pluginVersion
	}
	return m, nil
}

// StructureReader is the part of a Connector that describes a platform.
type StructureReader interface {
	Structure(ctx context.Context, c Connection) (Structure, error)
}

// ContentTypes returns an integration's structure: the one stored in its
// content types (pushed by the plugin, or saved by a metadata sync), or, when none
// is stored, the one read from the platform now (not stored).
func (t *Tester) ContentTypes(ctx context.Context, actor integration.Actor, id string) (map[string]any, error) {
	it, err := t.Integrations.Get(ctx, actor, id)
	if err != nil {
		return nil, err
	}
	if stored := it.ContentTypes; stored != nil {
		return stored, nil
	}
	c, ok := t.Connectors[it.Platform].(StructureReader)
	if !ok {
		return nil, integration.Errorf(integration.EUNPROCESSABLE, "Content types are not available for %s yet.", it.Platform)
	}
	if !it.Credentials.HasCredentials() {
		return nil, integration.Errorf(integration.EUNPROCESSABLE, "No structure is stored and the integration has no credentials to read it with; set them first.")
	}
	creds, err := t.Integrations.Credentials(ctx, it)
	if err != nil {
		return nil, err
	}
	s, err := c.Structure(ctx, Connection{SiteURL: it.ExternalSiteURL, Config: it.Config, Credentials: creds, HTTP: t.HTTP})
	if err != nil {
		return nil, integration.Errorf(integration.EUNPROCESSABLE, "Could not read the content types from %s: %s", it.Platform, safeMessage(err))
	}
	return StoredStructure(s, "platform", "", t.now())
}

// safeMessage is a connector error's message, which names no credentials;
// anything else is summarised.
func safeMessage(err error) string {
	var ce *Error
	if errors.As(err, &ce) {
		return ce.Message
	}
	return "the request failed"
}
