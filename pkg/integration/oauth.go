package integration

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// ConnectionActionRequired says the platform granted access but the user
// must still choose something (the Jira site of a grant covering several)
// before the integration can work.
const ConnectionActionRequired ConnectionStatus = "action_required"

// OAuthSite is one site an OAuth grant covers (an Atlassian accessible
// resource).
type OAuthSite struct{ ID, URL, Name string }

// OAuthInfo is what an integration shows of its OAuth grant: facts about
// the grant, never a token (the tokens live in its secret).
type OAuthInfo struct {
	Scopes    []string
	ExpiresAt *time.Time // the access token's expiry; nil: none given
	// ExternalAccountID names the platform account that granted access
	// (Slack team, TikTok open_id, Shopify shop, Google calendar); a
	// reauthorization must come from the same one.
	ExternalAccountID, ExternalAccountName string
	// Sites are the sites a grant covers where it can cover several.
	Sites []OAuthSite
	// RefreshedAt is the last successful refresh (keepalive).
	RefreshedAt *time.Time
	// RenewAt is when the refresh token, unused, is due a refresh to keep
	// the grant alive (the platform's keepalive_days after the last one);
	// nil: never. The scheduler's due index holds it beside NextSyncAt.
	RenewAt *time.Time
}

// Site returns the grant's site with the given id.
func (o *OAuthInfo) Site(id string) (OAuthSite, bool) {
	if o == nil {
		return OAuthSite{}, false
	}
	for _, s := range o.Sites {
		if s.ID == id {
			return s, true
		}
	}
	return OAuthSite{}, false
}

// OAuthSiteConfigKey is the config key naming which of a grant's sites
// the integration works on (Jira's cloud id).
const OAuthSiteConfigKey = "cloud_id"

// OAuthGrant is what an OAuth authorization brought an integration.
type OAuthGrant struct {
	// Tokens are the secret's values: stored as a new version the
	// integration points at.
	Tokens  map[string]string
	Info    *OAuthInfo
	Status  ConnectionStatus // connected or action_required
	Message string
	// Site, when set, becomes config[OAuthSiteConfigKey].
	Site string
	At   time.Time
	// Check, when set, is run on the integration as stored just before
	// the write (after any concurrent change); its error stops the write
	// before anything is stored.
	Check func(cur *Integration) error
}

// RecordOAuthGrant stores an authorization's tokens and facts and the
// connection status they give. It is not a user edit: the version and
// ETag stay as they are.
func (s *Service) RecordOAuthGrant(ctx context.Context, actor Actor, id string, g OAuthGrant) (*Integration, error) {
	if len(g.Tokens) == 0 {
		return nil, Invalid(map[string]string{"credentials": "required"})
	}
	return s.modify(ctx, actor, id, oauthGrant, func(cur *Integration, _ time.Time) (*Integration, error) {
		if g.Check != nil {
			if err := g.Check(cur); err != nil {
				return nil, err
			}
		}
		ref, err := s.putSecret(ctx, cur, g.Tokens)
		if err != nil {
			return nil, fmt.Errorf("store tokens of %s: %w", id, err)
		}
		next := *cur
		next.Credentials, next.OAuth = ref, g.Info
		next.ConnectionStatus, next.ConnectionMessage, next.ConnectionCheckedAt = g.Status, g.Message, &g.At
		if g.Site != "" {
			next.Config = maps.Clone(cur.Config)
			if next.Config == nil {
				next.Config = map[string]any{}
			}
			next.Config[OAuthSiteConfigKey] = g.Site
		}
		return &next, nil
	})
}

// RecordOAuthFailure stores why an authorization failed. A connection
// that works keeps its status: only the message tells of the failed
// attempt, since the stored grant still serves.
func (s *Service) RecordOAuthFailure(ctx context.Context, actor Actor, id, message string, at time.Time) error {
	_, err := s.modify(ctx, actor, id, statusWrite, func(cur *Integration, _ time.Time) (*Integration, error) {
		next := *cur
		if cur.ConnectionStatus != ConnectionConnected {
			next.ConnectionStatus = ConnectionError
		}
		next.ConnectionMessage, next.ConnectionCheckedAt = message, &at
		return &next, nil
	})
	return err
}

// checkOAuthSite: a grant covering several sites lets config's site key
// name only one of them.
func checkOAuthSite(fields map[string]string, cur *Integration, next map[string]any, changed []string) {
	if cur.OAuth == nil || len(cur.OAuth.Sites) == 0 || !slices.Contains(changed, OAuthSiteConfigKey) {
		return
	}
	v, set := next[OAuthSiteConfigKey]
	if !set || v == nil {
		return
	}
	id, _ := v.(string)
	if _, ok := cur.OAuth.Site(id); !ok {
		ids := make([]string, 0, len(cur.OAuth.Sites))
		for _, s := range cur.OAuth.Sites {
			ids = append(ids, s.ID)
		}
		fields["config."+OAuthSiteConfigKey] = "must be one of the sites the authorization covers: " + strings.Join(ids, ", ")
	}
}

// selectedOAuthSite follows the user's choice of one of the grant's
// sites: the grant's account becomes that site, and a connection waiting
// for the choice is connected.
func (s *Service) selectedOAuthSite(ctx context.Context, actor Actor, it *Integration) (*Integration, error) {
	pending := func(cur *Integration) (OAuthSite, bool) {
		id, _ := cur.Config[OAuthSiteConfigKey].(string)
		site, ok := cur.OAuth.Site(id)
		if !ok {
			return OAuthSite{}, false
		}
		return site, cur.ConnectionStatus == ConnectionActionRequired || cur.OAuth.ExternalAccountID != site.ID
	}
	if _, ok := pending(it); !ok {
		return it, nil
	}
	return s.modify(ctx, actor, it.ID, oauthGrant, func(cur *Integration, now time.Time) (*Integration, error) {
		site, ok := pending(cur)
		if !ok {
			return nil, nil
		}
		next := *cur
		info := *cur.OAuth
		info.ExternalAccountID, info.ExternalAccountName = site.ID, site.Name
		next.OAuth = &info
		if cur.ConnectionStatus == ConnectionActionRequired {
			next.ConnectionStatus, next.ConnectionMessage, next.ConnectionCheckedAt = ConnectionConnected, "", &now
		}
		return &next, nil
	})
}
