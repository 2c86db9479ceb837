package webhook

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Hash is the SHA-256 (hex) under which secret hook ids and Google channel
// tokens are stored: a stored value reveals nothing of the secret, and a
// comparison of two hashes takes the same time whatever the inputs.
func Hash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// unauthorized and badRequest name what failed (a header or field), never
// a value: errors end up in logs and answers, and a value may be a secret
// or a tenant's content.
func unauthorized(what string) error { return fmt.Errorf("%w: %s", ErrUnauthorized, what) }
func badRequest(what string) error   { return fmt.Errorf("%w: %s", ErrBadRequest, what) }

// hookIDFromPath returns the hook id of /webhooks/{platform}/{hook_id}
// ("" for /webhooks/{platform}). A prefix before /webhooks/ (a CDN's origin
// path) is allowed; anything after the hook id is not.
func hookIDFromPath(path, platform string) string {
	marker := "/webhooks/" + platform
	i := strings.LastIndex(path, marker)
	if i < 0 {
		return ""
	}
	rest := path[i+len(marker):]
	if len(rest) < 2 || rest[0] != '/' {
		return ""
	}
	rest = rest[1:]
	if strings.ContainsAny(rest, "/?#") {
		return ""
	}
	return rest
}

// equalSecret compares two secrets in constant time: both are hashed first,
// so neither their contents nor their lengths show in the timing. Empty
// never matches.
func equalSecret(got, want string) bool {
	g := sha256.Sum256([]byte(got))
	w := sha256.Sum256([]byte(want))
	eq := subtle.ConstantTimeCompare(g[:], w[:]) == 1
	return eq && got != "" && want != ""
}

// equalHash says, in constant time, whether secret hashes to wantHex (a
// SHA-256 in hex, either case). Empty never matches.
func equalHash(secret, wantHex string) bool {
	var want [sha256.Size]byte
	if secret == "" || len(wantHex) != 2*sha256.Size {
		return false
	}
	if _, err := hex.Decode(want[:], []byte(wantHex)); err != nil {
		return false
	}
	got := sha256.Sum256([]byte(secret))
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1
}

// checkHookID verifies the path's hook id against the registration's:
// HookID, HookIDHash or both. Neither set, or no hook id in the path,
// fails.
func checkHookID(r Request, platform string, k Keys) error {
	got := hookIDFromPath(r.Path, platform)
	if got == "" {
		return unauthorized("hook id missing from the path")
	}
	if k.HookID == "" && k.HookIDHash == "" {
		return unauthorized("no hook id registered")
	}
	ok := true
	if k.HookID != "" {
		ok = equalSecret(got, k.HookID) && ok
	}
	if k.HookIDHash != "" {
		ok = equalHash(got, k.HookIDHash) && ok
	}
	if !ok {
		return unauthorized("hook id")
	}
	return nil
}

// checkFresh parses a unix-seconds timestamp and checks it is within
// Window of now, either side (clocks drift both ways).
func checkFresh(header, ts string, now time.Time) error {
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sec <= 0 {
		return unauthorized(header + " missing or not a unix time")
	}
	d := now.Sub(time.Unix(sec, 0))
	if d > Window || d < -Window {
		return unauthorized(header + " outside the allowed window")
	}
	return nil
}

// idString reads an id the body gives as a JSON number or string, exactly
// as written (a float64 would round ids above 2^53): false when absent,
// null, empty or of another type.
func idString(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 {
		return "", false
	}
	switch raw[0] {
	case '"':
		var s string
		if json.Unmarshal(raw, &s) != nil || s == "" {
			return "", false
		}
		return s, true
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return string(raw), true
	}
	return "", false
}

// topLevel returns the value of key in the JSON object body, reading no
// further than it: a large verified body (a Shopify product with its
// variants) is not decoded for the one id it leads with. Absent: nil.
func topLevel(body []byte, key string) (json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, badRequest("body is not a JSON object")
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, badRequest("body is not a JSON object")
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, badRequest("body is not a JSON object")
		}
		if tok == key {
			return v, nil
		}
	}
	return nil, nil
}

// maxField bounds each id and name a delivery carries, so a queued
// message and a dedupe key stay small whatever a platform sends.
const maxField = 512

// bounded refuses a parsed delivery whose ids or names are beyond
// maxField (or that names more than 16 objects).
type bounded struct{ Scheme }

func (b bounded) Parse(r Request) (Delivery, error) {
	d, err := b.Scheme.Parse(r)
	if err != nil {
		return Delivery{}, err
	}
	for _, f := range [...]struct{ name, v string }{
		{"delivery id", d.ID}, {"event", d.Event}, {"account", d.Account}, {"model", d.Model}, {"hook id", d.HookID},
	} {
		if len(f.v) > maxField {
			return Delivery{}, badRequest(f.name + " too long")
		}
	}
	if len(d.ObjectIDs) > 16 {
		return Delivery{}, badRequest("too many object ids")
	}
	for _, id := range d.ObjectIDs {
		if len(id) > maxField {
			return Delivery{}, badRequest("object id too long")
		}
	}
	return d, nil
}
