package embedded

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/joinery/joinery/pkg/integration"
	bolt "go.etcd.io/bbolt"
)

// sweepRunsPerStart is how many expired runs a new run's start removes:
// more than the one it adds, so an integration's runs stay bounded.
const sweepRunsPerStart = 2

// sweepRuns removes the integration's oldest runs past their retention
// (integration.RunRetention after they finished), with their jobs'
// bookkeeping, up to max of them. Run ids sort by time: it stops at the
// first run still kept.
func sweepRuns(tx *bolt.Tx, integrationID string, now time.Time, max int) error {
	prefix := key(integrationID, "")
	active := string(tx.Bucket(bucketActive).Get([]byte(integrationID)))
	var doomed []string
	c := tx.Bucket(bucketRuns).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && len(doomed) < max; k, v = c.Next() {
		var r integration.Run
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("decode run %s: %w", k[len(prefix):], err)
		}
		if r.ID == active || now.Before(r.ExpiresAt()) {
			break
		}
		doomed = append(doomed, r.ID)
	}
	for _, runID := range doomed {
		if err := tx.Bucket(bucketRuns).Delete(runKey(integrationID, runID)); err != nil {
			return err
		}
		if err := tx.Bucket(bucketFinishers).Delete(runKey(integrationID, runID)); err != nil {
			return err
		}
		runPrefix := key(integrationID, runID, "")
		for _, b := range [][]byte{bucketJobs, bucketReads, bucketDeltas, bucketSpawns, bucketSeenIndex} {
			var keys [][]byte
			c := tx.Bucket(b).Cursor()
			for k, _ := c.Seek(runPrefix); k != nil && bytes.HasPrefix(k, runPrefix); k, _ = c.Next() {
				keys = append(keys, append([]byte{}, k...))
			}
			for _, k := range keys {
				if err := tx.Bucket(b).Delete(k); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// sweepEvents removes up to max of the integration's oldest events past
// EventRetention (at now). Event ids sort by time: it stops at the first
// one kept. Called as events are added, with max above their number, so
// an integration's events stay bounded.
func sweepEvents(tx *bolt.Tx, integrationID string, now time.Time, max int) error {
	prefix := key(integrationID, "")
	var doomed [][]byte
	c := tx.Bucket(bucketEvents).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && len(doomed) < max; k, v = c.Next() {
		var e integration.SyncEvent
		if err := json.Unmarshal(v, &e); err == nil && now.Sub(e.At) < EventRetention {
			break
		}
		doomed = append(doomed, append([]byte{}, k...))
	}
	for _, k := range doomed {
		if err := tx.Bucket(bucketEvents).Delete(k); err != nil {
			return err
		}
	}
	return nil
}
