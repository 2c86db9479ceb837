package integration

import (
	"context"
	"time"
)

// RecordTokenRefresh points the integration at the secret version a token
// refresh wrote. Tokens are read from the secret's current version, not
// through this pointer; it is moved on so that it names a version that
// still exists (old ones are pruned) and the last tokens stored. Not a
// user edit: the integration's version and ETag stay as they are.
func (s *Service) RecordTokenRefresh(ctx context.Context, actor Actor, id string, v SecretVersion, fields []string) error {
	_, err := s.modify(ctx, actor, id, tokenRefresh, func(cur *Integration, _ time.Time) (*Integration, error) {
		if cur.Credentials.SecretName == v.Name && cur.Credentials.VersionID == v.VersionID {
			return nil, nil
		}
		next := *cur
		next.Credentials = CredentialsRef{SecretName: v.Name, VersionID: v.VersionID, Fields: fields}
		return &next, nil
	})
	return err
}
