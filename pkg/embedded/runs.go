package embedded

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/joinery/joinery/pkg/integration"
	bolt "go.etcd.io/bbolt"
)

// ListRuns pages through an integration's runs newest first: run ids sort
// by time. The cursor is the last run id of the page before.
func (s *Store) ListRuns(_ context.Context, integrationID string, limit int, cursor string) ([]*integration.Run, string, error) {
	limit = max(limit, 1)
	prefix := key(integrationID, "")
	from := append(append([]byte{}, prefix...), 0xff)
	if cursor != "" {
		id, err := base64.RawURLEncoding.DecodeString(cursor)
		if err != nil || len(id) == 0 || len(id) > 128 || bytes.IndexByte(id, 0) >= 0 {
			return nil, "", integration.Invalid(map[string]string{"cursor": "is not a cursor this API issued"})
		}
		from = key(integrationID, string(id))
	}
	out := []*integration.Run{}
	next := ""
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketRuns).Cursor()
		// Start just before from: the cursor's run, or the end of the
		// integration's range.
		for k, v := lastBefore(c, from); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Prev() {
			if len(out) == limit {
				next = base64.RawURLEncoding.EncodeToString([]byte(out[len(out)-1].ID))
				return nil
			}
			var r integration.Run
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("decode run %s: %w", k[len(prefix):], err)
			}
			out = append(out, &r)
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return out, next, nil
}
