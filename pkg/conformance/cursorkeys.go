package conformance

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/integration"
)

// CursorKeyStore is one place the cursor keys can be kept, opened for a
// test as a deployment first has it: Keys reads it; Reopen reads the same
// place afresh (another process); Rotate puts a new key in place the way
// an operator would.
type CursorKeyStore struct {
	Keys   integration.CursorKeys
	Reopen func(t *testing.T) integration.CursorKeys
	Rotate func(t *testing.T)
}

// TestCursorKeys runs the cursor keys conformance suite. open returns a
// fresh store.
func TestCursorKeys(t *testing.T, open func(t *testing.T) CursorKeyStore) {
	ctx := context.Background()
	read := func(t *testing.T, k integration.CursorKeys) integration.CursorKeySet {
		t.Helper()
		set, err := k.CursorKeys(ctx)
		if err != nil {
			t.Fatalf("cursor keys: %v", err)
		}
		return set
	}
	t.Run("a key from the start, the same for every reader", func(t *testing.T) {
		s := open(t)
		first := read(t, s.Keys)
		if len(first.Current) < integration.MinCursorKeyBytes {
			t.Fatalf("current key of %d bytes, want at least %d", len(first.Current), integration.MinCursorKeyBytes)
		}
		if first.Previous != nil || !first.RotatedAt.IsZero() {
			t.Fatalf("a previous key before any rotation: %+v", first)
		}
		if again := read(t, s.Keys); !bytes.Equal(again.Current, first.Current) {
			t.Fatal("the key changed between two reads")
		}
		if other := read(t, s.Reopen(t)); !bytes.Equal(other.Current, first.Current) {
			t.Fatal("another reader sees another key")
		}
	})
	t.Run("a rotation keeps the key before as the previous, with its time", func(t *testing.T) {
		s := open(t)
		first := read(t, s.Keys)
		before := time.Now()
		s.Rotate(t)
		after := time.Now()
		got := read(t, s.Keys)
		if bytes.Equal(got.Current, first.Current) || len(got.Current) < integration.MinCursorKeyBytes {
			t.Fatal("the rotation did not put a new key in place")
		}
		if !bytes.Equal(got.Previous, first.Current) {
			t.Fatal("the previous key is not the one before the rotation")
		}
		// Secrets Manager dates versions to the second.
		if got.RotatedAt.Before(before.Add(-2*time.Second)) || got.RotatedAt.After(after.Add(2*time.Second)) {
			t.Fatalf("rotated at %v, want between %v and %v", got.RotatedAt, before, after)
		}
		if other := read(t, s.Reopen(t)); !bytes.Equal(other.Current, got.Current) || !bytes.Equal(other.Previous, first.Current) {
			t.Fatal("another reader does not see the rotation")
		}
		s.Rotate(t)
		third := read(t, s.Keys)
		if !bytes.Equal(third.Previous, got.Current) || bytes.Equal(third.Current, got.Current) || bytes.Equal(third.Current, first.Current) {
			t.Fatal("a second rotation does not keep the key just before it as the previous")
		}
	})
}
