package smsecrets

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/joinery/joinery/pkg/integration"
)

var _ integration.CurrentSecrets = (*Secrets)(nil)

// CurrentSecret reads the AWSCURRENT version. It is never served from the
// cache (which version is current changes); the values of the version it
// finds are cached like any other.
func (s *Secrets) CurrentSecret(ctx context.Context, ref integration.SecretRef) (integration.SecretVersion, map[string]string, error) {
	name := s.Name(ref)
	out, err := s.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(name)})
	if gone(err) {
		return integration.SecretVersion{}, nil, integration.Errorf(integration.ENOTFOUND, "The integration has no stored credentials.")
	}
	if err != nil {
		return integration.SecretVersion{}, nil, fmt.Errorf("get current secret %s: %w", name, err)
	}
	var values map[string]string
	if err := json.Unmarshal([]byte(aws.ToString(out.SecretString)), &values); err != nil {
		return integration.SecretVersion{}, nil, fmt.Errorf("secret %s is not a JSON object of strings", name)
	}
	v := integration.SecretVersion{Name: name, VersionID: aws.ToString(out.VersionId)}
	s.remember(v, values)
	return v, values, nil
}

// PutSecretVersion adds a version with PutSecretValue, its
// ClientRequestToken the caller's token: Secrets Manager makes the same
// token with the same value a no-op, and refuses it with another value.
func (s *Secrets) PutSecretVersion(ctx context.Context, ref integration.SecretRef, requestToken string, values map[string]string) (integration.SecretVersion, error) {
	name := s.Name(ref)
	if !integration.ValidRequestToken(requestToken) {
		return integration.SecretVersion{}, integration.Invalid(map[string]string{"request_token": "must be 32 to 64 letters, digits or '-'"})
	}
	body, err := json.Marshal(values)
	if err != nil {
		return integration.SecretVersion{}, fmt.Errorf("encode secret %s: %w", name, err)
	}
	out, err := s.sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(name), SecretString: aws.String(string(body)), ClientRequestToken: aws.String(requestToken),
	})
	var exists *types.ResourceExistsException
	switch {
	case gone(err):
		return integration.SecretVersion{}, integration.Errorf(integration.ENOTFOUND, "The integration has no stored credentials.")
	case errors.As(err, &exists):
		return integration.SecretVersion{}, integration.Errorf(integration.ECONFLICT, "That secret version was already written with other values.")
	case err != nil:
		return integration.SecretVersion{}, fmt.Errorf("put secret %s: %w", name, err)
	}
	v := integration.SecretVersion{Name: name, VersionID: aws.ToString(out.VersionId)}
	if v.VersionID == "" {
		v.VersionID = requestToken
	}
	s.remember(v, values)
	return v, nil
}

// gone: the secret does not exist, or is scheduled for deletion (its
// integration is being deleted).
func gone(err error) bool {
	var nf *types.ResourceNotFoundException
	var invalid *types.InvalidRequestException
	return errors.As(err, &nf) || errors.As(err, &invalid) && strings.Contains(strings.ToLower(invalid.ErrorMessage()), "deletion")
}

func (s *Secrets) remember(v integration.SecretVersion, values map[string]string) {
	if s.ttl <= 0 {
		return
	}
	s.mu.Lock()
	s.cache[v.Name+"\x00"+v.VersionID] = cached{values: values, expires: time.Now().Add(s.ttl)}
	s.mu.Unlock()
}
