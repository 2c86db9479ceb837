package webhook

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// trelloScheme: X-Trello-Webhook is the base64 HMAC-SHA1 of the raw body
// followed by the callback URL exactly as registered (never rebuilt from
// the request: a proxy's rewrite would change it), with the app secret.
// The URL's hook id must also be the registration's. Trello checks a new
// webhook with a HEAD, answered 200 with nothing to verify.
type trelloScheme struct{}

func (trelloScheme) Locate(r Request) (string, string) {
	return hookIDFromPath(r.Path, "trello"), ""
}

func (trelloScheme) Verify(r Request, k Keys, _ time.Time) error {
	if r.Method == http.MethodHead {
		return nil
	}
	if err := checkHookID(r, "trello", k); err != nil {
		return err
	}
	if k.AppSecret == "" {
		return unauthorized("no app secret configured")
	}
	if k.CallbackURL == "" {
		return unauthorized("no callback URL registered")
	}
	sig := r.Header.Get("X-Trello-Webhook")
	if sig == "" {
		return unauthorized("X-Trello-Webhook missing")
	}
	got, err := base64.StdEncoding.DecodeString(strings.TrimSpace(sig))
	if err != nil {
		return unauthorized("X-Trello-Webhook not base64")
	}
	mac := hmac.New(sha1.New, []byte(k.AppSecret))
	mac.Write(r.Body)
	mac.Write([]byte(k.CallbackURL))
	if !hmac.Equal(got, mac.Sum(nil)) {
		return unauthorized("X-Trello-Webhook")
	}
	return nil
}

func (trelloScheme) Parse(r Request) (Delivery, error) {
	d := Delivery{Platform: "trello", HookID: hookIDFromPath(r.Path, "trello")}
	if r.Method == http.MethodHead {
		d.Ack = true
		return d, nil
	}
	var body struct {
		Action struct {
			ID   string `json:"id"`
			Type string `json:"type"`
			Data struct {
				Card *struct {
					ID string `json:"id"`
				} `json:"card"`
			} `json:"data"`
		} `json:"action"`
	}
	if err := json.Unmarshal(r.Body, &body); err != nil {
		return Delivery{}, badRequest("body is not a JSON object")
	}
	if d.ID = body.Action.ID; d.ID == "" {
		return Delivery{}, badRequest("action.id missing")
	}
	if d.Event = body.Action.Type; d.Event == "" {
		return Delivery{}, badRequest("action.type missing")
	}
	if c := body.Action.Data.Card; c != nil && c.ID != "" {
		d.Model, d.ObjectIDs = "card", []string{c.ID}
	}
	return d, nil
}
