// Package embedded implements Joinery's ports without AWS: a bbolt store, a
// local AES-GCM secret store and an in-process queue. The local runner and
// tests use them; the conformance suites keep them true to the AWS ones.
package embedded

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/joinery/joinery/pkg/integration"
	bolt "go.etcd.io/bbolt"
)

var (
	bucketIntegrations = []byte("integrations") // account \x00 id → record
	bucketUnique       = []byte("unique")       // account \x00 site \x00 platform → id
	bucketSiteKeys     = []byte("site_keys")    // key id → site key
	bucketSiteKeyIndex = []byte("site_key_idx") // account \x00 site \x00 key id → nothing
	bucketCounters     = []byte("counters")     // bucket → counter
)

// Store keeps integrations in one bbolt file. Every write is one bbolt
// transaction, which makes uniqueness and version checks atomic.
type Store struct {
	db    *bolt.DB
	slots endpointSlots
}

var _ integration.Store = (*Store)(nil)

// OpenStore opens (creating, 0600) the store at path.
func OpenStore(path string) (*Store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("open store %s (is another joinery running on this data dir?): %w", path, err)
	}
	db.MaxBatchDelay = batchDelay
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketIntegrations, bucketUnique, bucketSiteKeys, bucketSiteKeyIndex, bucketCounters} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("init store %s: %w", path, err)
	}
	s := &Store{db: db}
	if err := s.initSync(); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("init store %s: %w", path, err)
	}
	return s, nil
}

// Close closes the file.
func (s *Store) Close() error { return s.db.Close() }

type record struct {
	ID                  string         `json:"id"`
	AccountID           string         `json:"account_id"`
	SiteID              string         `json:"site_id"`
	Platform            string         `json:"platform"`
	ExternalSiteURL     string         `json:"external_site_url"`
	Config              map[string]any `json:"config"`
	ContentTypes        map[string]any `json:"content_types,omitempty"`
	SecretName          string         `json:"secret_name,omitempty"`
	SecretVersion       string         `json:"secret_version,omitempty"`
	CredentialFields    []string       `json:"credential_fields,omitempty"`
	IsActive            bool           `json:"is_active"`
	SyncEnabled         bool           `json:"sync_enabled"`
	SyncIntervalMinutes int            `json:"sync_interval_minutes"`
	SyncStatus          string         `json:"sync_status"`
	LastSyncAt          *time.Time     `json:"last_sync_at,omitempty"`
	SyncError           string         `json:"sync_error,omitempty"`
	NextSyncAt          *time.Time     `json:"next_sync_at,omitempty"`
	ConnectionStatus    string         `json:"connection_status"`
	ConnectionMessage   string         `json:"connection_message,omitempty"`
	ConnectionCheckedAt *time.Time     `json:"connection_checked_at,omitempty"`
	OAuth               *oauthAttr     `json:"oauth,omitempty"`
	CreatedAt           time.Time      `json:"created_at"`
	UpdatedAt           time.Time      `json:"updated_at"`
	Version             int64          `json:"version"`
	// Rev is absent from records written before revisions existed; such a
	// record is at the revision of its version.
	Rev           int64      `json:"rev,omitempty"`
	DeletingSince *time.Time `json:"deleting_since,omitempty"`
}

func toRecord(in *integration.Integration) record {
	return record{
		ID: in.ID, AccountID: in.AccountID, SiteID: in.SiteID, Platform: in.Platform, ExternalSiteURL: in.ExternalSiteURL,
		Config: in.Config, ContentTypes: in.ContentTypes, SecretName: in.Credentials.SecretName, SecretVersion: in.Credentials.VersionID,
		CredentialFields: in.Credentials.Fields, IsActive: in.IsActive, SyncEnabled: in.SyncEnabled,
		SyncIntervalMinutes: in.SyncIntervalMinutes, SyncStatus: string(in.SyncStatus), LastSyncAt: in.LastSyncAt,
		SyncError: in.SyncError, NextSyncAt: in.NextSyncAt, ConnectionStatus: string(in.ConnectionStatus), ConnectionMessage: in.ConnectionMessage,
		ConnectionCheckedAt: in.ConnectionCheckedAt, CreatedAt: in.CreatedAt, UpdatedAt: in.UpdatedAt,
		Version: in.Version, Rev: in.Rev, DeletingSince: in.DeletingSince, OAuth: encodeOAuth(in.OAuth),
	}
}

func (r record) integration() *integration.Integration {
	it := &integration.Integration{
		ID: r.ID, AccountID: r.AccountID, SiteID: r.SiteID, Platform: r.Platform, ExternalSiteURL: r.ExternalSiteURL,
		Config: r.Config, ContentTypes: r.ContentTypes,
		Credentials: integration.CredentialsRef{SecretName: r.SecretName, VersionID: r.SecretVersion, Fields: r.CredentialFields},
		IsActive:    r.IsActive, SyncEnabled: r.SyncEnabled, SyncIntervalMinutes: r.SyncIntervalMinutes,
		SyncStatus: integration.SyncStatus(r.SyncStatus), LastSyncAt: r.LastSyncAt, SyncError: r.SyncError, NextSyncAt: r.NextSyncAt,
		ConnectionStatus: integration.ConnectionStatus(r.ConnectionStatus), ConnectionMessage: r.ConnectionMessage,
		ConnectionCheckedAt: r.ConnectionCheckedAt, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
		Version: r.Version, Rev: r.rev(), DeletingSince: r.DeletingSince, OAuth: decodeOAuth(r.OAuth),
	}
	integration.LiftContentTypes(it) // a record an earlier release wrote
	return it
}

func (r record) rev() int64 {
	if r.Rev == 0 {
		return r.Version
	}
	return r.Rev
}

func key(parts ...string) []byte { return []byte(strings.Join(parts, "\x00")) }

func get(tx *bolt.Tx, account, id string) (*record, error) {
	raw := tx.Bucket(bucketIntegrations).Get(key(account, id))
	if raw == nil {
		return nil, integration.Errorf(integration.ENOTFOUND, "Integration %q not found.", id)
	}
	var r record
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("decode integration %s: %w", id, err)
	}
	return &r, nil
}

// sameAsStored reports whether the stored item is exactly in: a write being
// retried after it had in fact succeeded, which is then a success again.
func sameAsStored(tx *bolt.Tx, in *integration.Integration) bool {
	b, err := json.Marshal(toRecord(in))
	return err == nil && bytes.Equal(tx.Bucket(bucketIntegrations).Get(key(in.AccountID, in.ID)), b)
}

func put(tx *bolt.Tx, in *integration.Integration) error {
	b, err := json.Marshal(toRecord(in))
	if err != nil {
		return fmt.Errorf("encode integration %s: %w", in.ID, err)
	}
	return tx.Bucket(bucketIntegrations).Put(key(in.AccountID, in.ID), b)
}

// CreateIntegration stores a new integration, unique per (account, site, platform).
func (s *Store) CreateIntegration(_ context.Context, in *integration.Integration) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		uk := key(in.AccountID, in.SiteID, in.Platform)
		if sameAsStored(tx, in) {
			return nil // a retried create that had succeeded
		}
		if tx.Bucket(bucketUnique).Get(uk) != nil || tx.Bucket(bucketIntegrations).Get(key(in.AccountID, in.ID)) != nil {
			return integration.Errorf(integration.ECONFLICT, "Site %q already has a %s integration.", in.SiteID, in.Platform)
		}
		if err := tx.Bucket(bucketUnique).Put(uk, []byte(in.ID)); err != nil {
			return err
		}
		return put(tx, in)
	})
}

// GetIntegration returns one integration of an account.
func (s *Store) GetIntegration(_ context.Context, accountID, id string) (*integration.Integration, error) {
	var out *integration.Integration
	err := s.db.View(func(tx *bolt.Tx) error {
		r, err := get(tx, accountID, id)
		if err == nil {
			out = r.integration()
		}
		return err
	})
	return out, err
}

// FindIntegration returns the account's integration for a site and platform.
func (s *Store) FindIntegration(_ context.Context, accountID, siteID, platform string) (*integration.Integration, error) {
	var out *integration.Integration
	err := s.db.View(func(tx *bolt.Tx) error {
		id := tx.Bucket(bucketUnique).Get(key(accountID, siteID, platform))
		if id == nil {
			return integration.Errorf(integration.ENOTFOUND, "No %s integration for site %q.", platform, siteID)
		}
		r, err := get(tx, accountID, string(id))
		if err == nil {
			out = r.integration()
		}
		return err
	})
	return out, err
}

// UpdateIntegration replaces an integration at revision prevRev.
func (s *Store) UpdateIntegration(_ context.Context, in *integration.Integration, prevRev int64) error {
	next := *in
	next.Rev = prevRev + 1
	return s.db.Update(func(tx *bolt.Tx) error {
		cur, err := get(tx, in.AccountID, in.ID)
		if err != nil {
			return err
		}
		if cur.rev() != prevRev {
			if sameAsStored(tx, &next) {
				return nil // a retried update that had succeeded
			}
			return integration.Errorf(integration.EPRECONDITIONFAILED, "The integration was changed by someone else.")
		}
		if cur.SiteID != in.SiteID || cur.Platform != in.Platform {
			return fmt.Errorf("update integration %s: site and platform cannot change", in.ID)
		}
		if in.Emit != nil {
			if err := addEventOnce(tx, in.Emit); err != nil {
				return err
			}
		}
		return put(tx, &next)
	})
}

// DeleteIntegration removes an integration at revision rev and frees its (site, platform).
func (s *Store) DeleteIntegration(_ context.Context, accountID, id string, rev int64) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		cur, err := get(tx, accountID, id)
		if err != nil {
			return err
		}
		if cur.rev() != rev {
			return integration.Errorf(integration.EPRECONDITIONFAILED, "The integration was changed by someone else.")
		}
		if err := tx.Bucket(bucketUnique).Delete(key(accountID, cur.SiteID, cur.Platform)); err != nil {
			return err
		}
		return tx.Bucket(bucketIntegrations).Delete(key(accountID, id))
	})
}

// ListIntegrations pages through an account's integrations in id (creation)
// order. Filters are applied while scanning the account's own key range,
// which is small; the cursor is the last id and is read within the caller's
// account only.
func (s *Store) ListIntegrations(_ context.Context, q integration.ListQuery) ([]*integration.Integration, string, error) {
	after := ""
	if q.Cursor != "" {
		b, err := base64.RawURLEncoding.DecodeString(q.Cursor)
		if err != nil || len(b) == 0 || len(b) > 128 {
			return nil, "", integration.Invalid(map[string]string{"cursor": "is not a cursor this API issued"})
		}
		after = string(b)
	}
	out := []*integration.Integration{}
	next := ""
	err := s.db.View(func(tx *bolt.Tx) error {
		prefix := key(q.AccountID, "")
		c := tx.Bucket(bucketIntegrations).Cursor()
		k, v := c.Seek(prefix)
		if after != "" {
			k, v = c.Seek(key(q.AccountID, after))
			if k != nil && bytes.Equal(k, key(q.AccountID, after)) {
				k, v = c.Next()
			}
		}
		for ; k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			var r record
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("decode integration: %w", err)
			}
			if (q.SiteID != "" && r.SiteID != q.SiteID) || (q.Platform != "" && r.Platform != q.Platform) {
				continue
			}
			if len(out) == q.Limit {
				next = base64.RawURLEncoding.EncodeToString([]byte(out[len(out)-1].ID))
				return nil
			}
			out = append(out, r.integration())
		}
		return nil
	})
	if err != nil && !errors.As(err, new(*integration.Error)) {
		err = fmt.Errorf("list integrations: %w", err)
	}
	return out, next, err
}

// DueIntegrations walks every integration: the embedded store serves one
// developer's few integrations, where an index would not pay.
func (s *Store) DueIntegrations(_ context.Context, t time.Time, limit int) ([]*integration.Integration, error) {
	var out []*integration.Integration
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketIntegrations).ForEach(func(_, v []byte) error {
			var r record
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			if r.NextSyncAt != nil && !r.NextSyncAt.After(t) && r.DeletingSince == nil {
				out = append(out, r.integration())
			}
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].NextSyncAt.Before(*out[j].NextSyncAt) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, err
}
