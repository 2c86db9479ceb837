package integration

import "reflect"

// writeKind says which attributes a write may change. Every write moves
// the integration's Rev; only a user edit that changes something moves its
// Version (and so its ETag), so a sync, connection test or scheduler run
// between a user's GET and PATCH does not make the PATCH's If-Match stale.
type writeKind int

const (
	// userEdit changes what users set: site URL, config, credentials,
	// is_active and the sync settings.
	userEdit writeKind = iota
	// statusWrite records where syncs and connections stand and when the
	// next sync is due.
	statusWrite
	// tokenRefresh points the integration at a refreshed version of its
	// credentials, and records the grant's facts the refresh gave: the
	// platform's doing, not the user's.
	tokenRefresh
	// oauthGrant records what an OAuth authorization brought (oauth.go):
	// the platform's doing, not an edit.
	oauthGrant
)

// keep returns cur with only the attributes of kind taken from next, so a
// write never carries other attributes along.
func (k writeKind) keep(cur, next *Integration) *Integration {
	out := *cur
	switch k {
	case userEdit:
		out.ExternalSiteURL, out.Config, out.Credentials = next.ExternalSiteURL, next.Config, next.Credentials
		out.IsActive, out.SyncEnabled, out.SyncIntervalMinutes = next.IsActive, next.SyncEnabled, next.SyncIntervalMinutes
		out.NextSyncAt = next.NextSyncAt
		// The site's structure comes through the same update as an edit
		// (update_structure, a metadata run) but is the platform's, not the
		// user's: kept here, and not counted by edited.
		out.ContentTypes = next.ContentTypes
	case statusWrite:
		out.SyncStatus, out.LastSyncAt, out.SyncError = next.SyncStatus, next.LastSyncAt, next.SyncError
		out.ConnectionStatus, out.ConnectionMessage, out.ConnectionCheckedAt = next.ConnectionStatus, next.ConnectionMessage, next.ConnectionCheckedAt
		out.NextSyncAt = next.NextSyncAt
	case tokenRefresh:
		out.Credentials, out.OAuth = next.Credentials, next.OAuth
	case oauthGrant:
		out.Credentials, out.OAuth, out.Config = next.Credentials, next.OAuth, next.Config
		out.ConnectionStatus, out.ConnectionMessage, out.ConnectionCheckedAt = next.ConnectionStatus, next.ConnectionMessage, next.ConnectionCheckedAt
	}
	return &out
}

// edited reports whether next differs from cur in anything a user sets.
func edited(cur, next *Integration) bool {
	return cur.ExternalSiteURL != next.ExternalSiteURL ||
		cur.IsActive != next.IsActive || cur.SyncEnabled != next.SyncEnabled ||
		cur.SyncIntervalMinutes != next.SyncIntervalMinutes ||
		!reflect.DeepEqual(cur.Credentials, next.Credentials) ||
		!sameConfig(cur.Config, next.Config)
}

// sameConfig compares configs, an empty one equal to none. Content types
// an earlier release kept in config are lifted out on every read
// (LiftContentTypes), so they never count here.
func sameConfig(a, b map[string]any) bool {
	return len(a) == 0 && len(b) == 0 || reflect.DeepEqual(a, b)
}
