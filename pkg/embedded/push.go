package embedded

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/joinery/joinery/pkg/integration"
	bolt "go.etcd.io/bbolt"
)

var (
	bucketPushes   = []byte("pushes")   // integration \x00 push id → push
	bucketPushSeq  = []byte("push_seq") // integration \x00 model \x00 local id \x00 seq → push id
	bucketMappings = []byte("mappings") // integration \x00 model \x00 local id → mapping
)

func init() { syncBuckets = append(syncBuckets, bucketPushes, bucketPushSeq, bucketMappings) }

type mappingRecord struct {
	integration.Mapping
	LeaseOwner string    `json:"lease_owner,omitempty"`
	LeaseUntil time.Time `json:"lease_until"`
}

func seqKey(integrationID, model, localID string, seq int64) []byte {
	return key(integrationID, model, localID, fmt.Sprintf("%012d", seq))
}

func loadMapping(tx *bolt.Tx, integrationID, model, localID string) (*mappingRecord, error) {
	var m mappingRecord
	ok, err := getJSON(tx, bucketMappings, key(integrationID, model, localID), &m)
	if err != nil {
		return nil, err
	}
	if !ok {
		return &mappingRecord{Mapping: integration.Mapping{IntegrationID: integrationID, Model: model, LocalID: localID}}, nil
	}
	return &m, nil
}

// CreatePush gives the push the next Seq of its local id and stores it.
func (s *Store) CreatePush(_ context.Context, p *integration.Push) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		m, err := loadMapping(tx, p.IntegrationID, p.Model, p.LocalID)
		if err != nil {
			return err
		}
		m.NextSeq++
		p.Seq = m.NextSeq
		if err := putJSON(tx, bucketMappings, key(p.IntegrationID, p.Model, p.LocalID), m); err != nil {
			return err
		}
		if err := tx.Bucket(bucketPushSeq).Put(seqKey(p.IntegrationID, p.Model, p.LocalID, p.Seq), []byte(p.ID)); err != nil {
			return err
		}
		return putJSON(tx, bucketPushes, key(p.IntegrationID, p.ID), p)
	})
}

func loadPush(tx *bolt.Tx, integrationID, id string) (*integration.Push, error) {
	var p integration.Push
	ok, err := getJSON(tx, bucketPushes, key(integrationID, id), &p)
	if err != nil {
		return nil, err
	}
	// Expired on read: past its retention a push is as good as gone.
	if !ok || p.Expired(time.Now()) {
		return nil, integration.Errorf(integration.ENOTFOUND, "Push %q not found.", id)
	}
	return &p, nil
}

// GetMapping returns a local id's mapping as stored.
func (s *Store) GetMapping(_ context.Context, integrationID, model, localID string) (*integration.Mapping, error) {
	var out *integration.Mapping
	err := s.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketMappings).Get(key(integrationID, model, localID)) == nil {
			return integration.Errorf(integration.ENOTFOUND, "No mapping of %s %q.", model, localID)
		}
		m, err := loadMapping(tx, integrationID, model, localID)
		if err != nil {
			return err
		}
		out = &m.Mapping
		return nil
	})
	return out, err
}

// GetPush returns one push.
func (s *Store) GetPush(_ context.Context, integrationID, pushID string) (*integration.Push, error) {
	var out *integration.Push
	err := s.db.View(func(tx *bolt.Tx) (err error) {
		out, err = loadPush(tx, integrationID, pushID)
		return err
	})
	return out, err
}

// PushBySeq finds a local id's push by Seq.
func (s *Store) PushBySeq(_ context.Context, integrationID, model, localID string, seq int64) (*integration.Push, error) {
	var out *integration.Push
	err := s.db.View(func(tx *bolt.Tx) error {
		id := tx.Bucket(bucketPushSeq).Get(seqKey(integrationID, model, localID, seq))
		if id == nil {
			return integration.Errorf(integration.ENOTFOUND, "No push %d for %s %q.", seq, model, localID)
		}
		var err error
		out, err = loadPush(tx, integrationID, string(id))
		return err
	})
	return out, err
}

// UpdatePush replaces the push's outcome.
func (s *Store) UpdatePush(_ context.Context, p *integration.Push) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		cur, err := loadPush(tx, p.IntegrationID, p.ID)
		if err != nil {
			return err
		}
		old := cur.Status
		cur.Status, cur.ExternalID, cur.Error, cur.UpdatedAt = p.Status, p.ExternalID, p.Error, p.UpdatedAt
		if ev := integration.PushEvent(cur, old); ev != nil {
			if err := addEventOnce(tx, ev); err != nil {
				return err
			}
		}
		return putJSON(tx, bucketPushes, key(p.IntegrationID, p.ID), cur)
	})
}

// PendingPushes counts queued pushes.
func (s *Store) PendingPushes(ctx context.Context, integrationID string) (int, error) {
	queued, err := s.ListPushes(ctx, integrationID, integration.PushQueued)
	return len(queued), err
}

// LeaseMapping takes the mapping's lease.
func (s *Store) LeaseMapping(_ context.Context, integrationID, model, localID, owner string, until time.Time) (*integration.Mapping, bool, error) {
	var out *integration.Mapping
	ok := false
	err := s.db.Update(func(tx *bolt.Tx) error {
		m, err := loadMapping(tx, integrationID, model, localID)
		if err != nil {
			return err
		}
		if m.LeaseOwner != "" && m.LeaseOwner != owner && time.Now().Before(m.LeaseUntil) {
			return nil
		}
		m.LeaseOwner, m.LeaseUntil = owner, until
		mm := m.Mapping
		out, ok = &mm, true
		return putJSON(tx, bucketMappings, key(integrationID, model, localID), m)
	})
	return out, ok, err
}

// SaveMapping stores the mapping's outcome under owner's lease.
func (s *Store) SaveMapping(_ context.Context, in *integration.Mapping, owner string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		m, err := loadMapping(tx, in.IntegrationID, in.Model, in.LocalID)
		if err != nil {
			return err
		}
		if m.LeaseOwner != owner {
			return integration.Errorf(integration.EPRECONDITIONFAILED, "The mapping's lease was lost.")
		}
		m.ExternalID, m.AppliedSeq, m.RemoteModified, m.ImageURL, m.ImageID = in.ExternalID, in.AppliedSeq, in.RemoteModified, in.ImageURL, in.ImageID
		return putJSON(tx, bucketMappings, key(in.IntegrationID, in.Model, in.LocalID), m)
	})
}

// ReleaseMapping ends the lease.
func (s *Store) ReleaseMapping(_ context.Context, integrationID, model, localID, owner string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		m, err := loadMapping(tx, integrationID, model, localID)
		if err != nil || m.LeaseOwner != owner {
			return err
		}
		m.LeaseOwner, m.LeaseUntil = "", time.Time{}
		return putJSON(tx, bucketMappings, key(integrationID, model, localID), m)
	})
}

// ListPushes returns the pushes in the given statuses.
func (s *Store) ListPushes(_ context.Context, integrationID string, statuses ...integration.PushStatus) ([]*integration.Push, error) {
	var out []*integration.Push
	now := time.Now()
	err := s.db.View(func(tx *bolt.Tx) error {
		prefix := key(integrationID, "")
		c := tx.Bucket(bucketPushes).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			var p integration.Push
			if err := json.Unmarshal(v, &p); err != nil {
				return err
			}
			if p.Expired(now) {
				continue
			}
			for _, st := range statuses {
				if p.Status == st {
					out = append(out, &p)
					break
				}
			}
		}
		return nil
	})
	return out, err
}
