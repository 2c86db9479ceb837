package embedded

import (
	"context"
	"encoding/json"
	"maps"
	"time"

	"github.com/joinery/joinery/pkg/integration"
	bolt "go.etcd.io/bbolt"
)

var _ integration.CurrentSecrets = (*Secrets)(nil)

// bucketSecretsCurrent names each secret's current version, name →
// version id, as Secrets Manager's AWSCURRENT does. It is made on first
// use; a secret written by an earlier release has no entry, and its
// newest version is its current one.
var bucketSecretsCurrent = []byte("secrets_current")

func setCurrent(tx *bolt.Tx, name, version string) error {
	bk, err := tx.CreateBucketIfNotExists(bucketSecretsCurrent)
	if err != nil {
		return err
	}
	if version == "" {
		return bk.Delete([]byte(name))
	}
	return bk.Put([]byte(name), []byte(version))
}

// currentVersion is the secret's current version id ("": no secret).
func currentVersion(tx *bolt.Tx, name string) string {
	vs := tx.Bucket(bucketSecrets).Bucket([]byte(name))
	if vs == nil {
		return ""
	}
	if bk := tx.Bucket(bucketSecretsCurrent); bk != nil {
		if v := bk.Get([]byte(name)); v != nil && vs.Get(v) != nil {
			return string(v)
		}
	}
	newest, at := "", time.Time{}
	_ = vs.ForEach(func(k, raw []byte) error {
		var s sealed
		if json.Unmarshal(raw, &s) == nil && (newest == "" || s.CreatedAt.After(at)) {
			newest, at = string(k), s.CreatedAt
		}
		return nil
	})
	return newest
}

func noSecret() error {
	return integration.Errorf(integration.ENOTFOUND, "The integration has no stored credentials.")
}

// CurrentSecret implements integration.CurrentSecrets.
func (s *Secrets) CurrentSecret(ctx context.Context, ref integration.SecretRef) (integration.SecretVersion, map[string]string, error) {
	name := SecretName(s.prefix, ref)
	var version string
	_ = s.db.View(func(tx *bolt.Tx) error { version = currentVersion(tx, name); return nil })
	if version == "" {
		return integration.SecretVersion{}, nil, noSecret()
	}
	values, err := s.GetSecret(ctx, name, version)
	if integration.ErrorCode(err) == integration.ENOTFOUND {
		return integration.SecretVersion{}, nil, noSecret() // deleted between the two reads
	}
	if err != nil {
		return integration.SecretVersion{}, nil, err
	}
	return integration.SecretVersion{Name: name, VersionID: version}, values, nil
}

// PutSecretVersion implements integration.CurrentSecrets: the token is
// the version's id, so a second put of it finds the first.
func (s *Secrets) PutSecretVersion(ctx context.Context, ref integration.SecretRef, requestToken string, values map[string]string) (integration.SecretVersion, error) {
	name := SecretName(s.prefix, ref)
	if !integration.ValidRequestToken(requestToken) {
		return integration.SecretVersion{}, integration.Invalid(map[string]string{"request_token": "must be 32 to 64 letters, digits or '-'"})
	}
	v := integration.SecretVersion{Name: name, VersionID: requestToken}
	if prev, err := s.GetSecret(ctx, name, requestToken); err == nil {
		if !maps.Equal(prev, values) {
			return integration.SecretVersion{}, integration.Errorf(integration.ECONFLICT, "That secret version was already written with other values.")
		}
		return v, nil
	}
	b, err := s.seal(name, requestToken, values)
	if err != nil {
		return integration.SecretVersion{}, err
	}
	var missing, raced bool
	err = s.db.Update(func(tx *bolt.Tx) error {
		vs := tx.Bucket(bucketSecrets).Bucket([]byte(name))
		if vs == nil {
			missing = true
			return nil
		}
		if vs.Get([]byte(requestToken)) != nil {
			raced = true // the same token put meanwhile
			return nil
		}
		if err := vs.Put([]byte(requestToken), b); err != nil {
			return err
		}
		if err := setCurrent(tx, name, requestToken); err != nil {
			return err
		}
		return prune(vs)
	})
	switch {
	case err != nil:
		return integration.SecretVersion{}, err
	case missing:
		return integration.SecretVersion{}, noSecret()
	case raced:
		return s.PutSecretVersion(ctx, ref, requestToken, values)
	}
	return v, nil
}
