package embedded

import (
	"bytes"
	"context"
	"encoding/json"
	"time"

	"github.com/joinery/joinery/pkg/integration"
	bolt "go.etcd.io/bbolt"
)

var _ integration.RateBucket = (*Store)(nil)

// bucketRates holds the rate buckets, key → JSON Bucket; bucketRatesIdle
// the same by when they expire unused (expires \x00 key → nothing), to
// sweep. They are made on first use, so a data file of an earlier
// release needs nothing.
var (
	bucketRates     = []byte("rate_buckets")
	bucketRatesIdle = []byte("rate_buckets_idle")
)

// sweepRatesPerUse is how many buckets unused for RateBucketTTL a use
// removes: more than it adds, so buckets of integrations gone, whose keys
// are not the integration's own, do not stay for ever.
const sweepRatesPerUse = 2

// storedBucket is a bucket and when it expires unused (zero: written by
// an earlier release, never swept).
type storedBucket struct {
	integration.Bucket
	Expires time.Time `json:",omitempty"`
}

// TakeTokens implements integration.RateBucket; bbolt's one writer makes
// the read and the write one atomic step.
func (s *Store) TakeTokens(_ context.Context, key string, n int, rate float64, burst int, now time.Time) (granted int, wait time.Duration, err error) {
	err = s.updateBucket(key, func(b integration.Bucket) integration.Bucket {
		var next integration.Bucket
		next, granted, wait = b.Take(n, rate, burst, now)
		return next
	})
	return granted, wait, err
}

// HoldTokens implements integration.RateBucket.
func (s *Store) HoldTokens(_ context.Context, key string, until time.Time) error {
	return s.updateBucket(key, func(b integration.Bucket) integration.Bucket {
		if until.After(b.NotBefore) {
			b.NotBefore = until
		}
		return b
	})
}

func (s *Store) updateBucket(key string, f func(integration.Bucket) integration.Bucket) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		bk, err := tx.CreateBucketIfNotExists(bucketRates)
		if err != nil {
			return err
		}
		idle, err := tx.CreateBucketIfNotExists(bucketRatesIdle)
		if err != nil {
			return err
		}
		var b storedBucket
		if raw := bk.Get([]byte(key)); raw != nil {
			if err := json.Unmarshal(raw, &b); err != nil {
				return err
			}
		}
		if !b.Expires.IsZero() {
			if err := idle.Delete(idleKey(b.Expires, key)); err != nil {
				return err
			}
		}
		now := time.Now().UTC()
		next := storedBucket{Bucket: f(b.Bucket), Expires: now.Add(integration.RateBucketTTL)}
		raw, err := json.Marshal(next)
		if err != nil {
			return err
		}
		if err := bk.Put([]byte(key), raw); err != nil {
			return err
		}
		if err := idle.Put(idleKey(next.Expires, key), nil); err != nil {
			return err
		}
		return sweepRates(tx, now, sweepRatesPerUse)
	})
}

// idleLayout is fixed-width, so that keys sort by time.
const idleLayout = "2006-01-02T15:04:05.000000000Z"

func idleKey(expires time.Time, key string) []byte {
	return []byte(expires.UTC().Format(idleLayout) + "\x00" + key)
}

// sweepRates removes up to max buckets past their expiry, oldest first.
func sweepRates(tx *bolt.Tx, now time.Time, max int) error {
	return sweepExpired(tx, bucketRates, bucketRatesIdle, now, max)
}

// sweepExpired removes up to n entries of data past their expiry, oldest
// first: index holds idleKey(expires, key) for each of data's keys.
func sweepExpired(tx *bolt.Tx, data, index []byte, now time.Time, n int) error {
	cutoff := now.UTC().Format(idleLayout)
	var doomed [][]byte
	c := tx.Bucket(index).Cursor()
	for k, _ := c.First(); k != nil && len(doomed) < n; k, _ = c.Next() {
		expires, _, _ := bytes.Cut(k, []byte{0})
		if string(expires) > cutoff {
			break
		}
		doomed = append(doomed, append([]byte{}, k...))
	}
	for _, k := range doomed {
		_, key, _ := bytes.Cut(k, []byte{0})
		if err := tx.Bucket(data).Delete(key); err != nil {
			return err
		}
		if err := tx.Bucket(index).Delete(k); err != nil {
			return err
		}
	}
	return nil
}
