package webhook

import (
	"time"
)

// googleScheme: Google Calendar push notifications are not signed. The
// channel id names the channel; X-Goog-Channel-Token must be the token
// Joinery chose when it opened the channel (stored as its hash).
type googleScheme struct{}

func (googleScheme) Locate(r Request) (string, string) {
	return hookIDFromPath(r.Path, "google_calendar"), r.Header.Get("X-Goog-Channel-Id")
}

func (googleScheme) Verify(r Request, k Keys, _ time.Time) error {
	if k.TokenHash == "" {
		return unauthorized("no channel token registered")
	}
	if r.Header.Get("X-Goog-Channel-Id") == "" {
		return unauthorized("X-Goog-Channel-ID missing")
	}
	tok := r.Header.Get("X-Goog-Channel-Token")
	if tok == "" {
		return unauthorized("X-Goog-Channel-Token missing")
	}
	if !equalHash(tok, k.TokenHash) {
		return unauthorized("X-Goog-Channel-Token")
	}
	return nil
}

func (googleScheme) Parse(r Request) (Delivery, error) {
	d := Delivery{Platform: "google_calendar", HookID: hookIDFromPath(r.Path, "google_calendar")}
	if d.Account = r.Header.Get("X-Goog-Channel-Id"); d.Account == "" {
		return Delivery{}, badRequest("X-Goog-Channel-ID missing")
	}
	n := r.Header.Get("X-Goog-Message-Number")
	if !isDigits(n) {
		return Delivery{}, badRequest("X-Goog-Message-Number missing or not a number")
	}
	// Message numbers increase per channel: the pair names a delivery.
	d.ID = d.Account + "#" + n
	switch d.Event = r.Header.Get("X-Goog-Resource-State"); d.Event {
	case "sync":
		// The channel's first message says only that it is open.
		d.Ack = true
	case "exists", "not_exists":
	default:
		return Delivery{}, badRequest("X-Goog-Resource-State missing or unknown")
	}
	return d, nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
