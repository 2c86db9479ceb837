package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"
)

// wordpressScheme: Joinery's WordPress plugin signs by Standard Webhooks:
// webhook-signature holds space-separated "v1,{base64}" signatures, each
// the HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.{raw body}" with
// the integration's whsec_ secret (base64 after the prefix); the
// timestamp must be within Window of now. The path's hook id is the
// integration id, which is how the receiver finds the secret: never from
// the unverified body.
type wordpressScheme struct{}

func (wordpressScheme) Locate(r Request) (string, string) {
	return hookIDFromPath(r.Path, "wordpress"), ""
}

func (wordpressScheme) Verify(r Request, k Keys, now time.Time) error {
	if err := checkHookID(r, "wordpress", k); err != nil {
		return err
	}
	key, err := standardKey(k.HookSecret)
	if err != nil {
		return unauthorized("no valid webhook secret registered")
	}
	id := r.Header.Get("Webhook-Id")
	if id == "" {
		return unauthorized("webhook-id missing")
	}
	ts := r.Header.Get("Webhook-Timestamp")
	if err := checkFresh("webhook-timestamp", ts, now); err != nil {
		return err
	}
	sigs := r.Header.Get("Webhook-Signature")
	if sigs == "" {
		return unauthorized("webhook-signature missing")
	}
	want := standardMAC(key, id, ts, r.Body)
	ok := false
	for _, s := range strings.Fields(sigs) {
		b64, isV1 := strings.CutPrefix(s, "v1,")
		if !isV1 {
			continue // another version: not ours to check
		}
		got, err := base64.StdEncoding.DecodeString(b64)
		ok = err == nil && hmac.Equal(got, want) || ok
	}
	if !ok {
		return unauthorized("webhook-signature")
	}
	return nil
}

// standardKey is the HMAC key of a Standard Webhooks secret: the base64
// after "whsec_" (the prefix is optional, as in the reference libraries).
func standardKey(secret string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil || len(key) == 0 {
		return nil, ErrUnauthorized
	}
	return key, nil
}

func standardMAC(key []byte, id, ts string, body []byte) []byte {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id))
	mac.Write([]byte("."))
	mac.Write([]byte(ts))
	mac.Write([]byte("."))
	mac.Write(body)
	return mac.Sum(nil)
}

// wordpressActions are the post changes the plugin reports.
var wordpressActions = map[string]bool{
	"post_created": true, "post_updated": true, "post_trashed": true,
	"post_untrashed": true, "post_deleted": true,
}

func (wordpressScheme) Parse(r Request) (Delivery, error) {
	d := Delivery{Platform: "wordpress", HookID: hookIDFromPath(r.Path, "wordpress")}
	if d.ID = r.Header.Get("Webhook-Id"); d.ID == "" {
		return Delivery{}, badRequest("webhook-id missing")
	}
	var body struct {
		Action   string          `json:"action"`
		PostID   json.RawMessage `json:"post_id"`
		PostType string          `json:"post_type"`
	}
	if err := json.Unmarshal(r.Body, &body); err != nil {
		return Delivery{}, badRequest("body is not a JSON object")
	}
	if !wordpressActions[body.Action] {
		return Delivery{}, badRequest("action is not one of post_created, post_updated, post_trashed, post_untrashed, post_deleted")
	}
	d.Event = body.Action
	id, ok := idString(body.PostID)
	if !ok || !isDigits(id) || strings.Trim(id, "0") == "" || len(id) > 20 {
		return Delivery{}, badRequest("post_id is not a positive integer")
	}
	d.ObjectIDs = []string{strings.TrimLeft(id, "0")}
	// The post type is the record model as is ("post", "page", a custom
	// type): WordPress keys are lowercase letters, digits, - and _.
	if !isPostType(body.PostType) {
		return Delivery{}, badRequest("post_type missing or not a WordPress post type")
	}
	d.Model = body.PostType
	return d, nil
}

func isPostType(s string) bool {
	if s == "" || len(s) > 20 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
