package integration

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// OAuthStateTTL is how long a user has to consent at the platform.
const OAuthStateTTL = 10 * time.Minute

// OAuthState is one authorization under way: what the callback carrying
// its state needs to finish it.
type OAuthState struct {
	State         string // 256 random bits, base64url; the store keeps only its hash
	IntegrationID string
	AccountID     string
	Platform      string
	Verifier      string // the PKCE code verifier, where the platform uses PKCE
	ReturnURL     string
	ExpiresAt     time.Time
}

// OAuthStates keeps authorizations under way. A state is usable once.
type OAuthStates interface {
	// PutOAuthState stores a new state; ECONFLICT if it exists.
	PutOAuthState(ctx context.Context, s *OAuthState) error
	// TakeOAuthState removes and returns the state if it exists and
	// expires after now, atomically: of concurrent takes one gets it. A
	// missing, taken or expired state is ENOTFOUND (expired ones are left
	// for the stores' clean-up).
	TakeOAuthState(ctx context.Context, state string, now time.Time) (*OAuthState, error)
}

// OAuthStateKey is what stores key a state by: its SHA-256, so that
// reading the table does not give states to forge callbacks with.
func OAuthStateKey(state string) string {
	sum := sha256.Sum256([]byte(state))
	return hex.EncodeToString(sum[:])
}

// ErrOAuthStateNotFound is the error of a missing, used or expired state.
func ErrOAuthStateNotFound() *Error {
	return Errorf(ENOTFOUND, "The authorization is unknown, expired or already used.")
}
