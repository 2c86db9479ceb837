package integration

import "context"

// CurrentSecrets reads an integration's secret as last written, whatever
// version the integration points at, and writes versions idempotently.
// Token refreshes need both: every process reads the tokens the last
// refresh stored, and a refresh retried after a timeout stores its
// answer once.
type CurrentSecrets interface {
	// CurrentSecret returns the secret's current version (the last one
	// written; Secrets Manager's AWSCURRENT) and its values; ENOTFOUND
	// when the integration has no secret.
	CurrentSecret(ctx context.Context, ref SecretRef) (SecretVersion, map[string]string, error)
	// PutSecretVersion writes values as the existing secret's new current
	// version, idempotently on requestToken (32 to 64 letters, digits or
	// '-'): a put whose token was used before writes nothing and returns
	// that version, as it was, without making it current again; with
	// other values it is ECONFLICT. ENOTFOUND when the secret does not
	// exist (deleted meanwhile: nothing is brought back).
	PutSecretVersion(ctx context.Context, ref SecretRef, requestToken string, values map[string]string) (SecretVersion, error)
}

// ValidRequestToken reports whether token can be a secret version's
// idempotency token: what Secrets Manager accepts.
func ValidRequestToken(token string) bool {
	if len(token) < 32 || len(token) > 64 {
		return false
	}
	for _, c := range token {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}
