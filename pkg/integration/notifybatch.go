package integration

import "context"

// NotifyDeliveriesWriter stores a fan-out's new deliveries together: one
// write per event would bound how fast a large sync's events go out.
type NotifyDeliveriesWriter interface {
	// PutNotifyDeliveries stores deliveries as PutNotifyDelivery does,
	// many at once (all or, on error, possibly some: a retry rewrites
	// the same ones).
	PutNotifyDeliveries(ctx context.Context, ds []*NotifyDelivery) error
}
