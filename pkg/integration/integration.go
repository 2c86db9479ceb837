// Package integration is Joinery's domain: integrations between a tenant's site
// and a third-party platform, their credentials (by reference only), and the
// services that manage them. It imports nothing of AWS, HTTP or JSON requests;
// adapters implement the ports it declares.
package integration

import (
	"context"
	"time"
)

// SyncStatus is where an integration's synchronisation stands.
type SyncStatus string

const (
	SyncIdle      SyncStatus = "idle"
	SyncPending   SyncStatus = "pending"
	SyncSyncing   SyncStatus = "syncing"
	SyncCompleted SyncStatus = "completed"
	SyncError     SyncStatus = "error"
)

// ConnectionStatus is the outcome of the last connection test or API call.
type ConnectionStatus string

const (
	ConnectionUnknown               ConnectionStatus = "unknown"
	ConnectionConnected             ConnectionStatus = "connected"
	ConnectionError                 ConnectionStatus = "error"
	ConnectionReauthorizationNeeded ConnectionStatus = "reauthorization_required"
)

// Integration connects one site of one account to one platform.
type Integration struct {
	ID              string
	AccountID       string
	SiteID          string
	Platform        string
	ExternalSiteURL string
	Config          map[string]any
	// ContentTypes is the site's structure as its plugin or the last
	// metadata sync reported it; kept outside Config as no user sets it.
	ContentTypes map[string]any

	// Credentials is a reference to the secret holding the credential values;
	// the values themselves never live on the integration.
	Credentials CredentialsRef

	IsActive            bool
	SyncEnabled         bool
	SyncIntervalMinutes int

	SyncStatus SyncStatus
	LastSyncAt *time.Time
	SyncError  string
	// NextSyncAt is when the scheduler next starts a run; nil unless the
	// integration is active and sync_enabled.
	NextSyncAt *time.Time

	ConnectionStatus    ConnectionStatus
	ConnectionMessage   string
	ConnectionCheckedAt *time.Time
	// OAuth describes the platform's grant of an OAuth integration; nil
	// until it is connected.
	OAuth *OAuthInfo

	// Emit is an event the write tells the host of, stored in the same
	// transaction (connection.go); it is not part of the integration.
	Emit *NotifyEvent

	CreatedAt time.Time
	UpdatedAt time.Time
	// Version counts only what users edit (the ETag); Rev counts every
	// write and is what stores condition on, so a sync or a connection
	// test never makes a user's If-Match stale, yet no write is lost.
	Version int64
	Rev     int64

	// DeletingSince is set while the integration is being deleted: it is
	// hidden from reads, and a repeated delete or a create of the same
	// (site, platform) finishes the cleanup.
	DeletingSince *time.Time
}

// CredentialsRef points at one version of the integration's secret.
type CredentialsRef struct {
	SecretName string
	VersionID  string
	Fields     []string // names of the fields that are set, sorted
}

// HasCredentials reports whether credentials are stored for the integration.
func (r CredentialsRef) HasCredentials() bool { return r.SecretName != "" && r.VersionID != "" }

// SecretRef identifies whose secret a credential set is; adapters derive the
// secret's name and tags from it.
type SecretRef struct {
	AccountID     string
	IntegrationID string
	SiteID        string
	Platform      string
}

// SecretVersion is one stored version of an integration's secret.
type SecretVersion struct {
	Name      string
	VersionID string
}

// ListQuery selects integrations of one account.
type ListQuery struct {
	AccountID string
	SiteID    string // optional
	Platform  string // optional
	Limit     int
	Cursor    string // opaque, from a previous page
}

// Store persists integrations. Implementations enforce the uniqueness of
// (account, site, platform) atomically and optimistic concurrency on Rev.
type Store interface {
	// CreateIntegration stores a new integration; ECONFLICT if the account's
	// site already has one for the platform.
	CreateIntegration(ctx context.Context, in *Integration) error
	// GetIntegration returns ENOTFOUND when the account has no such integration.
	GetIntegration(ctx context.Context, accountID, id string) (*Integration, error)
	// FindIntegration returns the account's integration for a site and platform.
	FindIntegration(ctx context.Context, accountID, siteID, platform string) (*Integration, error)
	// UpdateIntegration replaces the integration if its stored revision is
	// prevRev (EPRECONDITIONFAILED otherwise, ENOTFOUND if gone), and stores
	// it at revision prevRev+1. An item written before revisions existed is
	// at the revision of its version.
	UpdateIntegration(ctx context.Context, in *Integration, prevRev int64) error
	// DeleteIntegration removes the integration if its stored revision is
	// rev, and releases its (site, platform).
	DeleteIntegration(ctx context.Context, accountID, id string, rev int64) error
	// ListIntegrations returns a page and the cursor of the next one ("" on the
	// last page). An unusable cursor is EINVALID.
	ListIntegrations(ctx context.Context, q ListQuery) ([]*Integration, string, error)
	// DueIntegrations returns integrations of every account whose
	// NextSyncAt is at or before t, earliest first, at most limit.
	DueIntegrations(ctx context.Context, t time.Time, limit int) ([]*Integration, error)
	DueIndex
	TokenLeases
	OAuthStates
	WebhookStore

	// CreateSiteKey stores a new site key (ECONFLICT if its id is taken).
	CreateSiteKey(ctx context.Context, k *SiteKey) error
	// GetSiteKey finds a key by id alone — a plugin's request carries no
	// account — and returns ENOTFOUND when there is none.
	GetSiteKey(ctx context.Context, id string) (*SiteKey, error)
	// ListSiteKeys returns a page of one site's keys, oldest first, and the
	// cursor of the next page ("" on the last).
	ListSiteKeys(ctx context.Context, q SiteKeyQuery) ([]*SiteKey, string, error)
	// RevokeSiteKey sets the key's RevokedAt unless it is already set;
	// ENOTFOUND when there is no such key.
	RevokeSiteKey(ctx context.Context, id string, at time.Time) error
	// CountHit adds one to the counter named bucket and returns the new
	// count, atomically under concurrent calls. The counter may be removed
	// after expires.
	CountHit(ctx context.Context, bucket string, expires time.Time) (int64, error)
}

// Secrets keeps credential values. Each Put makes a new immutable version, so
// a version can be cached freely and an integration points at exactly the
// version it was saved with.
type Secrets interface {
	PutSecret(ctx context.Context, ref SecretRef, values map[string]string) (SecretVersion, error)
	// GetSecret returns ENOTFOUND if the secret or the version does not exist.
	GetSecret(ctx context.Context, name, versionID string) (map[string]string, error)
	// DeleteSecret removes the integration's secret and all its versions; its
	// name derives from ref, so nothing need remember it. Deleting a missing
	// secret is not an error.
	DeleteSecret(ctx context.Context, ref SecretRef) error
}
