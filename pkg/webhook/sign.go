package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// The signers below produce what each platform sends, for the fakes and
// tests that play a platform, and for the WordPress plugin's tests. Each
// is the inverse of its scheme's Verify.

// NewStandardSecret returns a new Standard Webhooks secret: "whsec_" and
// the base64 of 32 random bytes.
func NewStandardSecret() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return "whsec_" + base64.StdEncoding.EncodeToString(b[:]), nil
}

// SignStandard returns the webhook-signature value ("v1,{base64}") of a
// Standard Webhooks delivery; it is sent with webhook-id id and
// webhook-timestamp ts.Unix(). A secret that is not whsec_ base64 gives
// "", which never verifies.
func SignStandard(secret, id string, ts time.Time, body []byte) string {
	key, err := standardKey(secret)
	if err != nil {
		return ""
	}
	mac := standardMAC(key, id, strconv.FormatInt(ts.Unix(), 10), body)
	return "v1," + base64.StdEncoding.EncodeToString(mac)
}

// SignShopify returns the X-Shopify-Hmac-Sha256 value of body.
func SignShopify(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// SignSlack returns the X-Slack-Signature value of body sent with
// X-Slack-Request-Timestamp ts.Unix().
func SignSlack(secret string, ts time.Time, body []byte) string {
	return "v0=" + hex.EncodeToString(slackMAC(secret, strconv.FormatInt(ts.Unix(), 10), body))
}

// SignTikTok returns the Tiktok-Signature value ("t=…,s=…") of body sent
// at ts.
func SignTikTok(secret string, ts time.Time, body []byte) string {
	t := strconv.FormatInt(ts.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(t + "."))
	mac.Write(body)
	return "t=" + t + ",s=" + hex.EncodeToString(mac.Sum(nil))
}

// SignTrello returns the X-Trello-Webhook value of body posted to
// callbackURL.
func SignTrello(secret, callbackURL string, body []byte) string {
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write(body)
	mac.Write([]byte(callbackURL))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// SignJiraHub returns the X-Hub-Signature value ("sha256=…") of an admin
// webhook's body.
func SignJiraHub(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// SignJiraJWT returns an Authorization value ("JWT …") as an app's dynamic
// webhook carries: HS256 with the client secret, expiring at exp.
func SignJiraJWT(secret string, exp time.Time) (string, error) {
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{
		Issuer:    "jira",
		IssuedAt:  jwt.NewNumericDate(exp.Add(-3 * time.Minute)),
		ExpiresAt: jwt.NewNumericDate(exp),
	}).SignedString([]byte(secret))
	if err != nil {
		return "", err
	}
	return "JWT " + tok, nil
}
