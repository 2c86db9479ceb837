package embedded

import (
	"bytes"
	"context"
	"time"

	"github.com/joinery/joinery/pkg/integration"
	bolt "go.etcd.io/bbolt"
)

// purgeAll is the page DeleteSyncData purges with, call after call.
const purgeAll = 1000

// PurgeSyncData marks the integration purged and stops its active run,
// then deletes up to limit of its keys, bucket by bucket, in one
// transaction: a call cut short leaves everything as it was.
func (s *Store) PurgeSyncData(_ context.Context, integrationID string, limit int) (bool, error) {
	if limit <= 0 {
		limit = purgeAll
	}
	more := false
	err := s.db.Update(func(tx *bolt.Tx) error {
		more = false
		id := []byte(integrationID)
		if tx.Bucket(bucketPurged).Get(id) == nil {
			at, err := time.Now().UTC().MarshalText()
			if err != nil {
				return err
			}
			if err := tx.Bucket(bucketPurged).Put(id, at); err != nil {
				return err
			}
		}
		if runID := tx.Bucket(bucketActive).Get(id); runID != nil {
			r, err := loadRun(tx, integrationID, string(runID))
			if err == nil && r.Active() {
				at := time.Now().UTC()
				r.Status, r.Error, r.FinishedAt = integration.RunError, "The integration was deleted.", &at
				if err := putJSON(tx, bucketRuns, runKey(integrationID, r.ID), r); err != nil {
					return err
				}
			}
		}
		budget := limit
		prefix := key(integrationID, "")
		for _, b := range syncBuckets {
			bk := tx.Bucket(b)
			if bk.Get(id) != nil {
				if err := bk.Delete(id); err != nil {
					return err
				}
				budget--
			}
			var doomed [][]byte
			c := bk.Cursor()
			for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && len(doomed) < budget; k, _ = c.Next() {
				doomed = append(doomed, append([]byte{}, k...))
			}
			if bytes.Equal(b, bucketRecords) {
				if err := leaveSiteFeed(tx, doomed); err != nil {
					return err
				}
			}
			// Deleted after the walk: a cursor does not survive its bucket changing.
			for _, k := range doomed {
				if err := bk.Delete(k); err != nil {
					return err
				}
			}
			if budget -= len(doomed); budget <= 0 {
				more = true
				return nil
			}
		}
		return nil
	})
	return more, err
}

// DeleteSyncData purges the integration's sync data to its end.
func (s *Store) DeleteSyncData(ctx context.Context, integrationID string) error {
	for {
		more, err := s.PurgeSyncData(ctx, integrationID, purgeAll)
		if err != nil || !more {
			return err
		}
	}
}
