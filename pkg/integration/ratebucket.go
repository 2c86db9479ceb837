package integration

import (
	"context"
	"math"
	"time"
)

// RateBucket is a token bucket per key (an integration's platform), kept
// in the store so that every worker of every process draws on the same
// tokens. Callers take tokens in batches (one call a page, not one a
// request) and wait as told.
type RateBucket interface {
	// TakeTokens takes up to n tokens from key's bucket, which refills at
	// rate tokens a second up to burst, as of now (the caller's clock).
	// It grants what the bucket holds, at most n; when it grants none,
	// wait says how long until one is there (or until the bucket's hold
	// ends). The update is atomic against every other caller.
	TakeTokens(ctx context.Context, key string, n int, rate float64, burst int, now time.Time) (granted int, wait time.Duration, err error)
	// HoldTokens grants no token of key's bucket before until (a
	// platform's Retry-After); an earlier hold than the one stored changes
	// nothing.
	HoldTokens(ctx context.Context, key string, until time.Time) error
}

// RateBucketTTL is how long a bucket nobody uses is kept: a full bucket
// and an empty item are the same.
const RateBucketTTL = 24 * time.Hour

// Bucket is a token bucket's stored state.
type Bucket struct {
	Tokens    float64
	Updated   time.Time // when Tokens was computed
	NotBefore time.Time // no token before this (zero: none)
}

// Take is the bucket arithmetic both stores share: it refills b up to now
// and takes up to n tokens. A clock behind the stored one (another
// worker's) refills nothing rather than going back.
func (b Bucket) Take(n int, rate float64, burst int, now time.Time) (next Bucket, granted int, wait time.Duration) {
	burst = max(burst, 1)
	if b.Updated.IsZero() {
		b.Tokens, b.Updated = float64(burst), now
	}
	if now.After(b.Updated) {
		if rate > 0 {
			b.Tokens = math.Min(float64(burst), b.Tokens+rate*now.Sub(b.Updated).Seconds())
		}
		b.Updated = now
	}
	if now.Before(b.NotBefore) {
		return b, 0, b.NotBefore.Sub(now)
	}
	granted = min(n, int(math.Floor(b.Tokens)))
	if granted > 0 {
		b.Tokens -= float64(granted)
		return b, granted, 0
	}
	if rate <= 0 {
		return b, 0, time.Second
	}
	wait = time.Duration(math.Ceil((1 - b.Tokens) / rate * float64(time.Second)))
	return b, 0, max(wait, time.Millisecond)
}
