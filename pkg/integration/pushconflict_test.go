package integration

import (
	"testing"
	"time"
)

// A push whose conflict was settled with the platform's version expires as
// a done one; one still in conflict never does.
func TestResolvedPushRetention(t *testing.T) {
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	resolved := &Push{Status: PushResolved, UpdatedAt: at}
	if got := resolved.ExpiresAt(); !got.Equal(at.Add(PushDoneRetention)) {
		t.Fatalf("resolved expires at %v, want %v", got, at.Add(PushDoneRetention))
	}
	conflict := &Push{Status: PushConflict, UpdatedAt: at}
	if !conflict.ExpiresAt().IsZero() || conflict.Expired(at.Add(10*365*24*time.Hour)) {
		t.Fatal("a push in conflict expires")
	}
}
