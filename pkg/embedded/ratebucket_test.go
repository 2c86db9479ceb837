package embedded

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/conformance"
	"github.com/joinery/joinery/pkg/integration"
	bolt "go.etcd.io/bbolt"
)

func TestRateBucketConformance(t *testing.T) {
	s, err := OpenStore(filepath.Join(t.TempDir(), "joinery.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	conformance.TestRateBucket(t, func(*testing.T) integration.RateBucket { return s })
}

// TestIdleRateBucketsAreSwept: a bucket unused for RateBucketTTL goes at
// a later use of any bucket (its integration may be gone: its key is not
// the integration's own), and a bucket in use stays.
func TestIdleRateBucketsAreSwept(t *testing.T) {
	s := openTestStore(t, filepath.Join(t.TempDir(), "j.db"))
	ctx := context.Background()
	now := time.Now()
	for _, key := range []string{"platform#gone-1", "platform#gone-2", "platform#kept"} {
		if _, _, err := s.TakeTokens(ctx, key, 1, 1, 10, now); err != nil {
			t.Fatal(err)
		}
	}
	// The first two were last used longer ago than the TTL.
	if err := s.db.Update(func(tx *bolt.Tx) error {
		for _, key := range []string{"platform#gone-1", "platform#gone-2"} {
			var b storedBucket
			if err := json.Unmarshal(tx.Bucket(bucketRates).Get([]byte(key)), &b); err != nil {
				return err
			}
			if err := tx.Bucket(bucketRatesIdle).Delete(idleKey(b.Expires, key)); err != nil {
				return err
			}
			b.Expires = now.Add(-time.Minute)
			raw, _ := json.Marshal(b)
			if err := tx.Bucket(bucketRates).Put([]byte(key), raw); err != nil {
				return err
			}
			if err := tx.Bucket(bucketRatesIdle).Put(idleKey(b.Expires, key), nil); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.HoldTokens(ctx, "platform#kept", now.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	var left []string
	_ = s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketRates).ForEach(func(k, _ []byte) error { left = append(left, string(k)); return nil })
	})
	if fmt.Sprint(left) != "[platform#kept]" {
		t.Fatalf("buckets left: %v, want only the one in use", left)
	}
	var idle int
	_ = s.db.View(func(tx *bolt.Tx) error { idle = tx.Bucket(bucketRatesIdle).Stats().KeyN; return nil })
	if idle != 1 {
		t.Fatalf("%d idle entries, want 1", idle)
	}
}
