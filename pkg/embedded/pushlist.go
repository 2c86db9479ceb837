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

// bucketPushRemotes holds the platform's version of an item a push met in
// conflict: integration \x00 push id → snapshot.
var bucketPushRemotes = []byte("push_remotes")

func init() { syncBuckets = append(syncBuckets, bucketPushRemotes) }

// PagePushes walks the integration's pushes newest first (push ids sort
// by time), keeping those that match. The cursor is the last push id of
// the page before.
func (s *Store) PagePushes(_ context.Context, q integration.PushQuery) ([]*integration.Push, string, error) {
	limit := max(q.Limit, 1)
	prefix := key(q.IntegrationID, "")
	from := append(append([]byte{}, prefix...), 0xff)
	if q.Cursor != "" {
		id, err := base64.RawURLEncoding.DecodeString(q.Cursor)
		if err != nil || len(id) == 0 || len(id) > 128 || bytes.IndexByte(id, 0) >= 0 {
			return nil, "", integration.Invalid(map[string]string{"cursor": "is not a cursor this API issued"})
		}
		from = key(q.IntegrationID, string(id))
	}
	out := []*integration.Push{}
	next := ""
	now := time.Now()
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketPushes).Cursor()
		for k, v := lastBefore(c, from); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Prev() {
			var p integration.Push
			if err := json.Unmarshal(v, &p); err != nil {
				return fmt.Errorf("decode push %s: %w", k[len(prefix):], err)
			}
			if p.Expired(now) || (q.Status != "" && p.Status != q.Status) || (q.LocalID != "" && p.LocalID != q.LocalID) {
				continue
			}
			if len(out) == limit {
				next = base64.RawURLEncoding.EncodeToString([]byte(out[len(out)-1].ID))
				return nil
			}
			out = append(out, &p)
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return out, next, nil
}

// SavePushRemote stores a push's snapshot.
func (s *Store) SavePushRemote(_ context.Context, integrationID, pushID string, r integration.PushRemote) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketPurged).Get([]byte(integrationID)) != nil {
			return integration.ErrRunStopped
		}
		return putJSON(tx, bucketPushRemotes, key(integrationID, pushID), r)
	})
}

// GetPushRemote reads a push's snapshot.
func (s *Store) GetPushRemote(_ context.Context, integrationID, pushID string) (*integration.PushRemote, error) {
	var r integration.PushRemote
	err := s.db.View(func(tx *bolt.Tx) error {
		ok, err := getJSON(tx, bucketPushRemotes, key(integrationID, pushID), &r)
		if err == nil && !ok {
			err = integration.Errorf(integration.ENOTFOUND, "Push %q has no snapshot of the platform's version.", pushID)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// DeletePushRemote removes a push's snapshot.
func (s *Store) DeletePushRemote(_ context.Context, integrationID, pushID string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketPushRemotes).Delete(key(integrationID, pushID))
	})
}
