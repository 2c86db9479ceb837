// Package notify tells the host app of every change it may care about:
// events fanned out from the store to the host's endpoints, delivered as
// Standard Webhooks (signed, retried on a schedule, logged), and put on an
// event bus.
package notify

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// SecretPrefix starts every endpoint secret, as Standard Webhooks does.
const SecretPrefix = "whsec_"

// NewSecret returns a fresh endpoint secret: whsec_ and 32 random bytes
// in base64.
func NewSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("make a secret: %w", err)
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(b), nil
}

func secretKey(secret string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, SecretPrefix))
	if err != nil || len(key) == 0 {
		return nil, errors.New("the secret is not whsec_ followed by base64")
	}
	return key, nil
}

// Sign returns one Standard Webhooks signature, "v1,<base64 of
// HMAC-SHA256(id.timestamp.body)>".
func Sign(secret, id string, timestamp int64, body []byte) (string, error) {
	key, err := secretKey(secret)
	if err != nil {
		return "", err
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + strconv.FormatInt(timestamp, 10) + "."))
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil)), nil
}

// SignatureHeader is the webhook-signature header: one signature per
// secret, space-separated (several during a secret's rotation).
func SignatureHeader(secrets []string, id string, timestamp int64, body []byte) (string, error) {
	sigs := make([]string, 0, len(secrets))
	for _, s := range secrets {
		sig, err := Sign(s, id, timestamp, body)
		if err != nil {
			return "", err
		}
		sigs = append(sigs, sig)
	}
	return strings.Join(sigs, " "), nil
}

// Tolerance is how far a delivery's timestamp may be from the receiver's
// clock.
const Tolerance = 5 * time.Minute

// ErrBadSignature is a delivery whose signature does not verify.
var ErrBadSignature = errors.New("no signature of the delivery verifies with the secret")

// Verify checks a delivery as a receiver does: the timestamp within
// Tolerance of now, and one of the signatures made with secret.
func Verify(secret string, h http.Header, body []byte, now time.Time) error {
	ts, err := strconv.ParseInt(h.Get("webhook-timestamp"), 10, 64)
	if err != nil {
		return errors.New("webhook-timestamp is missing or not a number")
	}
	if d := now.Sub(time.Unix(ts, 0)); d > Tolerance || d < -Tolerance {
		return errors.New("webhook-timestamp is too far from now")
	}
	want, err := Sign(secret, h.Get("webhook-id"), ts, body)
	if err != nil {
		return err
	}
	for _, sig := range strings.Fields(h.Get("webhook-signature")) {
		if hmac.Equal([]byte(sig), []byte(want)) {
			return nil
		}
	}
	return ErrBadSignature
}
