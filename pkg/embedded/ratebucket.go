package embedded

import (
	"context"
	"encoding/json"
	"time"

	"github.com/joinery/joinery/pkg/integration"
	bolt "go.etcd.io/bbolt"
)

var _ integration.RateBucket = (*Store)(nil)

// bucketRates holds the rate buckets, key → JSON Bucket. It is made on
// first use, so a data file of an earlier release needs nothing.
var bucketRates = []byte("rate_buckets")

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
		var b integration.Bucket
		if raw := bk.Get([]byte(key)); raw != nil {
			if err := json.Unmarshal(raw, &b); err != nil {
				return err
			}
		}
		raw, err := json.Marshal(f(b))
		if err != nil {
			return err
		}
		return bk.Put([]byte(key), raw)
	})
}
