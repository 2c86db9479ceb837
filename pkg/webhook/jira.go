package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// jiraScheme: every Jira webhook URL carries a random hook id per
// integration, compared in constant time: dynamic webhooks of OAuth apps
// may come unsigned, so the unguessable URL is the floor. On top of it,
// whatever the delivery carries is checked: an Authorization JWT (HS256
// with the app's client secret, exp required) and an admin webhook's
// X-Hub-Signature (sha256= hex HMAC of the body with its secret, required
// whenever the registration has a secret).
type jiraScheme struct{}

func (jiraScheme) Locate(r Request) (string, string) {
	return hookIDFromPath(r.Path, "jira"), ""
}

func (jiraScheme) Verify(r Request, k Keys, now time.Time) error {
	if err := checkHookID(r, "jira", k); err != nil {
		return err
	}
	if auth := r.Header.Get("Authorization"); auth != "" {
		if err := checkJiraJWT(auth, k.AppSecret, now); err != nil {
			return err
		}
	}
	sig := r.Header.Get("X-Hub-Signature")
	if sig == "" {
		if k.HookSecret != "" {
			return unauthorized("X-Hub-Signature missing")
		}
		return nil
	}
	if k.HookSecret == "" {
		return unauthorized("no webhook secret registered")
	}
	hexSig, ok := strings.CutPrefix(sig, "sha256=")
	if !ok {
		return unauthorized("X-Hub-Signature not sha256")
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return unauthorized("X-Hub-Signature not hex")
	}
	mac := hmac.New(sha256.New, []byte(k.HookSecret))
	mac.Write(r.Body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return unauthorized("X-Hub-Signature")
	}
	return nil
}

func checkJiraJWT(auth, secret string, now time.Time) error {
	scheme, tok, _ := strings.Cut(auth, " ")
	if !strings.EqualFold(scheme, "JWT") && !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return unauthorized("Authorization is not a JWT")
	}
	if secret == "" {
		return unauthorized("no client secret configured")
	}
	p := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	_, err := p.Parse(strings.TrimSpace(tok), func(*jwt.Token) (any, error) { return []byte(secret), nil })
	if err != nil {
		// jwt's messages hold no token or key, but say it in our words.
		return unauthorized("Authorization JWT invalid or expired")
	}
	return nil
}

func (jiraScheme) Parse(r Request) (Delivery, error) {
	d := Delivery{Platform: "jira", HookID: hookIDFromPath(r.Path, "jira")}
	// Stays the same across retries of one delivery.
	if d.ID = r.Header.Get("X-Atlassian-Webhook-Identifier"); d.ID == "" {
		return Delivery{}, badRequest("X-Atlassian-Webhook-Identifier missing")
	}
	var body struct {
		WebhookEvent string `json:"webhookEvent"`
		Issue        *struct {
			ID json.RawMessage `json:"id"`
		} `json:"issue"`
	}
	if err := json.Unmarshal(r.Body, &body); err != nil {
		return Delivery{}, badRequest("body is not a JSON object")
	}
	if d.Event = body.WebhookEvent; d.Event == "" {
		return Delivery{}, badRequest("webhookEvent missing")
	}
	if body.Issue != nil {
		if id, ok := idString(body.Issue.ID); ok {
			d.Model, d.ObjectIDs = "issue", []string{id}
		}
	}
	return d, nil
}
