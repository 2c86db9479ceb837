package integration

import (
	"context"
	"crypto/rand"
	"fmt"
	"maps"
	"time"

	"github.com/oklog/ulid/v2"
)

// Service implements the integration use cases.
type Service struct {
	// Sleep, when set, replaces the real wait between a status write's
	// attempts (tests).
	Sleep   func(ctx context.Context, d time.Duration) error
	Store   Store
	Secrets Secrets
	Catalog Catalog
	// Apps, when set, has the deployment's app credentials; without it no
	// platform that needs them can be connected.
	Apps Apps
	// SyncData, when set, has an integration's runs, records and events
	// removed when it is deleted.
	SyncData interface {
		DeleteSyncData(ctx context.Context, integrationID string) error
	}
	// PurgeLater, when set, hands a deleted integration's sync data (which
	// can be large) to the workers to remove, and returns once that is
	// queued; if it fails, the data is removed at once instead.
	PurgeLater func(ctx context.Context, it *Integration) error
	Now        func() time.Time // defaults to time.Now
	NewID      func() string    // defaults to NewID

	// TeardownLater, when set, queues a deleted integration's teardown
	// where its platform's grant must be revoked first: revoke, delete the
	// secret, then purge. false: nothing to revoke, the secret goes at
	// once; an error: the same, the grant staying at the platform.
	TeardownLater func(ctx context.Context, it *Integration) (bool, error)
}

// NewID returns a ULID: unique, and sorting by creation time, so listings
// come out oldest first without another index.
func NewID() string { return ulid.MustNew(ulid.Now(), rand.Reader).String() }

func (s *Service) now() time.Time {
	if s.Now == nil {
		return time.Now().UTC()
	}
	return s.Now().UTC()
}

func (s *Service) newID() string {
	if s.NewID == nil {
		return NewID()
	}
	return s.NewID()
}

// CreateInput is a new integration as requested.
type CreateInput struct {
	SiteID              string
	Platform            string
	ExternalSiteURL     string
	Config              map[string]any
	Credentials         map[string]string // nil: none given
	IsActive            *bool
	SyncEnabled         *bool
	SyncIntervalMinutes *int
	// WebhookSecret, when set, is stored with the credentials (never
	// from a request: onboarding makes it).
	WebhookSecret string
}

// PatchInput changes an integration. Nil fields are left as they are.
type PatchInput struct {
	ExpectedVersion     *int64
	ExternalSiteURL     *string
	ConfigPatch         map[string]any // RFC 7396 merge patch
	ConfigClear         bool           // config set to null: remove every key
	ConfigSet           map[string]any // top-level config keys replaced whole, not merged
	ContentTypes        map[string]any // the site's structure, replaced whole
	Credentials         map[string]string
	CredentialsSet      bool // credentials replaced whole (an empty object clears them)
	IsActive            *bool
	SyncEnabled         *bool
	SyncIntervalMinutes *int

	// WebhookSecret, when set with credentials, replaces the stored
	// webhook secret, which new credentials otherwise keep.
	WebhookSecret string
}

// Page is one page of a list.
type Page struct {
	Items      []*Integration
	NextCursor string
}

const (
	DefaultListLimit = 50
	MaxListLimit     = 100
	maxUpdateRetries = 5
	// maxStatusRetries bounds the retries of a status write (a connection
	// test's outcome, a sync's state, a token refresh): many of them may
	// race on one integration (concurrent tests, workers in several
	// Lambdas), and none has a user to hand a 412 to.
	maxStatusRetries = 40
)

// backoff waits a random moment before a status write's next attempt,
// longer as attempts grow (at most 100 ms), so racing writers spread out.
func (s *Service) backoff(ctx context.Context, attempt int) error {
	limit := min(time.Duration(2<<min(attempt, 10))*time.Millisecond, 100*time.Millisecond)
	var b [8]byte
	_, _ = rand.Read(b[:])
	d := time.Duration(uint64(b[0])|uint64(b[1])<<8|uint64(b[2])<<16) % limit
	if s.Sleep != nil {
		return s.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Create validates and stores a new integration and its credentials.
func (s *Service) Create(ctx context.Context, actor Actor, in CreateInput) (*Integration, error) {
	if err := actor.Require(RoleEditor); err != nil {
		return nil, err
	}
	fields := map[string]string{}
	checkSiteID(fields, "site_id", in.SiteID)
	p, ok := checkPlatform(fields, s.Catalog, in.Platform)
	if ok && !p.Available {
		return nil, NotAvailable(p)
	}
	if ok {
		in.ExternalSiteURL = checkSiteURL(fields, p, in.ExternalSiteURL)
		if in.Credentials != nil {
			checkCredentials(fields, p, in.Credentials)
		}
		checkConfigKeys(fields, p, in.Config, keysOf(in.Config))
	}
	checkConfig(fields, in.Config)
	interval := DefaultSyncInterval
	if in.SyncIntervalMinutes != nil {
		interval = *in.SyncIntervalMinutes
		checkInterval(fields, interval)
	}
	if len(fields) > 0 {
		return nil, Invalid(fields)
	}
	if !actor.CanSeeSite(in.SiteID) {
		return nil, Errorf(EFORBIDDEN, "This token may not manage site %q.", in.SiteID)
	}
	if err := s.checkConnectable(ctx, p); err != nil {
		return nil, err
	}

	now := s.now()
	it := &Integration{
		ID:                  s.newID(),
		AccountID:           actor.AccountID,
		SiteID:              in.SiteID,
		Platform:            in.Platform,
		ExternalSiteURL:     in.ExternalSiteURL,
		Config:              in.Config,
		IsActive:            boolOr(in.IsActive, true),
		SyncEnabled:         boolOr(in.SyncEnabled, false),
		SyncIntervalMinutes: interval,
		SyncStatus:          SyncIdle,
		ConnectionStatus:    ConnectionUnknown,
		CreatedAt:           now,
		UpdatedAt:           now,
		Version:             1,
		Rev:                 1,
	}
	if it.Config == nil {
		it.Config = map[string]any{}
	}
	it.NextSyncAt = nextSync(it, now)
	if err := s.createItem(ctx, it); err != nil {
		return nil, err
	}
	if len(in.Credentials) == 0 {
		return it, nil
	}
	// The item exists before its secret, so a failure at any point leaves
	// either nothing or an integration without credentials — never a secret
	// that nothing points at, nor an item pointing at a missing secret.
	creds, err := s.withWebhookSecret(ctx, nil, in.Credentials, in.WebhookSecret)
	var ref CredentialsRef
	if err == nil {
		ref, err = s.putSecret(ctx, it, creds)
	}
	if err == nil {
		next := *it
		next.Credentials = ref
		next.Version, next.Rev = it.Version+1, it.Rev+1
		if err = s.Store.UpdateIntegration(ctx, &next, it.Rev); err == nil {
			return &next, nil
		}
	}
	s.undoCreate(it)
	return nil, fmt.Errorf("store credentials of new integration: %w", err)
}

// createItem stores it, finishing any interrupted delete that still holds
// its (site, platform).
func (s *Service) createItem(ctx context.Context, it *Integration) error {
	err := s.Store.CreateIntegration(ctx, it)
	if ErrorCode(err) != ECONFLICT {
		return err
	}
	old, ferr := s.Store.FindIntegration(ctx, it.AccountID, it.SiteID, it.Platform)
	if ferr != nil || old.DeletingSince == nil {
		return Errorf(ECONFLICT, "Site %q already has a %s integration.", it.SiteID, it.Platform)
	}
	if err := s.finishDelete(ctx, old); err != nil {
		return err
	}
	return s.Store.CreateIntegration(ctx, it)
}

// undoCreate removes a half-created integration and any secret put for it.
// It runs even when the request's context is cancelled.
func (s *Service) undoCreate(it *Integration) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(context.Background()), 10*time.Second)
	defer cancel()
	_ = s.Secrets.DeleteSecret(ctx, secretRef(it))
	if cur, err := s.Store.GetIntegration(ctx, it.AccountID, it.ID); err == nil {
		_ = s.Store.DeleteIntegration(ctx, it.AccountID, it.ID, cur.Rev)
	}
}

func secretRef(it *Integration) SecretRef {
	return SecretRef{AccountID: it.AccountID, IntegrationID: it.ID, SiteID: it.SiteID, Platform: it.Platform}
}

func (s *Service) putSecret(ctx context.Context, it *Integration, creds map[string]string) (CredentialsRef, error) {
	v, err := s.Secrets.PutSecret(ctx, secretRef(it), creds)
	if err != nil {
		return CredentialsRef{}, err
	}
	return CredentialsRef{SecretName: v.Name, VersionID: v.VersionID, Fields: sortedKeys(creds)}, nil
}

// Find returns the actor's integration of a platform on a site; ENOTFOUND
// when there is none (or it is being deleted).
func (s *Service) Find(ctx context.Context, actor Actor, siteID, platform string) (*Integration, error) {
	if err := actor.Require(RoleViewer); err != nil {
		return nil, err
	}
	notFound := Errorf(ENOTFOUND, "Site %q has no %s integration.", siteID, platform)
	if !actor.CanSeeSite(siteID) {
		return nil, notFound
	}
	it, err := s.Store.FindIntegration(ctx, actor.AccountID, siteID, platform)
	if ErrorCode(err) == ENOTFOUND || (err == nil && it.DeletingSince != nil) {
		return nil, notFound
	}
	return it, err
}

// CheckConnectionInput validates a site URL and credentials for a platform
// before anything is stored, and returns the fields at fault (named
// external_site_url and credentials.<name>), or nil.
func (s *Service) CheckConnectionInput(platform, siteURL string, creds map[string]string) map[string]string {
	fields := map[string]string{}
	if p, ok := checkPlatform(fields, s.Catalog, platform); ok {
		checkSiteURL(fields, p, siteURL)
		checkCredentials(fields, p, creds)
	}
	if len(fields) == 0 {
		return nil
	}
	return fields
}

// Get returns one integration of the actor's account.
func (s *Service) Get(ctx context.Context, actor Actor, id string) (*Integration, error) {
	if err := actor.Require(RoleViewer); err != nil {
		return nil, err
	}
	return s.visible(ctx, actor, id)
}

// visible loads an integration the actor may see; anything else, including
// another account's, is ENOTFOUND so its existence is not disclosed.
func (s *Service) visible(ctx context.Context, actor Actor, id string) (*Integration, error) {
	notFound := Errorf(ENOTFOUND, "Integration %q not found.", id)
	if id == "" || len(id) > 128 {
		return nil, notFound
	}
	it, err := s.Store.GetIntegration(ctx, actor.AccountID, id)
	if ErrorCode(err) == ENOTFOUND {
		return nil, notFound
	}
	if err != nil {
		return nil, err
	}
	if it.DeletingSince != nil || !actor.CanSeeSite(it.SiteID) {
		return nil, notFound
	}
	return it, nil
}

// List returns a page of the actor's integrations.
func (s *Service) List(ctx context.Context, actor Actor, siteID, platform string, limit int, cursor string) (Page, error) {
	if err := actor.Require(RoleViewer); err != nil {
		return Page{}, err
	}
	fields := map[string]string{}
	if siteID != "" && !ValidSiteID(siteID) {
		fields["site_id"] = "must be 1-128 letters, digits, '.', '_', ':' or '-'"
	}
	if platform != "" {
		checkPlatform(fields, s.Catalog, platform)
	}
	limit = CheckLimit(fields, limit)
	if len(fields) > 0 {
		return Page{}, Invalid(fields)
	}
	if siteID != "" && !actor.CanSeeSite(siteID) {
		return Page{Items: []*Integration{}}, nil
	}
	if siteID == "" && len(actor.Sites) == 1 {
		siteID = actor.Sites[0]
	}
	items, next, err := s.Store.ListIntegrations(ctx, ListQuery{AccountID: actor.AccountID, SiteID: siteID, Platform: platform, Limit: limit, Cursor: cursor})
	if err != nil {
		return Page{}, err
	}
	// Hidden items (other sites of a site-limited token, deletes under way)
	// make a page shorter; the cursor still moves on correctly.
	out := make([]*Integration, 0, len(items))
	for _, it := range items {
		if it.DeletingSince == nil && actor.CanSeeSite(it.SiteID) {
			out = append(out, it)
		}
	}
	return Page{Items: out, NextCursor: next}, nil
}

// CheckLimit returns a list's page size: the default for 0; any other value
// outside 1..MaxListLimit is noted in fields.
func CheckLimit(fields map[string]string, limit int) int {
	if limit == 0 {
		return DefaultListLimit
	}
	if limit < 1 || limit > MaxListLimit {
		fields["limit"] = fmt.Sprintf("must be between 1 and %d", MaxListLimit)
	}
	return limit
}

// Update applies a patch. Without an expected version it is retried on
// concurrent writes, re-applying the patch to the fresh state, so no
// update is lost; with one, a mismatch is EPRECONDITIONFAILED.
func (s *Service) Update(ctx context.Context, actor Actor, id string, in PatchInput) (*Integration, error) {
	if err := actor.Require(RoleEditor); err != nil {
		return nil, err
	}
	next, err := s.modify(ctx, actor, id, userEdit, func(cur *Integration, now time.Time) (*Integration, error) {
		// Checked on every read: after a concurrent write the fresh
		// version no longer matches, so an expected version is never
		// retried past.
		if in.ExpectedVersion != nil && *in.ExpectedVersion != cur.Version {
			return nil, versionMismatch(cur.Version)
		}
		next, err := s.apply(cur, in, now)
		if err != nil {
			return nil, err
		}
		// Checked on the state written, so no concurrent change slips by.
		if actor.ViaSiteKey() && in.ExternalSiteURL != nil && MovesHost(cur.ExternalSiteURL, next.ExternalSiteURL) {
			return nil, ErrMovesHost
		}
		if in.CredentialsSet && len(in.Credentials) > 0 {
			// A new secret version is invisible until the item points at it,
			// so a failed update below leaves the old credentials in force.
			creds, err := s.withWebhookSecret(ctx, cur, in.Credentials, in.WebhookSecret)
			if err != nil {
				return nil, err
			}
			ref, err := s.putSecret(ctx, cur, creds)
			if err != nil {
				return nil, fmt.Errorf("store credentials of %s: %w", id, err)
			}
			next.Credentials = ref
		}
		return next, nil
	})
	if err != nil {
		return nil, err
	}
	if next, err = s.selectedOAuthSite(ctx, actor, next); err != nil {
		return nil, err
	}
	if in.CredentialsSet && len(in.Credentials) == 0 {
		if derr := s.Secrets.DeleteSecret(ctx, secretRef(next)); derr != nil {
			return nil, fmt.Errorf("delete cleared credentials of %s: %w", id, derr)
		}
	}
	return next, nil
}

// modify is the one read-modify-write of an integration: it reads the
// integration as actor sees it, asks change for the next state (nil:
// nothing to write) and writes it only if no one wrote in between. On a
// concurrent write it starts again from the fresh state, at most
// maxUpdateRetries times, so no change is lost and none is applied to a
// stale state. Only the attributes of kind are written; every write moves
// Rev, and only a change to what users set moves Version. It returns the
// state written (or read, when change wrote nothing).
func (s *Service) modify(ctx context.Context, actor Actor, id string, kind writeKind, change func(cur *Integration, now time.Time) (*Integration, error)) (*Integration, error) {
	for attempt := 0; ; attempt++ {
		cur, err := s.visible(ctx, actor, id)
		if err != nil {
			return nil, err
		}
		now := s.now()
		next, err := change(cur, now)
		if err != nil {
			return nil, err
		}
		if next == nil {
			return cur, nil
		}
		next = kind.keep(cur, next)
		if kind == userEdit && edited(cur, next) {
			next.Version, next.UpdatedAt = cur.Version+1, now
		}
		next.Rev = cur.Rev + 1
		next.Emit = ConnectionEvent(cur, next)
		err = s.Store.UpdateIntegration(ctx, next, cur.Rev)
		next.Emit = nil
		if err == nil {
			return next, nil
		}
		if ErrorCode(err) != EPRECONDITIONFAILED {
			return nil, err
		}
		if kind == userEdit {
			if attempt >= maxUpdateRetries {
				return nil, err
			}
			continue
		}
		if attempt >= maxStatusRetries {
			return nil, err
		}
		if berr := s.backoff(ctx, attempt); berr != nil {
			return nil, err
		}
	}
}

func versionMismatch(current int64) error {
	if current < 0 {
		return Errorf(EPRECONDITIONFAILED, "The integration was changed by someone else; fetch it again and retry.")
	}
	return Errorf(EPRECONDITIONFAILED, "The integration is at version %d; fetch it again and retry.", current)
}

// apply validates a patch against the current state and returns the next state.
func (s *Service) apply(cur *Integration, in PatchInput, now time.Time) (*Integration, error) {
	next := *cur
	next.Config = maps.Clone(cur.Config)
	p, ok := s.Catalog.Platform(cur.Platform)
	if !ok {
		return nil, fmt.Errorf("integration %s has unknown platform %q", cur.ID, cur.Platform)
	}
	fields := map[string]string{}
	if in.ExternalSiteURL != nil {
		next.ExternalSiteURL = checkSiteURL(fields, p, *in.ExternalSiteURL)
	}
	if in.ConfigClear {
		next.Config = map[string]any{}
	}
	if in.ConfigPatch != nil {
		next.Config = MergePatch(next.Config, in.ConfigPatch)
	}
	if next.Config == nil {
		next.Config = map[string]any{}
	}
	maps.Copy(next.Config, in.ConfigSet)
	if in.ContentTypes != nil {
		next.ContentTypes = in.ContentTypes
	}
	if in.ConfigPatch != nil || in.ConfigSet != nil {
		checkConfig(fields, next.Config)
		// Only the keys changed: a value stored before its key was
		// declared does not block other changes.
		checkConfigKeys(fields, p, next.Config, append(keysOf(in.ConfigPatch), keysOf(in.ConfigSet)...))
		checkOAuthSite(fields, cur, next.Config, append(keysOf(in.ConfigPatch), keysOf(in.ConfigSet)...))
	}
	if in.CredentialsSet {
		if len(in.Credentials) > 0 {
			checkCredentials(fields, p, in.Credentials)
		} else {
			next.Credentials = CredentialsRef{}
		}
	}
	if in.IsActive != nil {
		next.IsActive = *in.IsActive
	}
	if in.SyncEnabled != nil {
		next.SyncEnabled = *in.SyncEnabled
	}
	if in.SyncIntervalMinutes != nil {
		next.SyncIntervalMinutes = *in.SyncIntervalMinutes
		checkInterval(fields, next.SyncIntervalMinutes)
	}
	if len(fields) > 0 {
		return nil, Invalid(fields)
	}
	if in.IsActive != nil || in.SyncEnabled != nil || in.SyncIntervalMinutes != nil {
		next.NextSyncAt = nextSync(&next, now)
	}
	return &next, nil
}

// nextSync is when the scheduler should next sync it, counted from now.
func nextSync(it *Integration, now time.Time) *time.Time {
	if !it.IsActive || !it.SyncEnabled || it.SyncIntervalMinutes <= 0 {
		return nil
	}
	t := now.Add(time.Duration(it.SyncIntervalMinutes) * time.Minute).UTC()
	return &t
}

// Due returns integrations whose scheduled sync is due at t.
func (s *Service) Due(ctx context.Context, t time.Time, limit int) ([]*Integration, error) {
	return s.Store.DueIntegrations(ctx, t, limit)
}

// Reschedule sets an integration's next sync to its interval after now
// (or clears it when it no longer syncs on a schedule).
func (s *Service) Reschedule(ctx context.Context, accountID, id string, now time.Time) error {
	actor := Actor{Subject: "joinery:scheduler", AccountID: accountID, Role: RoleOwner}
	_, err := s.modify(ctx, actor, id, statusWrite, func(cur *Integration, _ time.Time) (*Integration, error) {
		next := *cur
		next.NextSyncAt = nextSync(cur, now)
		return &next, nil
	})
	return err
}

// Delete removes an integration and its secret. It first marks the item as
// being deleted, so that a failure part-way leaves a hidden item that a
// repeated delete (or a create of the same site and platform) finishes.
func (s *Service) Delete(ctx context.Context, actor Actor, id string, expectedVersion *int64) error {
	if err := actor.Require(RoleEditor); err != nil {
		return err
	}
	// A status write (a sync, a connection test) moves only the revision:
	// the delete is retried past it while the expected version holds.
	for attempt := 0; ; attempt++ {
		cur, err := s.Store.GetIntegration(ctx, actor.AccountID, id)
		if ErrorCode(err) == ENOTFOUND || (err == nil && !actor.CanSeeSite(cur.SiteID)) {
			return Errorf(ENOTFOUND, "Integration %q not found.", id)
		}
		if err != nil {
			return err
		}
		if cur.DeletingSince != nil {
			return s.finishDelete(ctx, cur)
		}
		if expectedVersion != nil && *expectedVersion != cur.Version {
			return versionMismatch(cur.Version)
		}
		next := *cur
		now := s.now()
		next.DeletingSince = &now
		next.Rev = cur.Rev + 1
		err = s.Store.UpdateIntegration(ctx, &next, cur.Rev)
		if err == nil {
			return s.finishDelete(ctx, &next)
		}
		if ErrorCode(err) != EPRECONDITIONFAILED {
			return err
		}
		if attempt >= maxUpdateRetries {
			return versionMismatch(-1)
		}
	}
}

func (s *Service) finishDelete(ctx context.Context, it *Integration) error {
	// A grant to revoke keeps its tokens until the teardown job has used
	// them; the job then deletes the secret and purges.
	torn := false
	if s.TeardownLater != nil && it.Credentials.HasCredentials() {
		q, err := s.TeardownLater(ctx, it)
		torn = q && err == nil
	}
	// The secret's name derives from the integration, so it is removed even
	// if an interrupted write never recorded it on the item.
	if !torn {
		if err := s.Secrets.DeleteSecret(ctx, secretRef(it)); err != nil {
			return fmt.Errorf("delete secret of %s: %w", it.ID, err)
		}
	}
	queued := torn || (s.PurgeLater != nil && s.PurgeLater(ctx, it) == nil)
	if s.SyncData != nil && !queued {
		if err := s.SyncData.DeleteSyncData(ctx, it.ID); err != nil {
			return fmt.Errorf("delete sync data of %s: %w", it.ID, err)
		}
	}
	// Its webhooks stop being routed before it goes.
	if err := s.Store.DeleteWebhookRoutes(ctx, it.AccountID, it.ID); err != nil {
		return fmt.Errorf("delete webhook routes of %s: %w", it.ID, err)
	}
	err := s.Store.DeleteIntegration(ctx, it.AccountID, it.ID, it.Rev)
	if ErrorCode(err) == ENOTFOUND {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete integration %s: %w", it.ID, err)
	}
	return nil
}

// Credentials returns the stored credential values of an integration, for
// connectors. They are never part of any response.
func (s *Service) Credentials(ctx context.Context, it *Integration) (map[string]string, error) {
	if !it.Credentials.HasCredentials() {
		return nil, Errorf(EUNPROCESSABLE, "The integration has no credentials.")
	}
	v, err := s.Secrets.GetSecret(ctx, it.Credentials.SecretName, it.Credentials.VersionID)
	if err != nil {
		return nil, fmt.Errorf("credentials of %s: %w", it.ID, err)
	}
	return v, nil
}

func boolOr(p *bool, def bool) bool {
	if p == nil {
		return def
	}
	return *p
}

// RecordConnection stores the outcome of a connection test. It retries on
// concurrent writes: the newest outcome wins, other changes are kept.
func (s *Service) RecordConnection(ctx context.Context, actor Actor, id string, status ConnectionStatus, message string, at time.Time) error {
	_, err := s.modify(ctx, actor, id, statusWrite, func(cur *Integration, _ time.Time) (*Integration, error) {
		// An outcome checked later is already stored (a concurrent test
		// won the race): this older one has nothing to add.
		if cur.ConnectionCheckedAt != nil && cur.ConnectionCheckedAt.After(at) {
			return nil, nil
		}
		next := *cur
		next.ConnectionStatus, next.ConnectionMessage, next.ConnectionCheckedAt = status, message, &at
		return &next, nil
	})
	return err
}

// RecordSync stores where an integration's sync stands. It retries on
// concurrent writes; other changes are kept. lastSync, when set, becomes
// last_sync_at.
func (s *Service) RecordSync(ctx context.Context, actor Actor, id string, status SyncStatus, lastSync *time.Time, syncErr string) error {
	_, err := s.modify(ctx, actor, id, statusWrite, func(cur *Integration, _ time.Time) (*Integration, error) {
		if status == cur.SyncStatus && syncErr == cur.SyncError && lastSync == nil {
			return nil, nil
		}
		next := *cur
		next.SyncStatus, next.SyncError = status, syncErr
		if lastSync != nil {
			t := lastSync.UTC()
			next.LastSyncAt = &t
		}
		return &next, nil
	})
	return err
}
