package embedded

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/joinery/joinery/pkg/conformance"
	"github.com/joinery/joinery/pkg/integration"
)

func TestStoreConformance(t *testing.T) {
	s, err := OpenStore(filepath.Join(t.TempDir(), "joinery.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	conformance.TestStore(t, func(*testing.T) integration.Store { return s })
}

func TestSyncStoreConformance(t *testing.T) {
	s, err := OpenStore(filepath.Join(t.TempDir(), "joinery.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	conformance.TestSyncStore(t, func(*testing.T) integration.SyncStore { return s })
}

func TestSecretsConformance(t *testing.T) {
	s, err := OpenSecrets(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	conformance.TestSecrets(t, func(*testing.T) integration.Secrets { return s })
}

func TestQueueConformance(t *testing.T) {
	conformance.TestQueue(t, func(_ *testing.T, o conformance.QueueOptions) conformance.Queue {
		return NewQueue(QueueOptions{VisibilityTimeout: o.VisibilityTimeout, MaxReceives: o.MaxReceives})
	})
}

func TestStorePersists(t *testing.T) {
	path := filepath.Join(t.TempDir(), "joinery.db")
	s, err := OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	in := &integration.Integration{ID: "i1", AccountID: "a", SiteID: "s", Platform: "wordpress", Version: 1}
	if err := s.CreateIntegration(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("store file mode %v %v", fi.Mode(), err)
	}
	s, err = OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got, err := s.GetIntegration(context.Background(), "a", "i1"); err != nil || got.SiteID != "s" {
		t.Fatalf("after reopen: %v %v", got, err)
	}
}

func TestSecretsKeysAndTampering(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := OpenSecrets(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if fi, err := os.Stat(filepath.Join(dir, "keys.json")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v %v", fi.Mode(), err)
	}
	refA := integration.SecretRef{AccountID: "a", IntegrationID: "i1"}
	refB := integration.SecretRef{AccountID: "a", IntegrationID: "i2"}
	v1, err := s.PutSecret(ctx, refA, map[string]string{"api_key": "old-key"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RotateKey(); err != nil {
		t.Fatal(err)
	}
	v2, err := s.PutSecret(ctx, refA, map[string]string{"api_key": "new-key"})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetSecret(ctx, v1.Name, v1.VersionID); err != nil || got["api_key"] != "old-key" {
		t.Fatalf("version sealed before rotation: %v %v", got, err)
	}
	if got, err := s.GetSecret(ctx, v2.Name, v2.VersionID); err != nil || got["api_key"] != "new-key" {
		t.Fatalf("version sealed after rotation: %v %v", got, err)
	}
	// A ciphertext moved to another secret does not open.
	vb, err := s.PutSecret(ctx, refB, map[string]string{"api_key": "b"})
	if err != nil {
		t.Fatal(err)
	}
	raw := s.rawVersion(t, v2.Name, v2.VersionID)
	s.writeRawVersion(t, vb.Name, vb.VersionID, raw)
	if _, err := s.GetSecret(ctx, vb.Name, vb.VersionID); err == nil {
		t.Fatal("a ciphertext moved between secrets opened")
	}
	// The reopened store reads the same keyring.
	_ = s.Close()
	s2, err := OpenSecrets(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if got, err := s2.GetSecret(ctx, v1.Name, v1.VersionID); err != nil || got["api_key"] != "old-key" {
		t.Fatalf("after reopen: %v %v", got, err)
	}
}

func TestCursorKeysConformance(t *testing.T) {
	conformance.TestCursorKeys(t, func(t *testing.T) conformance.CursorKeyStore {
		path := filepath.Join(t.TempDir(), "cursor.key")
		f := NewCursorKeyFile(path, nil)
		return conformance.CursorKeyStore{
			Keys:   f,
			Reopen: func(*testing.T) integration.CursorKeys { return NewCursorKeyFile(path, nil) },
			Rotate: func(t *testing.T) {
				if err := f.Rotate(context.Background()); err != nil {
					t.Fatal(err)
				}
			},
		}
	})
}

// The key file is the runner's secret: only its owner may read it.
func TestCursorKeyFileMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cursor.key")
	if _, err := NewCursorKeyFile(path, nil).CursorKeys(context.Background()); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("cursor key file mode %v %v", fi.Mode(), err)
	}
}
