package embedded

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/joinery/joinery/pkg/integration"
	bolt "go.etcd.io/bbolt"
)

var _ integration.NotifyStore = (*Store)(nil)

// The outbound notification buckets are made on first use, so a data file
// of an earlier release needs nothing.
var (
	bucketNotifyPending = []byte("notify_pending")    // sequence → pendingEntry
	bucketNotifyEvents  = []byte("notify_events")     // event id → nothing (written once)
	bucketEndpoints     = []byte("endpoints")         // account \x00 endpoint id → endpoint
	bucketNotifyDeliver = []byte("notify_deliveries") // account \x00 endpoint \x00 delivery id → delivery
)

type pendingEntry struct {
	Change *integration.RecordChange `json:"change,omitempty"`
	Event  *integration.NotifyEvent  `json:"event,omitempty"`
}

func notifyBucket(tx *bolt.Tx, name []byte) (*bolt.Bucket, error) {
	if b := tx.Bucket(name); b != nil {
		return b, nil
	}
	if !tx.Writable() {
		return nil, nil
	}
	return tx.CreateBucketIfNotExists(name)
}

// addPending queues a change for the dispatcher inside the caller's
// transaction: the change and its notification land together or not at
// all.
func addPending(tx *bolt.Tx, e pendingEntry) error {
	b, err := notifyBucket(tx, bucketNotifyPending)
	if err != nil {
		return err
	}
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	k := make([]byte, 8)
	binary.BigEndian.PutUint64(k, seq)
	raw, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return b.Put(k, raw)
}

// addRunEvent queues the event of a run that just finished.
func addRunEvent(tx *bolt.Tx, r *integration.Run, status integration.RunStatus, message string, at time.Time) error {
	ev := integration.RunEvent(r, status, message, at)
	if ev == nil {
		return nil
	}
	return addEventOnce(tx, ev)
}

func addEventOnce(tx *bolt.Tx, ev *integration.NotifyEvent) error {
	seen, err := notifyBucket(tx, bucketNotifyEvents)
	if err != nil {
		return err
	}
	if seen.Get([]byte(ev.ID)) != nil {
		return nil
	}
	if err := seen.Put([]byte(ev.ID), []byte{}); err != nil {
		return err
	}
	return addPending(tx, pendingEntry{Event: ev})
}

// PendingEvents implements integration.NotifyStore: oldest first.
func (s *Store) PendingEvents(_ context.Context, limit int) ([]integration.PendingEvent, error) {
	var out []integration.PendingEvent
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketNotifyPending)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.First(); k != nil && len(out) < limit; k, v = c.Next() {
			var e pendingEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("decode pending event: %w", err)
			}
			out = append(out, integration.PendingEvent{Key: hex.EncodeToString(k), Change: e.Change, Event: e.Event})
		}
		return nil
	})
	return out, err
}

// AckEvents implements integration.NotifyStore.
func (s *Store) AckEvents(_ context.Context, keys []string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b, err := notifyBucket(tx, bucketNotifyPending)
		if err != nil {
			return err
		}
		for _, k := range keys {
			raw, err := hex.DecodeString(k)
			if err != nil {
				continue
			}
			if err := b.Delete(raw); err != nil {
				return err
			}
		}
		return nil
	})
}

// AddNotifyEvents implements integration.NotifyStore.
func (s *Store) AddNotifyEvents(_ context.Context, evs []integration.NotifyEvent) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		for i := range evs {
			if err := addEventOnce(tx, &evs[i]); err != nil {
				return err
			}
		}
		return nil
	})
}

// CreateEndpoint implements integration.NotifyStore.
func (s *Store) CreateEndpoint(_ context.Context, e *integration.Endpoint) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b, err := notifyBucket(tx, bucketEndpoints)
		if err != nil {
			return err
		}
		k := key(e.AccountID, e.ID)
		if b.Get(k) != nil {
			return integration.Errorf(integration.ECONFLICT, "An endpoint with this id exists.")
		}
		return putJSON(tx, bucketEndpoints, k, e)
	})
}

func endpointNotFound() error {
	return integration.Errorf(integration.ENOTFOUND, "No such webhook endpoint.")
}

// GetEndpoint implements integration.NotifyStore.
func (s *Store) GetEndpoint(_ context.Context, accountID, id string) (*integration.Endpoint, error) {
	var e integration.Endpoint
	err := s.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketEndpoints) == nil {
			return endpointNotFound()
		}
		ok, err := getJSON(tx, bucketEndpoints, key(accountID, id), &e)
		if err == nil && !ok {
			return endpointNotFound()
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return &e, nil
}

// ListEndpoints implements integration.NotifyStore.
func (s *Store) ListEndpoints(_ context.Context, accountID string) ([]*integration.Endpoint, error) {
	var out []*integration.Endpoint
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketEndpoints)
		if b == nil {
			return nil
		}
		prefix := key(accountID, "")
		c := b.Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			var e integration.Endpoint
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("decode endpoint: %w", err)
			}
			out = append(out, &e)
		}
		return nil
	})
	// Ids are ULIDs: key order is creation order.
	return out, err
}

// UpdateEndpoint implements integration.NotifyStore.
func (s *Store) UpdateEndpoint(_ context.Context, e *integration.Endpoint, prevVersion int64) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		if _, err := notifyBucket(tx, bucketEndpoints); err != nil {
			return err
		}
		var old integration.Endpoint
		k := key(e.AccountID, e.ID)
		ok, err := getJSON(tx, bucketEndpoints, k, &old)
		if err != nil {
			return err
		}
		if !ok {
			return endpointNotFound()
		}
		if old.Version != prevVersion {
			return integration.Errorf(integration.EPRECONDITIONFAILED, "The endpoint was changed meanwhile; read it again.")
		}
		e.Version = prevVersion + 1
		return putJSON(tx, bucketEndpoints, k, e)
	})
}

// DeleteEndpoint implements integration.NotifyStore.
func (s *Store) DeleteEndpoint(_ context.Context, accountID, id string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b, err := notifyBucket(tx, bucketEndpoints)
		if err != nil {
			return err
		}
		k := key(accountID, id)
		if b.Get(k) == nil {
			return endpointNotFound()
		}
		return b.Delete(k)
	})
}

type storedDelivery struct {
	integration.NotifyDelivery
	Expires time.Time `json:"expires"`
}

// deliveryKey orders an endpoint's deliveries by creation (ids are
// ULIDs), so newest first is walking backwards.
func deliveryKey(accountID, endpointID, id string) []byte { return key(accountID, endpointID, id) }

// PutNotifyDelivery implements integration.NotifyStore.
func (s *Store) PutNotifyDelivery(_ context.Context, d *integration.NotifyDelivery) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		if _, err := notifyBucket(tx, bucketNotifyDeliver); err != nil {
			return err
		}
		return putJSON(tx, bucketNotifyDeliver, deliveryKey(d.AccountID, d.EndpointID, d.ID),
			storedDelivery{NotifyDelivery: *d, Expires: time.Now().Add(integration.NotifyRetention)})
	})
}

// GetNotifyDelivery implements integration.NotifyStore.
func (s *Store) GetNotifyDelivery(_ context.Context, accountID, endpointID, id string) (*integration.NotifyDelivery, error) {
	var d storedDelivery
	err := s.db.View(func(tx *bolt.Tx) error {
		nf := integration.Errorf(integration.ENOTFOUND, "No such delivery.")
		if tx.Bucket(bucketNotifyDeliver) == nil {
			return nf
		}
		ok, err := getJSON(tx, bucketNotifyDeliver, deliveryKey(accountID, endpointID, id), &d)
		if err == nil && (!ok || time.Now().After(d.Expires)) {
			return nf
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return &d.NotifyDelivery, nil
}

// ListNotifyDeliveries implements integration.NotifyStore. The cursor is
// the id of the last delivery of the page before.
func (s *Store) ListNotifyDeliveries(_ context.Context, q integration.NotifyDeliveryQuery) ([]*integration.NotifyDelivery, string, error) {
	if q.Limit <= 0 {
		q.Limit = defaultLimit
	}
	if q.Cursor != "" && !validDeliveryCursor(q.Cursor) {
		return nil, "", integration.Invalid(map[string]string{"cursor": "is not a cursor this listing issued"})
	}
	var out []*integration.NotifyDelivery
	next := ""
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketNotifyDeliver)
		if b == nil {
			return nil
		}
		prefix := key(q.AccountID, q.EndpointID, "")
		c := b.Cursor()
		from := append(append([]byte{}, prefix...), 0xff)
		if q.Cursor != "" {
			from = deliveryKey(q.AccountID, q.EndpointID, q.Cursor)
		}
		now := time.Now()
		for k, v := lastBefore(c, from); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Prev() {
			var d storedDelivery
			if err := json.Unmarshal(v, &d); err != nil {
				return fmt.Errorf("decode delivery: %w", err)
			}
			if now.After(d.Expires) || (q.Status != "" && d.Status != q.Status) {
				continue
			}
			if len(out) == q.Limit {
				next = out[len(out)-1].ID
				return nil
			}
			dd := d.NotifyDelivery
			out = append(out, &dd)
		}
		return nil
	})
	return out, next, err
}

func validDeliveryCursor(c string) bool {
	if len(c) > 64 {
		return false
	}
	for _, r := range c {
		if !(r >= '0' && r <= '9' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r == '_') {
			return false
		}
	}
	return true
}
