package integration

import (
	"context"
	"slices"
	"time"
)

// TokenRefresh is what a token refresh stored: the secret version it
// wrote, the fields set in it, and the grant's facts from the answer.
type TokenRefresh struct {
	Version   SecretVersion
	Fields    []string
	Scopes    []string
	ExpiresAt time.Time // zero: the access token does not expire
	At        time.Time
	// RenewAt is when the grant is next due a refresh to keep it alive
	// (zero: never); it puts the integration in the scheduler's index.
	RenewAt time.Time
}

// RecordTokenRefresh points the integration at the secret version a token
// refresh wrote, and records the answer's expiry and scopes and when it
// came (oauth.refreshed_at). Tokens are read from the secret's current
// version, not through this pointer; it is moved on so that it names a
// version that still exists (old ones are pruned) and the tokens last
// stored. Not a user edit: the integration's version and ETag stay.
func (s *Service) RecordTokenRefresh(ctx context.Context, actor Actor, id string, r TokenRefresh) error {
	_, err := s.modify(ctx, actor, id, tokenRefresh, func(cur *Integration, _ time.Time) (*Integration, error) {
		next := *cur
		next.Credentials = CredentialsRef{SecretName: r.Version.Name, VersionID: r.Version.VersionID, Fields: r.Fields}
		info := OAuthInfo{}
		if cur.OAuth != nil {
			info = *cur.OAuth
			info.Sites = slices.Clone(cur.OAuth.Sites)
		}
		info.Scopes = slices.Clone(r.Scopes)
		info.ExpiresAt = nil
		if !r.ExpiresAt.IsZero() {
			t := r.ExpiresAt.UTC()
			info.ExpiresAt = &t
		}
		at := r.At.UTC()
		info.RefreshedAt = &at
		info.RenewAt = nil
		if !r.RenewAt.IsZero() {
			t := r.RenewAt.UTC()
			info.RenewAt = &t
		}
		next.OAuth = &info
		return &next, nil
	})
	return err
}
