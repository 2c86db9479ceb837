package embedded

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"sort"
	"time"

	"github.com/joinery/joinery/pkg/integration"
	bolt "go.etcd.io/bbolt"
)

// The embedded store's due index is one shard: it walks every
// integration, as DueIntegrations does.
const dueShard = "all"

// DueShards names the one shard.
func (s *Store) DueShards() []string { return []string{dueShard} }

// dueKey orders the due index: next sync, then account and id.
type dueKey struct {
	At        time.Time `json:"t"`
	AccountID string    `json:"a"`
	ID        string    `json:"i"`
}

func (k dueKey) less(o dueKey) bool {
	if !k.At.Equal(o.At) {
		return k.At.Before(o.At)
	}
	if k.AccountID != o.AccountID {
		return k.AccountID < o.AccountID
	}
	return k.ID < o.ID
}

func keyOf(it *integration.Integration) dueKey {
	return dueKey{At: *integration.DueAt(it), AccountID: it.AccountID, ID: it.ID}
}

// DuePage returns a page of the integrations due at t, earliest first.
func (s *Store) DuePage(_ context.Context, shard string, t time.Time, limit int, cursor string) ([]*integration.Integration, string, error) {
	if shard != dueShard {
		return nil, "", integration.Invalid(map[string]string{"shard": "is not a shard of the due index"})
	}
	var after *dueKey
	if cursor != "" {
		raw, err := base64.RawURLEncoding.DecodeString(cursor)
		var k dueKey
		if err != nil || json.Unmarshal(raw, &k) != nil || k.ID == "" {
			return nil, "", integration.Invalid(map[string]string{"cursor": "is not a cursor this API issued"})
		}
		after = &k
	}
	var out []*integration.Integration
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketIntegrations).ForEach(func(_, v []byte) error {
			var r record
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			it := r.integration()
			if due := integration.DueAt(it); due == nil || due.After(t) || r.DeletingSince != nil {
				return nil
			}
			if after == nil || after.less(keyOf(it)) {
				out = append(out, it)
			}
			return nil
		})
	})
	if err != nil {
		return nil, "", err
	}
	sort.Slice(out, func(i, j int) bool { return keyOf(out[i]).less(keyOf(out[j])) })
	next := ""
	if limit > 0 && len(out) > limit {
		out = out[:limit]
		b, _ := json.Marshal(keyOf(out[limit-1]))
		next = base64.RawURLEncoding.EncodeToString(b)
	}
	return out, next, nil
}
