package syncer

import (
	"context"
	"fmt"
	"time"

	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/integration"
)

// A cost-based platform (the catalog's rate_limit.cost_based: Shopify's
// GraphQL Admin API) limits by the points its queries cost, not by
// requests. Its connector learns the store's bucket from each answer and
// takes each call's expected cost from the integration's budget before
// the call; the budget is a token bucket in the store (RateBucket) under
// cost:<integration id>, so every worker of every process draws on the
// same points, and a throttle's hold stops them all. Waits are on the
// engine's clock (Rates.Sleep: a test's virtual clock).

// costMaxWait is the longest a call waits for points in the worker (0
// Rates.MaxWait: this); a longer wait sends its job back to the queue.
const costMaxWait = 30 * time.Second

// costBudget is an integration's budget of a cost-based platform's points.
type costBudget struct {
	e      *Engine
	bucket integration.RateBucket
	key    string
}

var _ connector.CostBudget = (*costBudget)(nil)

// costBudget is the integration's budget when its platform is cost-based
// (nil otherwise).
func (e *Engine) costBudget(it *integration.Integration) connector.CostBudget {
	entry, ok := rateCatalog.Entry(it.Platform)
	if !ok || !entry.RateLimit.CostBased {
		return nil
	}
	var bucket integration.RateBucket = e.Store
	if e.Rates != nil && e.Rates.Bucket != nil {
		bucket = e.Rates.Bucket
	}
	if bucket == nil {
		return nil
	}
	return &costBudget{e: e, bucket: bucket, key: "cost:" + it.ID}
}

// Take waits until n points are the caller's. A wait beyond the maximum
// is a rate-limited error with that wait, so the job is retried then.
func (b *costBudget) Take(ctx context.Context, n int, rate float64, burst int) error {
	maxWait := costMaxWait
	if b.e.Rates != nil && b.e.Rates.MaxWait > 0 {
		maxWait = b.e.Rates.MaxWait
	}
	for range maxWaitRounds {
		granted, wait, err := b.bucket.TakeTokens(ctx, b.key, n, rate, burst, b.e.now())
		if err != nil {
			return fmt.Errorf("cost budget: %w", err)
		}
		if wait > maxWait {
			return &connector.Error{Kind: connector.ErrRateLimited, RetryAfter: wait,
				Message: "Joinery is waiting for the store's API points to be restored."}
		}
		if wait > 0 {
			if err := b.sleep(ctx, wait); err != nil {
				return err
			}
		}
		if granted > 0 {
			return nil
		}
	}
	return &connector.Error{Kind: connector.ErrRateLimited, RetryAfter: maxWait, Message: "Joinery is waiting for the store's API points to be restored."}
}

// Hold lets no worker of the integration take points before until.
func (b *costBudget) Hold(ctx context.Context, until time.Time) error {
	return b.bucket.HoldTokens(ctx, b.key, until)
}

func (b *costBudget) sleep(ctx context.Context, d time.Duration) error {
	if b.e.Rates != nil {
		return b.e.Rates.sleep(ctx, d)
	}
	return (&Rates{}).sleep(ctx, d)
}
