package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"
)

// tiktokScheme: Tiktok-Signature is "t={unix},s={hex}", s the HMAC-SHA256
// of "{t}.{raw body}" with the app's client secret. TikTok leaves the
// tolerance to the app: Window either side (a one-sided seconds-long check
// breaks on clock skew).
type tiktokScheme struct{}

func (tiktokScheme) Locate(r Request) (string, string) {
	return hookIDFromPath(r.Path, "tiktok"), ""
}

func (tiktokScheme) Verify(r Request, k Keys, now time.Time) error {
	if k.AppSecret == "" {
		return unauthorized("no client secret configured")
	}
	h := r.Header.Get("Tiktok-Signature")
	if h == "" {
		return unauthorized("Tiktok-Signature missing")
	}
	var ts string
	var sigs []string
	for part := range strings.SplitSeq(h, ",") {
		name, val, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch name {
		case "t":
			ts = val
		case "s":
			sigs = append(sigs, val)
		}
	}
	if err := checkFresh("Tiktok-Signature t", ts, now); err != nil {
		return err
	}
	mac := hmac.New(sha256.New, []byte(k.AppSecret))
	mac.Write([]byte(ts))
	mac.Write([]byte("."))
	mac.Write(r.Body)
	want := mac.Sum(nil)
	ok := false
	for _, s := range sigs {
		got, err := hex.DecodeString(s)
		// No early exit: every signature given is compared.
		ok = err == nil && hmac.Equal(got, want) || ok
	}
	if !ok {
		return unauthorized("Tiktok-Signature")
	}
	return nil
}

func (tiktokScheme) Parse(r Request) (Delivery, error) {
	d := Delivery{Platform: "tiktok", HookID: hookIDFromPath(r.Path, "tiktok")}
	var body struct {
		Event      string `json:"event"`
		UserOpenID string `json:"user_openid"`
		OpenID     string `json:"open_id"`
		Content    string `json:"content"`
	}
	if err := json.Unmarshal(r.Body, &body); err != nil {
		return Delivery{}, badRequest("body is not a JSON object")
	}
	if d.Event = body.Event; d.Event == "" {
		return Delivery{}, badRequest("event missing")
	}
	// user_openid is the business account the event belongs to.
	if d.Account = body.UserOpenID; d.Account == "" {
		d.Account = body.OpenID
	}
	if d.Account == "" {
		return Delivery{}, badRequest("user_openid missing")
	}
	// content is a JSON object encoded as a string. TikTok documents no
	// delivery id: a message's id with the event names a delivery; an
	// event without one (a read receipt) is named by its body's hash, the
	// same on every retry.
	var content struct {
		MessageID      string `json:"message_id"`
		ConversationID string `json:"conversation_id"`
	}
	if body.Content != "" && json.Unmarshal([]byte(body.Content), &content) != nil {
		return Delivery{}, badRequest("content is not a JSON object")
	}
	if content.MessageID != "" {
		d.ID = content.MessageID + "#" + d.Event
	} else {
		sum := sha256.Sum256(r.Body)
		d.ID = "sha256:" + hex.EncodeToString(sum[:]) + "#" + d.Event
	}
	if content.ConversationID != "" {
		d.Model, d.ObjectIDs = "conversation", []string{content.ConversationID}
	}
	return d, nil
}
