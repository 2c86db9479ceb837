package integration

import (
	"context"
	"time"
)

// CursorKeys gives the keys that sign the API's pagination cursors, so a
// cursor cannot be forged, altered or carried over to another listing.
type CursorKeys interface {
	// CursorKeys returns the current key and, once a key has been
	// rotated, the one before it with the time the current one replaced
	// it. It is read again now and then: a rotation shows without a
	// restart.
	CursorKeys(ctx context.Context) (CursorKeySet, error)
}

// CursorKeySet is the current cursor key and the previous one.
type CursorKeySet struct {
	Current []byte
	// Previous is nil until a key has been rotated.
	Previous []byte
	// RotatedAt is when Current replaced Previous (zero without one).
	RotatedAt time.Time
}

// MinCursorKeyBytes is the shortest key a cursor is signed with.
const MinCursorKeyBytes = 32

// CursorKeyGrace is how long after a rotation cursors signed with the
// previous key are still accepted: a listing under way when the key
// changes goes on.
const CursorKeyGrace = 24 * time.Hour
