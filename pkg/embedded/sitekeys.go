package embedded

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	"github.com/joinery/joinery/pkg/integration"
	bolt "go.etcd.io/bbolt"
)

type siteKeyRecord struct {
	ID        string     `json:"id"`
	AccountID string     `json:"account_id"`
	SiteID    string     `json:"site_id"`
	Name      string     `json:"name,omitempty"`
	Hash      string     `json:"hash"`
	Hint      string     `json:"hint"`
	CreatedAt time.Time  `json:"created_at"`
	CreatedBy string     `json:"created_by,omitempty"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

func getSiteKey(tx *bolt.Tx, id string) (*integration.SiteKey, error) {
	raw := tx.Bucket(bucketSiteKeys).Get([]byte(id))
	if raw == nil {
		return nil, integration.Errorf(integration.ENOTFOUND, "Site key %q not found.", id)
	}
	var r siteKeyRecord
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("decode site key %s: %w", id, err)
	}
	k := integration.SiteKey(r)
	return &k, nil
}

func putSiteKey(tx *bolt.Tx, k *integration.SiteKey) error {
	b, err := json.Marshal(siteKeyRecord(*k))
	if err != nil {
		return fmt.Errorf("encode site key %s: %w", k.ID, err)
	}
	return tx.Bucket(bucketSiteKeys).Put([]byte(k.ID), b)
}

// CreateSiteKey stores a new site key and indexes it under its site.
func (s *Store) CreateSiteKey(_ context.Context, k *integration.SiteKey) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		if raw := tx.Bucket(bucketSiteKeys).Get([]byte(k.ID)); raw != nil {
			if b, err := json.Marshal(siteKeyRecord(*k)); err == nil && bytes.Equal(raw, b) {
				return nil // a retried create that had succeeded
			}
			return integration.Errorf(integration.ECONFLICT, "Site key %q already exists.", k.ID)
		}
		if err := tx.Bucket(bucketSiteKeyIndex).Put(key(k.AccountID, k.SiteID, k.ID), nil); err != nil {
			return err
		}
		return putSiteKey(tx, k)
	})
}

// GetSiteKey returns a key by id.
func (s *Store) GetSiteKey(_ context.Context, id string) (*integration.SiteKey, error) {
	var out *integration.SiteKey
	err := s.db.View(func(tx *bolt.Tx) (err error) {
		out, err = getSiteKey(tx, id)
		return err
	})
	return out, err
}

// ListSiteKeys pages through one site's keys in id (creation) order.
func (s *Store) ListSiteKeys(_ context.Context, q integration.SiteKeyQuery) ([]*integration.SiteKey, string, error) {
	after, err := decodeCursor(q.Cursor)
	if err != nil {
		return nil, "", err
	}
	out := []*integration.SiteKey{}
	next := ""
	err = s.db.View(func(tx *bolt.Tx) error {
		prefix := key(q.AccountID, q.SiteID, "")
		c := tx.Bucket(bucketSiteKeyIndex).Cursor()
		k, _ := c.Seek(prefix)
		if after != "" {
			k, _ = c.Seek(key(q.AccountID, q.SiteID, after))
			if bytes.Equal(k, key(q.AccountID, q.SiteID, after)) {
				k, _ = c.Next()
			}
		}
		for ; k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			if len(out) == q.Limit {
				next = base64.RawURLEncoding.EncodeToString([]byte(out[len(out)-1].ID))
				return nil
			}
			sk, err := getSiteKey(tx, string(k[len(prefix):]))
			if err != nil {
				return err
			}
			out = append(out, sk)
		}
		return nil
	})
	return out, next, err
}

func decodeCursor(cursor string) (string, error) {
	if cursor == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil || len(b) == 0 || len(b) > 128 {
		return "", integration.Invalid(map[string]string{"cursor": "is not a cursor this API issued"})
	}
	return string(b), nil
}

// RevokeSiteKey marks a key revoked; the first revocation time stays.
func (s *Store) RevokeSiteKey(_ context.Context, id string, at time.Time) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		k, err := getSiteKey(tx, id)
		if err != nil || k.RevokedAt != nil {
			return err
		}
		k.RevokedAt = &at
		return putSiteKey(tx, k)
	})
}

type counter struct {
	N       int64     `json:"n"`
	Expires time.Time `json:"expires"`
}

// CountHit adds one to a counter; an expired counter starts again at one.
func (s *Store) CountHit(_ context.Context, bucket string, expires time.Time) (int64, error) {
	var n int64
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketCounters)
		var c counter
		if raw := b.Get([]byte(bucket)); raw != nil {
			if err := json.Unmarshal(raw, &c); err != nil {
				return fmt.Errorf("decode counter %s: %w", bucket, err)
			}
			if time.Now().After(c.Expires) {
				c = counter{}
			}
		}
		c.N++
		c.Expires = expires
		n = c.N
		raw, err := json.Marshal(c)
		if err != nil {
			return err
		}
		return b.Put([]byte(bucket), raw)
	})
	return n, err
}
