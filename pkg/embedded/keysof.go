package embedded

import (
	"bytes"
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// KeysOf lists every key, in any bucket, that belongs to the integration
// (its id starts the key, or names it in the site feed), except the mark that it was purged: what a
// purge must leave empty. It walks the whole database, for tests.
func (s *Store) KeysOf(_ context.Context, integrationID string) ([]string, error) {
	var out []string
	prefix := key(integrationID, "")
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			if bytes.Equal(name, bucketPurged) {
				return nil
			}
			return b.ForEach(func(k, _ []byte) error {
				// A site feed key names its integration fifth.
				if parts := bytes.Split(k, []byte{0}); bytes.Equal(name, bucketSiteFeed) && len(parts) > 4 && string(parts[4]) == integrationID {
					out = append(out, fmt.Sprintf("%s: %q", name, k))
					return nil
				}
				if bytes.HasPrefix(k, prefix) || bytes.Equal(k, []byte(integrationID)) {
					out = append(out, fmt.Sprintf("%s: %q", name, k))
				}
				return nil
			})
		})
	})
	return out, err
}
