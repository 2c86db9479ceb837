package oauth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/joinery/joinery/pkg/integration"
)

const (
	// RenewWindow: the scheduler refreshes ahead the tokens of
	// integrations whose run is due within it, and no others.
	RenewWindow = 15 * time.Minute
	renewPage   = 100
)

// RenewResult says what one scheduler pass over the tokens did.
type RenewResult struct {
	Checked int // OAuth integrations due within the window
	// Renewed were due a refresh by their item's facts: their tokens
	// were read, and refreshed unless another process had just done so.
	Renewed  int
	Failures []error
}

// RenewDue refreshes ahead, once per scheduler tick, the tokens of the
// OAuth integrations the scheduler's due index has due within
// RenewWindow: those whose access token would be within its refresh
// margin when their run starts, and those whose refresh token has gone
// unused for longer than the platform's keepalive_days (after which
// Atlassian and Shopify let it lapse). The integration's own facts
// (oauth.expires_at, oauth.refreshed_at) decide, so no secret is read for
// one that needs nothing. A failure of one integration is in the result;
// the pass goes on.
func (t *Tokens) RenewDue(ctx context.Context) (RenewResult, error) {
	var res RenewResult
	if t == nil {
		return res, nil
	}
	now := t.now()
	horizon := now.Add(RenewWindow)
	for _, shard := range t.Integrations.DueShards() {
		cursor := ""
		for {
			if deadlineLeft(ctx) < MinRefreshDeadline {
				return res, nil // the next tick goes on
			}
			its, next, err := t.Integrations.DuePage(ctx, shard, horizon, renewPage, cursor)
			if err != nil {
				res.Failures = append(res.Failures, fmt.Errorf("due index shard %s: %w", shard, err))
				break
			}
			for _, it := range its {
				renewed, err := t.renewOne(ctx, it, now)
				if err == errNotOAuth {
					continue
				}
				res.Checked++
				if err != nil {
					res.Failures = append(res.Failures, fmt.Errorf("integration %s: %w", it.ID, err))
				} else if renewed {
					res.Renewed++
				}
			}
			if next == "" {
				break
			}
			cursor = next
		}
	}
	return res, nil
}

var errNotOAuth = errors.New("not an OAuth integration")

func (t *Tokens) renewOne(ctx context.Context, it *integration.Integration, now time.Time) (bool, error) {
	e, ok := t.Catalog.Entry(it.Platform)
	if !ok || e.OAuth == nil {
		return false, errNotOAuth
	}
	if !it.Credentials.HasCredentials() || it.ConnectionStatus == integration.ConnectionReauthorizationNeeded {
		return false, nil
	}
	runAt := now
	if it.NextSyncAt != nil && it.NextSyncAt.After(now) {
		runAt = *it.NextSyncAt
	}
	o := it.OAuth
	// A paused integration runs nothing, but its grant is kept alive.
	due := o == nil && it.IsActive // no facts on the item: the secret says
	if it.IsActive && o != nil && o.ExpiresAt != nil && expiring(e, TokenSet{ExpiresAt: *o.ExpiresAt}, runAt) {
		due = true
	}
	if e.OAuth.KeepaliveDays > 0 && o != nil {
		// Kept alive by its renewal time, or, on an item that has none
		// yet, by its last refresh.
		switch {
		case o.RenewAt != nil:
			due = due || !o.RenewAt.After(now)
		case o.RefreshedAt != nil:
			due = due || !now.Before(RenewAt(e, *o.RefreshedAt))
		default:
			due = true
		}
	}
	if !due {
		return false, nil
	}
	return true, t.Renew(ctx, it, runAt)
}
