package integration

import (
	"context"
	"time"
)

// TokenLease is who may refresh an integration's OAuth tokens, and until
// when. Only the holder calls the platform's token endpoint, so however
// many Lambdas need a token at once, a refresh token is used once.
type TokenLease struct {
	Holder string
	Until  time.Time
}

// TokenLeases keeps one lease per integration in the store, so that every
// process of a deployment sees the same one.
type TokenLeases interface {
	// AcquireTokenLease takes the integration's lease for holder until
	// until, atomically, if it is free or expired at now (the caller's
	// clock) or already holder's. ok reports whether holder holds it now;
	// when not, cur is the lease that stands in the way. When ok, cur is
	// the expired lease taken over (its holder stopped without releasing
	// it: it may have used the refresh token without storing the answer),
	// or nil.
	AcquireTokenLease(ctx context.Context, integrationID, holder string, now, until time.Time) (cur *TokenLease, ok bool, err error)
	// ReleaseTokenLease frees the lease if holder still holds it; freeing
	// a lease someone else holds (or none) changes nothing.
	ReleaseTokenLease(ctx context.Context, integrationID, holder string) error
}

// TokenLeaseTTL is how long a lease is kept in the store after it
// expires; an expired lease and none are the same to AcquireTokenLease,
// except that the taker learns a holder stopped half-way.
const TokenLeaseTTL = 24 * time.Hour
