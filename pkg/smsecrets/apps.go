package smsecrets

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
)

// AppsSecret is the secret holding the deployment's app credentials
// (JOINERY_APPS_SECRET), read at its current version. It is named on its
// own, outside the integrations' prefix, so that no function allowed to
// write integration secrets can touch it.
type AppsSecret struct {
	sm   *secretsmanager.Client
	name string
}

// NewAppsSecret returns the apps secret called name ("": none).
func NewAppsSecret(sm *secretsmanager.Client, name string) *AppsSecret {
	return &AppsSecret{sm: sm, name: name}
}

// Read returns the secret's current value; found is false when there is no
// such secret, a deployment without app credentials.
func (s *AppsSecret) Read(ctx context.Context) ([]byte, bool, error) {
	if s.name == "" {
		return nil, false, nil
	}
	out, err := s.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(s.name)})
	var nf *types.ResourceNotFoundException
	if errors.As(err, &nf) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("get secret %s: %w", s.name, err)
	}
	if out.SecretString != nil {
		return []byte(*out.SecretString), true, nil
	}
	return out.SecretBinary, true, nil
}
