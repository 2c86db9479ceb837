package integration

import (
	"context"
	"time"
)

// RecordConnectionLost records that the platform refused the
// integration's credentials, unless its connection status already says
// so: lost reports whether this call changed it, so that the loss is told
// once (one event), not once per job, push or token refresh that meets it.
func (s *Service) RecordConnectionLost(ctx context.Context, actor Actor, id string, status ConnectionStatus, message string, at time.Time) (lost bool, err error) {
	_, err = s.modify(ctx, actor, id, statusWrite, func(cur *Integration, _ time.Time) (*Integration, error) {
		lost = false
		if cur.ConnectionStatus == status {
			return nil, nil
		}
		lost = true
		next := *cur
		next.ConnectionStatus, next.ConnectionMessage, next.ConnectionCheckedAt = status, message, &at
		return &next, nil
	})
	return lost, err
}
