package smsecrets

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/joinery/joinery/pkg/integration"
)

// CursorKeySecret is the secret holding the key that signs the API's
// cursors (JOINERY_CURSOR_KEY_SECRET), created by the stack with a
// generated value. Its value is the key. Rotating it is putting a new
// value: Secrets Manager labels the version before AWSPREVIOUS, which is
// the previous key, and the new version's creation date is the time of
// rotation.
type CursorKeySecret struct {
	sm   *secretsmanager.Client
	name string
}

var _ integration.CursorKeys = (*CursorKeySecret)(nil)

// NewCursorKeySecret returns the cursor key secret called name (or ARN).
func NewCursorKeySecret(sm *secretsmanager.Client, name string) *CursorKeySecret {
	return &CursorKeySecret{sm: sm, name: name}
}

// CursorKeys reads the current version and the previous one; the caller
// decides whether the previous is still within its grace period.
func (s *CursorKeySecret) CursorKeys(ctx context.Context) (integration.CursorKeySet, error) {
	cur, err := s.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(s.name)})
	if err != nil {
		return integration.CursorKeySet{}, fmt.Errorf("get cursor key secret %s: %w", s.name, err)
	}
	set := integration.CursorKeySet{Current: secretBytes(cur.SecretString, cur.SecretBinary)}
	if len(set.Current) < integration.MinCursorKeyBytes {
		return integration.CursorKeySet{}, fmt.Errorf("cursor key secret %s: its value must be at least %d bytes", s.name, integration.MinCursorKeyBytes)
	}
	if cur.CreatedDate == nil {
		return set, nil
	}
	prev, err := s.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(s.name), VersionStage: aws.String("AWSPREVIOUS")})
	var nf *types.ResourceNotFoundException
	if errors.As(err, &nf) {
		return set, nil // never rotated
	}
	if err != nil {
		return integration.CursorKeySet{}, fmt.Errorf("get cursor key secret %s (AWSPREVIOUS): %w", s.name, err)
	}
	set.Previous, set.RotatedAt = secretBytes(prev.SecretString, prev.SecretBinary), cur.CreatedDate.UTC()
	return set, nil
}

func secretBytes(s *string, b []byte) []byte {
	if s != nil {
		return []byte(*s)
	}
	return b
}

// NewCursorKey is a value for the cursor key secret: 64 letters and
// digits, as the stack generates it.
func NewCursorKey() (string, error) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 64)
	for i := range b {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		if err != nil {
			return "", fmt.Errorf("new cursor key: %w", err)
		}
		b[i] = alphabet[n.Int64()]
	}
	return string(b), nil
}

// CreateCursorKeySecret creates the cursor key secret with a new key
// unless it exists: what the stack does, for the local runner on an
// AWS-compatible endpoint.
func CreateCursorKeySecret(ctx context.Context, sm *secretsmanager.Client, name string) error {
	key, err := NewCursorKey()
	if err != nil {
		return err
	}
	_, err = sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(key)})
	var exists *types.ResourceExistsException
	if err != nil && !errors.As(err, &exists) {
		return fmt.Errorf("create cursor key secret %s: %w", name, err)
	}
	return nil
}
