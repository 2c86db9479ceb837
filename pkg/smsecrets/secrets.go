// Package smsecrets keeps each integration's credentials in one AWS Secrets
// Manager secret, named from a prefix, the account and the integration id.
package smsecrets

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/joinery/joinery/pkg/integration"
)

// Secrets implements integration.Secrets on Secrets Manager. Values are
// cached in memory by (name, version): a version never changes, so the
// cache is never stale; the TTL only bounds how long a deleted secret's
// values stay in a warm Lambda's memory.
type Secrets struct {
	sm     *secretsmanager.Client
	prefix string
	ttl    time.Duration

	mu    sync.Mutex
	cache map[string]cached
}

type cached struct {
	values  map[string]string
	expires time.Time
}

var _ integration.Secrets = (*Secrets)(nil)

// New returns a secret store; prefix defaults to "joinery/".
func New(sm *secretsmanager.Client, prefix string, ttl time.Duration) *Secrets {
	if prefix == "" {
		prefix = "joinery/"
	}
	return &Secrets{sm: sm, prefix: prefix, ttl: ttl, cache: map[string]cached{}}
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9/_+=.@-]`)

// Name is the secret name of an integration.
func (s *Secrets) Name(ref integration.SecretRef) string {
	return s.prefix + unsafeChars.ReplaceAllString(ref.AccountID, "_") + "/" + ref.IntegrationID
}

func newVersionID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40 // a v4 UUID, the token shape Secrets Manager expects
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// PutSecret creates the secret, or adds a version to it.
func (s *Secrets) PutSecret(ctx context.Context, ref integration.SecretRef, values map[string]string) (integration.SecretVersion, error) {
	name := s.Name(ref)
	body, err := json.Marshal(values)
	if err != nil {
		return integration.SecretVersion{}, fmt.Errorf("encode secret %s: %w", name, err)
	}
	version := newVersionID()
	_, err = s.sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String(name), SecretString: aws.String(string(body)), ClientRequestToken: aws.String(version),
		Description: aws.String("Joinery integration credentials"),
		Tags: []types.Tag{
			{Key: aws.String("joinery:account"), Value: aws.String(ref.AccountID)},
			{Key: aws.String("joinery:site"), Value: aws.String(ref.SiteID)},
			{Key: aws.String("joinery:platform"), Value: aws.String(ref.Platform)},
			{Key: aws.String("joinery:integration"), Value: aws.String(ref.IntegrationID)},
		},
	})
	var exists *types.ResourceExistsException
	var invalid *types.InvalidRequestException
	switch {
	case err == nil:
		return integration.SecretVersion{Name: name, VersionID: version}, nil
	case errors.As(err, &invalid) && strings.Contains(strings.ToLower(invalid.ErrorMessage()), "deletion"):
		// Removed moments ago and not yet gone: bring it back, then write.
		if _, rerr := s.sm.RestoreSecret(ctx, &secretsmanager.RestoreSecretInput{SecretId: aws.String(name)}); rerr != nil {
			return integration.SecretVersion{}, fmt.Errorf("restore secret %s: %w", name, rerr)
		}
	case !errors.As(err, &exists):
		return integration.SecretVersion{}, fmt.Errorf("create secret %s: %w", name, err)
	}
	_, err = s.sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(name), SecretString: aws.String(string(body)), ClientRequestToken: aws.String(version),
	})
	if err != nil {
		return integration.SecretVersion{}, fmt.Errorf("put secret %s: %w", name, err)
	}
	return integration.SecretVersion{Name: name, VersionID: version}, nil
}

// GetSecret reads one version.
func (s *Secrets) GetSecret(ctx context.Context, name, versionID string) (map[string]string, error) {
	k := name + "\x00" + versionID
	s.mu.Lock()
	c, ok := s.cache[k]
	s.mu.Unlock()
	if ok && time.Now().Before(c.expires) {
		return c.values, nil
	}
	if versionID == "" {
		return nil, integration.Errorf(integration.ENOTFOUND, "Secret version not found.")
	}
	out, err := s.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(name), VersionId: aws.String(versionID)})
	var nf *types.ResourceNotFoundException
	if errors.As(err, &nf) {
		return nil, integration.Errorf(integration.ENOTFOUND, "Secret version not found.")
	}
	if err != nil {
		return nil, fmt.Errorf("get secret %s: %w", name, err)
	}
	var values map[string]string
	if err := json.Unmarshal([]byte(aws.ToString(out.SecretString)), &values); err != nil {
		return nil, fmt.Errorf("secret %s is not a JSON object of strings", name)
	}
	if s.ttl > 0 {
		s.mu.Lock()
		s.cache[k] = cached{values: values, expires: time.Now().Add(s.ttl)}
		s.mu.Unlock()
	}
	return values, nil
}

// DeleteSecret removes the secret at once, with no recovery window: the
// integration it belonged to is gone.
func (s *Secrets) DeleteSecret(ctx context.Context, ref integration.SecretRef) error {
	name := s.Name(ref)
	s.mu.Lock()
	for k := range s.cache {
		if strings.HasPrefix(k, name+"\x00") {
			delete(s.cache, k)
		}
	}
	s.mu.Unlock()
	_, err := s.sm.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String(name), ForceDeleteWithoutRecovery: aws.Bool(true)})
	var nf *types.ResourceNotFoundException
	if err != nil && !errors.As(err, &nf) {
		return fmt.Errorf("delete secret %s: %w", name, err)
	}
	return nil
}
