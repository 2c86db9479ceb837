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
	// TakeTokens takes a batch of n tokens (at most burst) from key's
	// bucket, which refills at rate tokens a second up to burst, as of now
	// (the caller's clock). The update is atomic against every other
	// caller. granted > 0: the tokens are the caller's to use after wait
	// (0 when the bucket held them; otherwise they are reserved ahead,
	// at most a full bucket's refill time, so a busy bucket costs one
	// call a batch, in the order callers came). granted == 0: nothing is
	// taken; ask again after wait (the bucket is reserved further ahead,
	// or held).
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
// and takes a batch, reserving ahead (Tokens below zero) up to a full
// bucket's refill time. A clock behind the stored one (another worker's)
// refills nothing rather than going back.
func (b Bucket) Take(n int, rate float64, burst int, now time.Time) (next Bucket, granted int, wait time.Duration) {
	burst = max(burst, 1)
	if rate <= 0 {
		rate = 1
	}
	if b.Updated.IsZero() {
		b.Tokens, b.Updated = float64(burst), now
	}
	lag := max(b.Updated.Sub(now), 0)
	if now.After(b.Updated) {
		b.Tokens = math.Min(float64(burst), b.Tokens+rate*now.Sub(b.Updated).Seconds())
		b.Updated = now
	}
	if now.Before(b.NotBefore) {
		return b, 0, b.NotBefore.Sub(now)
	}
	need := float64(min(max(n, 1), burst))
	if b.Tokens >= need {
		b.Tokens -= need
		return b, int(need), 0
	}
	// Reserved ahead no further than one full bucket: beyond that, come back.
	if b.Tokens-need < -float64(burst) {
		over := -float64(burst) - (b.Tokens - need)
		return b, 0, seconds(over/rate) + lag
	}
	wait = seconds((need-b.Tokens)/rate) + lag
	b.Tokens -= need
	return b, int(need), wait
}

func seconds(s float64) time.Duration {
	return max(time.Duration(math.Ceil(s*float64(time.Second))), time.Millisecond)
}
