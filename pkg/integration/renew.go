package integration

import "time"

// DueAt is when the scheduler's due index has the integration due: the
// earlier of its next sync and its grant's renewal (OAuthInfo.RenewAt);
// nil: neither, and it is not in the index. An integration due only for
// its renewal starts no run.
func DueAt(it *Integration) *time.Time {
	due := it.NextSyncAt
	if it.OAuth != nil && it.OAuth.RenewAt != nil && (due == nil || it.OAuth.RenewAt.Before(*due)) {
		due = it.OAuth.RenewAt
	}
	return due
}
