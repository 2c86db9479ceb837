package embedded

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"sync"
	"time"

	"github.com/joinery/joinery/pkg/integration"
	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// keepVersions is how many versions of a secret are kept; integrations
// point at the newest, older ones only serve an update that lost a race.
const keepVersions = 5

var secretNameUnsafe = regexp.MustCompile(`[^A-Za-z0-9/_+=.@-]`)

// SecretName is the name of an integration's secret, the same shape Secrets
// Manager uses: prefix + account + "/" + integration id.
func SecretName(prefix string, ref integration.SecretRef) string {
	return prefix + secretNameUnsafe.ReplaceAllString(ref.AccountID, "_") + "/" + ref.IntegrationID
}

// Secrets is a local secret store: values are sealed with AES-256-GCM under
// a keyring kept in a 0600 file, and each ciphertext names its key, so a new
// key can be made active while old versions still open.
type Secrets struct {
	db     *bolt.DB
	prefix string
	mu     sync.Mutex // guards ring and keysPath writes
	ring   keyring
	dir    string
}

var _ integration.Secrets = (*Secrets)(nil)

type keyring struct {
	Active string            `json:"active"`
	Keys   map[string]string `json:"keys"` // key id → base64 key
}

// sealed is one stored version.
type sealed struct {
	KeyID      string    `json:"key_id"`
	Nonce      []byte    `json:"nonce"`
	Ciphertext []byte    `json:"ciphertext"`
	CreatedAt  time.Time `json:"created_at"`
}

var bucketSecrets = []byte("secrets") // name → bucket of version id → sealed

// OpenSecrets opens the secret store in dir, creating the key file on first use.
func OpenSecrets(dir string) (*Secrets, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create secrets dir: %w", err)
	}
	s := &Secrets{prefix: "joinery/", dir: dir}
	ring, err := loadKeyring(s.keysPath())
	if errors.Is(err, os.ErrNotExist) {
		ring = keyring{Keys: map[string]string{}}
		err = s.addKey(&ring)
	}
	if err != nil {
		return nil, err
	}
	s.ring = ring
	db, err := bolt.Open(filepath.Join(dir, "secrets.db"), 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("open secrets: %w", err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucketIfNotExists(bucketSecrets); return err }); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("init secrets: %w", err)
	}
	s.db = db
	return s, nil
}

// Close closes the store.
func (s *Secrets) Close() error { return s.db.Close() }

func (s *Secrets) keysPath() string { return filepath.Join(s.dir, "keys.json") }

func loadKeyring(path string) (keyring, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return keyring{}, err
	}
	var r keyring
	if err := json.Unmarshal(b, &r); err != nil || r.Keys[r.Active] == "" {
		return keyring{}, fmt.Errorf("key file %s is damaged", path)
	}
	return r, nil
}

// addKey makes a new random key active and writes the ring atomically (0600).
func (s *Secrets) addKey(r *keyring) error {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return fmt.Errorf("generate key: %w", err)
	}
	id := fmt.Sprintf("k%d-%s", len(r.Keys)+1, hex.EncodeToString(k[:3]))
	r.Keys[id] = base64.StdEncoding.EncodeToString(k)
	r.Active = id
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	tmp := s.keysPath() + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("write key file: %w", err)
	}
	if err := os.Rename(tmp, s.keysPath()); err != nil {
		return fmt.Errorf("write key file: %w", err)
	}
	return nil
}

// RotateKey makes a new key active. Existing versions keep opening with the
// key their ciphertext names.
func (s *Secrets) RotateKey() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	next := keyring{Keys: map[string]string{}}
	for k, v := range s.ring.Keys {
		next.Keys[k] = v
	}
	if err := s.addKey(&next); err != nil {
		return err
	}
	s.ring = next
	return nil
}

func (s *Secrets) aead(keyID string) (cipher.AEAD, error) {
	s.mu.Lock()
	raw, ok := s.ring.Keys[keyID]
	s.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("secret sealed with unknown key %q", keyID)
	}
	k, err := base64.StdEncoding.DecodeString(raw)
	if err != nil {
		return nil, fmt.Errorf("key %q is damaged", keyID)
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// additionalData binds a ciphertext to its secret and version, so it cannot
// be moved to another.
func additionalData(name, version string) []byte { return []byte(name + "\x00" + version) }

// PutSecret stores a new version of the integration's secret.
func (s *Secrets) PutSecret(_ context.Context, ref integration.SecretRef, values map[string]string) (integration.SecretVersion, error) {
	name := SecretName(s.prefix, ref)
	vb := make([]byte, 16)
	if _, err := rand.Read(vb); err != nil {
		return integration.SecretVersion{}, err
	}
	version := hex.EncodeToString(vb)
	b, err := s.seal(name, version, values)
	if err != nil {
		return integration.SecretVersion{}, err
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		vs, err := tx.Bucket(bucketSecrets).CreateBucketIfNotExists([]byte(name))
		if err != nil {
			return err
		}
		if err := vs.Put([]byte(version), b); err != nil {
			return err
		}
		if err := setCurrent(tx, name, version); err != nil {
			return err
		}
		return prune(vs)
	})
	if err != nil {
		return integration.SecretVersion{}, fmt.Errorf("store secret %s: %w", name, err)
	}
	return integration.SecretVersion{Name: name, VersionID: version}, nil
}

// seal encrypts values as version of secret name.
func (s *Secrets) seal(name, version string, values map[string]string) ([]byte, error) {
	plain, err := json.Marshal(values)
	if err != nil {
		return nil, fmt.Errorf("encode secret %s: %w", name, err)
	}
	s.mu.Lock()
	keyID := s.ring.Active
	s.mu.Unlock()
	gcm, err := s.aead(keyID)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, gcm.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return json.Marshal(sealed{KeyID: keyID, Nonce: nonce, Ciphertext: gcm.Seal(nil, nonce, plain, additionalData(name, version)), CreatedAt: time.Now().UTC()})
}

// prune keeps the newest keepVersions versions.
func prune(vs *bolt.Bucket) error {
	type v struct {
		id string
		at time.Time
	}
	var all []v
	err := vs.ForEach(func(k, raw []byte) error {
		var s sealed
		if err := json.Unmarshal(raw, &s); err != nil {
			return err
		}
		all = append(all, v{string(k), s.CreatedAt})
		return nil
	})
	if err != nil || len(all) <= keepVersions {
		return err
	}
	sort.Slice(all, func(i, j int) bool { return all[i].at.After(all[j].at) })
	for _, old := range all[keepVersions:] {
		if err := vs.Delete([]byte(old.id)); err != nil {
			return err
		}
	}
	return nil
}

// GetSecret opens one version.
func (s *Secrets) GetSecret(_ context.Context, name, versionID string) (map[string]string, error) {
	var raw []byte
	_ = s.db.View(func(tx *bolt.Tx) error {
		if vs := tx.Bucket(bucketSecrets).Bucket([]byte(name)); vs != nil && versionID != "" {
			raw = append([]byte(nil), vs.Get([]byte(versionID))...)
		}
		return nil
	})
	if len(raw) == 0 {
		return nil, integration.Errorf(integration.ENOTFOUND, "Secret version not found.")
	}
	var sv sealed
	if err := json.Unmarshal(raw, &sv); err != nil {
		return nil, fmt.Errorf("secret %s is damaged", name)
	}
	gcm, err := s.aead(sv.KeyID)
	if err != nil {
		return nil, err
	}
	if len(sv.Nonce) != gcm.NonceSize() {
		return nil, fmt.Errorf("secret %s is damaged", name)
	}
	plain, err := gcm.Open(nil, sv.Nonce, sv.Ciphertext, additionalData(name, versionID))
	if err != nil {
		return nil, fmt.Errorf("secret %s does not authenticate: damaged or moved", name)
	}
	var values map[string]string
	if err := json.Unmarshal(plain, &values); err != nil {
		return nil, fmt.Errorf("secret %s is damaged", name)
	}
	return values, nil
}

// DeleteSecret removes every version of the integration's secret.
func (s *Secrets) DeleteSecret(_ context.Context, ref integration.SecretRef) error {
	name := SecretName(s.prefix, ref)
	err := s.db.Update(func(tx *bolt.Tx) error {
		if err := setCurrent(tx, name, ""); err != nil {
			return err
		}
		err := tx.Bucket(bucketSecrets).DeleteBucket([]byte(name))
		if errors.Is(err, bolterrors.ErrBucketNotFound) {
			return nil
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("delete secret %s: %w", name, err)
	}
	return nil
}
