package integration

import (
	"context"
	"time"
)

// PushResolved is a push whose conflict was settled by keeping the
// platform's version: it was not applied.
const PushResolved PushStatus = "resolved"

// PushStatuses are every status a push can be in.
var PushStatuses = []PushStatus{PushQueued, PushDone, PushFailed, PushConflict, PushResolved}

// PushQuery pages through an integration's pushes, newest first.
type PushQuery struct {
	IntegrationID string
	Status        PushStatus // optional
	LocalID       string     // optional
	Limit         int
	Cursor        string
}

// PushRemote is the platform's version of an item, kept when a push met a
// conflict it may not settle on its own (the manual policy), for the host
// app to look at and settle.
type PushRemote struct {
	Data       []byte // the normalized record, JSON, as the records show it
	ModifiedAt time.Time
}

// PushConflicts lists pushes and keeps the snapshots conflicts need.
type PushConflicts interface {
	// PagePushes pages through the integration's pushes newest first,
	// filtered by status and local id when set, with a bounded number of
	// reads a page: a page may hold fewer than Limit pushes and still have
	// a next cursor. The cursor is opaque ("": from the newest); one it did
	// not issue is EINVALID naming cursor. The next cursor is "" at the end.
	PagePushes(ctx context.Context, q PushQuery) ([]*Push, string, error)
	// SavePushRemote stores (or replaces) the snapshot of a push. Large
	// data goes to parts, as a record's does. It does not expire: DeletePushRemote removes it.
	SavePushRemote(ctx context.Context, integrationID, pushID string, r PushRemote) error
	// GetPushRemote returns ENOTFOUND when the push has no snapshot.
	GetPushRemote(ctx context.Context, integrationID, pushID string) (*PushRemote, error)
	// DeletePushRemote removes a push's snapshot, if any.
	DeletePushRemote(ctx context.Context, integrationID, pushID string) error
}
