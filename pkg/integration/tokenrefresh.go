package integration

import (
	"context"
	"fmt"
	"time"
)

// StoreRefreshedCredentials stores credentials a platform issued in place
// of the current ones (a refreshed access token). It is not a user edit:
// the integration's version and ETag stay as they are.
func (s *Service) StoreRefreshedCredentials(ctx context.Context, actor Actor, id string, creds map[string]string) error {
	if len(creds) == 0 {
		return Invalid(map[string]string{"credentials": "required"})
	}
	_, err := s.modify(ctx, actor, id, tokenRefresh, func(cur *Integration, _ time.Time) (*Integration, error) {
		ref, err := s.putSecret(ctx, cur, creds)
		if err != nil {
			return nil, fmt.Errorf("store refreshed credentials of %s: %w", id, err)
		}
		next := *cur
		next.Credentials = ref
		return &next, nil
	})
	return err
}
