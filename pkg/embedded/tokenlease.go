package embedded

import (
	"context"
	"encoding/json"
	"time"

	"github.com/joinery/joinery/pkg/integration"
	bolt "go.etcd.io/bbolt"
)

var _ integration.TokenLeases = (*Store)(nil)

// bucketTokenLeases holds token leases, integration id → JSON TokenLease.
// It is made on first use, so a data file of an earlier release needs
// nothing.
var bucketTokenLeases = []byte("token_leases")

// AcquireTokenLease implements integration.TokenLeases; bbolt's one writer
// makes the check and the take one atomic step.
func (s *Store) AcquireTokenLease(_ context.Context, integrationID, holder string, now, until time.Time) (cur *integration.TokenLease, ok bool, err error) {
	err = s.db.Update(func(tx *bolt.Tx) error {
		bk, err := tx.CreateBucketIfNotExists(bucketTokenLeases)
		if err != nil {
			return err
		}
		if raw := bk.Get([]byte(integrationID)); raw != nil {
			var old integration.TokenLease
			if err := json.Unmarshal(raw, &old); err != nil {
				return err
			}
			if old.Holder != holder {
				cur = &old
				if old.Until.After(now) {
					return nil
				}
			}
		}
		raw, err := json.Marshal(integration.TokenLease{Holder: holder, Until: until.UTC()})
		if err != nil {
			return err
		}
		ok = true
		return bk.Put([]byte(integrationID), raw)
	})
	if err != nil {
		return nil, false, err
	}
	return cur, ok, nil
}

// ReleaseTokenLease implements integration.TokenLeases.
func (s *Store) ReleaseTokenLease(_ context.Context, integrationID, holder string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketTokenLeases)
		if bk == nil {
			return nil
		}
		var old integration.TokenLease
		if raw := bk.Get([]byte(integrationID)); raw == nil || json.Unmarshal(raw, &old) != nil || old.Holder != holder {
			return nil
		}
		return bk.Delete([]byte(integrationID))
	})
}
