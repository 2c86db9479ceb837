package integration

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"slices"
)

// WebhookSecretKey is the key of an integration's inbound webhook signing
// secret (Standard Webhooks, "whsec_…") in its credentials secret. It is
// kept there beside the credentials the user gives, which never name it:
// replacing those keeps it.
const WebhookSecretKey = "webhook_secret"

// NewWebhookSecret returns a new Standard Webhooks secret: "whsec_" and
// the base64 of 32 random bytes.
func NewWebhookSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

// WebhookSecret returns the integration's stored webhook secret ("" when
// it has none), reading its secret only when its fields name one.
func (s *Service) WebhookSecret(ctx context.Context, it *Integration) (string, error) {
	if !it.Credentials.HasCredentials() || !slices.Contains(it.Credentials.Fields, WebhookSecretKey) {
		return "", nil
	}
	v, err := s.Secrets.GetSecret(ctx, it.Credentials.SecretName, it.Credentials.VersionID)
	if err != nil {
		return "", fmt.Errorf("webhook secret of %s: %w", it.ID, err)
	}
	return v[WebhookSecretKey], nil
}

// withWebhookSecret is creds as they will be stored: with the webhook
// secret given, else the one cur keeps.
func (s *Service) withWebhookSecret(ctx context.Context, cur *Integration, creds map[string]string, given string) (map[string]string, error) {
	if given == "" && cur != nil {
		var err error
		if given, err = s.WebhookSecret(ctx, cur); err != nil {
			return nil, err
		}
	}
	if given == "" {
		return creds, nil
	}
	out := make(map[string]string, len(creds)+1)
	for k, v := range creds {
		out[k] = v
	}
	out[WebhookSecretKey] = given
	return out, nil
}
