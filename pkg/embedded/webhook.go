package embedded

import (
	"bytes"
	"context"
	"encoding/json"
	"time"

	"github.com/joinery/joinery/pkg/integration"
	bolt "go.etcd.io/bbolt"
)

var _ integration.WebhookStore = (*Store)(nil)

// Inbound webhook buckets. The route and marker buckets are made on first
// use, so a data file of an earlier release needs nothing; the counts are
// sync data (purged with the integration).
var (
	bucketWebhookRoutes   = []byte("webhook_routes")     // platform \x00 key \x00 account \x00 integration → JSON route
	bucketWebhookRouteIdx = []byte("webhook_routes_idx") // account \x00 integration \x00 platform \x00 key → nothing
	bucketDeliveries      = []byte("webhook_deliveries") // delivery key → JSON marker
	bucketDeliveriesExp   = []byte("webhook_deliveries_exp")
	bucketWebhookCounts   = []byte("webhook_counts") // integration \x00 hour → JSON counts; integration \x00 "last" → time
)

// batchDelay is how long a write through bbolt's Batch (the inbound
// deliveries' markers and counts) waits for others to share its commit:
// short, so a lone delivery is answered at once, and long enough that
// concurrent ones share an fsync (10 ms, bbolt's default, made each
// delivery's three writes wait 30 ms and quartered the deliveries a
// second).
const batchDelay = 2 * time.Millisecond

// sweepDeliveriesPerClaim is how many expired markers a claim removes:
// more than it adds, so markers never pile up.
const sweepDeliveriesPerClaim = 2

// webhookLastKey sorts after every hour (digits).
const webhookLastKey = "last"

func webhookBuckets(tx *bolt.Tx) error {
	for _, b := range [][]byte{bucketWebhookRoutes, bucketWebhookRouteIdx, bucketDeliveries, bucketDeliveriesExp, bucketWebhookCounts} {
		if _, err := tx.CreateBucketIfNotExists(b); err != nil {
			return err
		}
	}
	return nil
}

// PutWebhookRoute implements integration.WebhookRoutes.
func (s *Store) PutWebhookRoute(_ context.Context, r integration.WebhookRoute) error {
	if r.Platform == "" || r.Key == "" || r.AccountID == "" || r.IntegrationID == "" {
		return integration.Errorf(integration.EINVALID, "A webhook route needs a platform, a key, an account and an integration.")
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		if err := webhookBuckets(tx); err != nil {
			return err
		}
		if err := putJSON(tx, bucketWebhookRoutes, key(r.Platform, r.Key, r.AccountID, r.IntegrationID), r); err != nil {
			return err
		}
		return tx.Bucket(bucketWebhookRouteIdx).Put(key(r.AccountID, r.IntegrationID, r.Platform, r.Key), nil)
	})
}

// WebhookRoutes reads the key range of platform and key, skipping routes
// past their expiry.
func (s *Store) WebhookRoutes(_ context.Context, platform, k string, limit int) ([]integration.WebhookRoute, error) {
	limit = max(limit, 1)
	routes := []integration.WebhookRoute{}
	now := time.Now()
	err := s.db.View(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketWebhookRoutes)
		if bk == nil {
			return nil
		}
		prefix := key(platform, k, "")
		c := bk.Cursor()
		for kk, v := c.Seek(prefix); kk != nil && bytes.HasPrefix(kk, prefix) && len(routes) < limit; kk, v = c.Next() {
			var r integration.WebhookRoute
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			if !r.Expires.IsZero() && !now.Before(r.Expires) {
				continue
			}
			routes = append(routes, r)
		}
		return nil
	})
	return routes, err
}

// DeleteWebhookRoutes implements integration.WebhookRoutes.
func (s *Store) DeleteWebhookRoutes(_ context.Context, accountID, integrationID string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		if err := webhookBuckets(tx); err != nil {
			return err
		}
		idx := tx.Bucket(bucketWebhookRouteIdx)
		prefix := key(accountID, integrationID, "")
		var doomed [][]byte
		c := idx.Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			doomed = append(doomed, append([]byte{}, k...))
		}
		for _, k := range doomed {
			rest := bytes.SplitN(k[len(prefix):], []byte{0}, 2)
			if len(rest) == 2 {
				if err := tx.Bucket(bucketWebhookRoutes).Delete(key(string(rest[0]), string(rest[1]), accountID, integrationID)); err != nil {
					return err
				}
			}
			if err := idx.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}

type storedMarker struct {
	State   string    `json:"state"`
	At      time.Time `json:"at"`
	Expires time.Time `json:"expires"`
	First   time.Time `json:"first,omitzero"`
}

// first is when the delivery was first claimed (At, for a marker written
// before First was kept).
func (m storedMarker) first() time.Time {
	if m.First.IsZero() {
		return m.At
	}
	return m.First
}

// ClaimDelivery implements integration.WebhookDeliveries. Claims go
// through bbolt's Batch: concurrent deliveries share a commit (one fsync)
// instead of queueing for one each.
func (s *Store) ClaimDelivery(_ context.Context, m integration.DeliveryMarker, staleAfter time.Duration) (*integration.DeliveryMarker, bool, error) {
	if m.Key == "" {
		return nil, false, integration.Errorf(integration.EINVALID, "A delivery marker needs a key.")
	}
	state := m.State
	if state == "" {
		state = integration.DeliveryPending
	}
	var found *integration.DeliveryMarker
	var claimed bool
	err := s.db.Batch(func(tx *bolt.Tx) error {
		found, claimed = nil, false
		if err := webhookBuckets(tx); err != nil {
			return err
		}
		bk, exp := tx.Bucket(bucketDeliveries), tx.Bucket(bucketDeliveriesExp)
		var cur storedMarker
		first := m.At.UTC()
		if raw := bk.Get([]byte(m.Key)); raw != nil {
			if err := json.Unmarshal(raw, &cur); err != nil {
				return err
			}
			live := m.At.Before(cur.Expires)
			stale := cur.State == integration.DeliveryPending && cur.At.Before(m.At.Add(-staleAfter))
			if live && !stale {
				found = &integration.DeliveryMarker{Key: m.Key, State: cur.State, At: cur.At, Expires: cur.Expires, First: cur.first()}
				return nil
			}
			if live {
				// Taken over: the delivery keeps its first claim's time.
				found = &integration.DeliveryMarker{Key: m.Key, State: cur.State, At: cur.At, Expires: cur.Expires, First: cur.first()}
				first = found.First
			}
			if err := exp.Delete(idleKey(cur.Expires, m.Key)); err != nil {
				return err
			}
		}
		if err := putJSON(tx, bucketDeliveries, []byte(m.Key), storedMarker{State: state, At: m.At.UTC(), Expires: m.Expires.UTC(), First: first}); err != nil {
			return err
		}
		if err := exp.Put(idleKey(m.Expires, m.Key), nil); err != nil {
			return err
		}
		claimed = true
		return sweepDeliveries(tx, m.At, sweepDeliveriesPerClaim)
	})
	if err != nil {
		return nil, false, err
	}
	return found, claimed, nil
}

// sweepDeliveries removes up to n markers past their expiry, oldest first.
func sweepDeliveries(tx *bolt.Tx, now time.Time, n int) error {
	return sweepExpired(tx, bucketDeliveries, bucketDeliveriesExp, now, n)
}

// MarkDeliveryQueued implements integration.WebhookDeliveries.
func (s *Store) MarkDeliveryQueued(_ context.Context, k string, at time.Time) error {
	return s.db.Batch(func(tx *bolt.Tx) error {
		if err := webhookBuckets(tx); err != nil {
			return err
		}
		var cur storedMarker
		ok, err := getJSON(tx, bucketDeliveries, []byte(k), &cur)
		if err != nil {
			return err
		}
		if !ok {
			return integration.Errorf(integration.ENOTFOUND, "No delivery marker %q.", k)
		}
		cur.State, cur.At = integration.DeliveryQueued, at.UTC()
		return putJSON(tx, bucketDeliveries, []byte(k), cur)
	})
}

type webhookBucket struct {
	Received int64 `json:"received,omitempty"`
	Rejected int64 `json:"rejected,omitempty"`
}

const hourLayout = "2006-01-02T15"

// CountWebhook implements integration.WebhookCounters; hours past
// HealthRetention of the same integration go as it counts.
func (s *Store) CountWebhook(_ context.Context, _, integrationID string, rejected bool, at time.Time) error {
	hour := integration.HealthHour(at)
	return s.db.Batch(func(tx *bolt.Tx) error {
		if err := webhookBuckets(tx); err != nil {
			return err
		}
		k := key(integrationID, hour.Format(hourLayout))
		var b webhookBucket
		if _, err := getJSON(tx, bucketWebhookCounts, k, &b); err != nil {
			return err
		}
		if rejected {
			b.Rejected++
		} else {
			b.Received++
		}
		if err := putJSON(tx, bucketWebhookCounts, k, b); err != nil {
			return err
		}
		if !rejected {
			lk := key(integrationID, webhookLastKey)
			var last time.Time
			if _, err := getJSON(tx, bucketWebhookCounts, lk, &last); err != nil {
				return err
			}
			if at.After(last) {
				if err := putJSON(tx, bucketWebhookCounts, lk, at.UTC()); err != nil {
					return err
				}
			}
		}
		// Old hours of this integration sort first under its prefix.
		prefix := key(integrationID, "")
		cutoff := key(integrationID, hour.Add(-integration.HealthRetention).Format(hourLayout))
		var doomed [][]byte
		c := tx.Bucket(bucketWebhookCounts).Cursor()
		for kk, _ := c.Seek(prefix); kk != nil && bytes.Compare(kk, cutoff) < 0; kk, _ = c.Next() {
			doomed = append(doomed, append([]byte{}, kk...))
		}
		for _, kk := range doomed {
			if err := tx.Bucket(bucketWebhookCounts).Delete(kk); err != nil {
				return err
			}
		}
		return nil
	})
}

// WebhookStats implements integration.WebhookCounters: one range read.
func (s *Store) WebhookStats(_ context.Context, _, integrationID string, since time.Time) (integration.WebhookStats, error) {
	var st integration.WebhookStats
	err := s.db.View(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketWebhookCounts)
		if bk == nil {
			return nil
		}
		prefix := key(integrationID, "")
		c := bk.Cursor()
		for k, v := c.Seek(key(integrationID, integration.HealthHour(since).Format(hourLayout))); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			if string(k[len(prefix):]) == webhookLastKey {
				var t time.Time
				if err := json.Unmarshal(v, &t); err != nil {
					return err
				}
				st.LastReceivedAt = &t
				continue
			}
			var b webhookBucket
			if err := json.Unmarshal(v, &b); err != nil {
				return err
			}
			st.Received24h += b.Received
			st.Rejected24h += b.Rejected
		}
		return nil
	})
	return st, err
}
