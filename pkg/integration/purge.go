package integration

import "context"

// SyncPurger removes a deleted integration's sync data in bounded steps,
// so that any amount of it goes in calls of bounded work.
type SyncPurger interface {
	// PurgeSyncData first marks the integration's sync data purged (the
	// mark stays: every later write is refused with ErrRunStopped) and
	// stops its active run, then deletes at most limit of its stored
	// items, reading no more than limit items to find them. more: items
	// may be left, call it again. Each call starts from what is left, so
	// a call cut short costs nothing but doing it again.
	PurgeSyncData(ctx context.Context, integrationID string, limit int) (more bool, err error)
}
