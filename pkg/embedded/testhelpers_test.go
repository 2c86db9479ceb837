package embedded

import (
	"testing"

	bolt "go.etcd.io/bbolt"
)

func (s *Secrets) rawVersion(t *testing.T, name, version string) []byte {
	t.Helper()
	var out []byte
	_ = s.db.View(func(tx *bolt.Tx) error {
		out = append(out, tx.Bucket(bucketSecrets).Bucket([]byte(name)).Get([]byte(version))...)
		return nil
	})
	return out
}

func (s *Secrets) writeRawVersion(t *testing.T, name, version string, raw []byte) {
	t.Helper()
	if err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketSecrets).Bucket([]byte(name)).Put([]byte(version), raw)
	}); err != nil {
		t.Fatal(err)
	}
}
