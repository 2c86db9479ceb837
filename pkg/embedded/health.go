package embedded

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"time"

	"github.com/joinery/joinery/pkg/integration"
	bolt "go.etcd.io/bbolt"
)

var (
	bucketHealth      = []byte("health")       // integration \x00 hour → counts
	bucketDeadLetters = []byte("dead_letters") // integration \x00 message id → dead letter
	// The count keys counted, and the same by when they expire (to sweep).
	bucketCounted   = []byte("health_counted")    // integration \x00 count key → expires
	bucketCountedAt = []byte("health_counted_at") // integration \x00 expires \x00 count key → nothing
)

func init() {
	syncBuckets = append(syncBuckets, bucketHealth, bucketDeadLetters, bucketCounted, bucketCountedAt)
}

// sweepHealthPerCount is how many expired count keys (and hourly
// buckets) a count removes: more than it adds, so they stay bounded.
const sweepHealthPerCount = 2

type healthBucket struct {
	Counts    map[string]int64 `json:"counts"`
	ExpiresAt time.Time        `json:"expires_at"`
}

func healthKey(integrationID string, t time.Time) []byte {
	return key(integrationID, integration.HealthHour(t).Format("2006-01-02T15"))
}

// countHealth adds n to field in the bucket of at's hour.
func countHealth(tx *bolt.Tx, integrationID string, at time.Time, field string, n int64) error {
	k := healthKey(integrationID, at)
	var b healthBucket
	if _, err := getJSON(tx, bucketHealth, k, &b); err != nil {
		return err
	}
	if b.Counts == nil {
		b.Counts = map[string]int64{}
	}
	b.Counts[field] += n
	b.ExpiresAt = integration.HealthHour(at).Add(integration.HealthRetention)
	return putJSON(tx, bucketHealth, k, b)
}

// countEvents counts the events HealthField names (in AddEvents'
// transaction), each count key once: its ID when it has none.
func countEvents(tx *bolt.Tx, evs []integration.SyncEvent, now time.Time) error {
	for _, e := range evs {
		f := integration.HealthField(e)
		if f == "" {
			continue
		}
		k := key(e.IntegrationID, cmp.Or(e.CountKey, e.ID))
		if tx.Bucket(bucketCounted).Get(k) != nil {
			continue
		}
		expires := integration.HealthHour(e.At).Add(integration.HealthRetention).UTC().Format(time.RFC3339)
		if err := tx.Bucket(bucketCounted).Put(k, []byte(expires)); err != nil {
			return err
		}
		if err := tx.Bucket(bucketCountedAt).Put(key(e.IntegrationID, expires, cmp.Or(e.CountKey, e.ID)), nil); err != nil {
			return err
		}
		if err := countHealth(tx, e.IntegrationID, e.At, f, 1); err != nil {
			return err
		}
		if err := sweepHealth(tx, e.IntegrationID, now, sweepHealthPerCount); err != nil {
			return err
		}
	}
	return nil
}

// sweepHealth removes up to max of the integration's count keys, and of
// its hourly buckets, past their expiry. Both sort by time: it stops at
// the first one kept.
func sweepHealth(tx *bolt.Tx, integrationID string, now time.Time, max int) error {
	prefix := key(integrationID, "")
	cutoff := now.UTC().Format(time.RFC3339)
	var keys, at [][]byte
	c := tx.Bucket(bucketCountedAt).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && len(at) < max; k, _ = c.Next() {
		expires, countKey, _ := bytes.Cut(k[len(prefix):], []byte{0})
		if string(expires) > cutoff {
			break
		}
		at = append(at, append([]byte{}, k...))
		keys = append(keys, key(integrationID, string(countKey)))
	}
	var hours [][]byte
	c = tx.Bucket(bucketHealth).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && len(hours) < max; k, v = c.Next() {
		var b healthBucket
		if err := json.Unmarshal(v, &b); err == nil && now.Before(b.ExpiresAt) {
			break
		}
		hours = append(hours, append([]byte{}, k...))
	}
	for _, d := range []struct {
		bucket []byte
		keys   [][]byte
	}{{bucketCountedAt, at}, {bucketCounted, keys}, {bucketHealth, hours}} {
		for _, k := range d.keys {
			if err := tx.Bucket(d.bucket).Delete(k); err != nil {
				return err
			}
		}
	}
	return nil
}

// HealthCounts sums the buckets from since's hour on.
func (s *Store) HealthCounts(_ context.Context, integrationID string, since time.Time) (integration.HealthCounts, error) {
	var h integration.HealthCounts
	err := s.db.View(func(tx *bolt.Tx) error {
		prefix := key(integrationID, "")
		c := tx.Bucket(bucketHealth).Cursor()
		for k, v := c.Seek(healthKey(integrationID, since)); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			var b healthBucket
			if err := json.Unmarshal(v, &b); err != nil {
				return err
			}
			for f, n := range b.Counts {
				h.Add(f, n)
			}
		}
		return nil
	})
	return h, err
}

// KeepDeadLetter stores it once per ID, counting it in the same transaction.
func (s *Store) KeepDeadLetter(_ context.Context, d integration.DeadLetter, counted bool) (bool, error) {
	kept := false
	err := s.db.Update(func(tx *bolt.Tx) error {
		k := key(d.IntegrationID, d.ID)
		if tx.Bucket(bucketDeadLetters).Get(k) != nil {
			return nil
		}
		kept = true
		if counted {
			if err := countHealth(tx, d.IntegrationID, d.At, integration.HealthDeadLetters, 1); err != nil {
				return err
			}
		}
		return putJSON(tx, bucketDeadLetters, k, d)
	})
	return kept, err
}

// DeadLetters returns up to limit of them, leaving out those past their
// retention.
func (s *Store) DeadLetters(_ context.Context, integrationID string, limit int) ([]integration.DeadLetter, error) {
	out := []integration.DeadLetter{}
	cutoff := time.Now().Add(-integration.DeadLetterRetention)
	err := s.db.View(func(tx *bolt.Tx) error {
		prefix := key(integrationID, "")
		c := tx.Bucket(bucketDeadLetters).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && len(out) < max(limit, 1); k, v = c.Next() {
			var d integration.DeadLetter
			if err := json.Unmarshal(v, &d); err != nil {
				return err
			}
			if d.At.After(cutoff) {
				out = append(out, d)
			}
		}
		return nil
	})
	return out, err
}

// TakeDeadLetter deletes it; false if it was gone.
func (s *Store) TakeDeadLetter(_ context.Context, integrationID, id string) (bool, error) {
	took := false
	err := s.db.Update(func(tx *bolt.Tx) error {
		k := key(integrationID, id)
		if tx.Bucket(bucketDeadLetters).Get(k) == nil {
			return nil
		}
		took = true
		return tx.Bucket(bucketDeadLetters).Delete(k)
	})
	return took, err
}
