package embedded

import (
	"context"
	"time"

	"github.com/joinery/joinery/pkg/integration"
	bolt "go.etcd.io/bbolt"
)

// PutNotifyDeliveries implements integration.NotifyStore: one transaction.
func (s *Store) PutNotifyDeliveries(_ context.Context, ds []*integration.NotifyDelivery) error {
	if len(ds) == 0 {
		return nil
	}
	expires := time.Now().Add(integration.NotifyRetention)
	return s.db.Update(func(tx *bolt.Tx) error {
		if _, err := notifyBucket(tx, bucketNotifyDeliver); err != nil {
			return err
		}
		for _, d := range ds {
			if err := putJSON(tx, bucketNotifyDeliver, deliveryKey(d.AccountID, d.EndpointID, d.ID), storedDelivery{NotifyDelivery: *d, Expires: expires}); err != nil {
				return err
			}
		}
		return nil
	})
}
