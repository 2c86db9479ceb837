package fakeplatforms

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
)

// body is a token request's parameters and how they came.
type body struct {
	v        url.Values
	encoding string // form, json, or "" (none or unreadable)
	// Basic client credentials, when the request carried them.
	basicID, basicSecret string
	hasBasic             bool
}

// readBody reads a form or JSON body; JSON values that are not strings
// are kept in their JSON text (Shopify's expiring may come as 1 or "1").
func readBody(r *http.Request) body {
	var b body
	b.basicID, b.basicSecret, b.hasBasic = r.BasicAuth()
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	raw, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	switch mt {
	case "application/x-www-form-urlencoded":
		v, err := url.ParseQuery(string(raw))
		if err == nil {
			b.v, b.encoding = v, "form"
		}
	case "application/json":
		var m map[string]any
		if json.Unmarshal(raw, &m) == nil {
			b.v, b.encoding = url.Values{}, "json"
			for k, x := range m {
				switch x := x.(type) {
				case string:
					b.v.Set(k, x)
				case nil:
				default:
					j, _ := json.Marshal(x)
					b.v.Set(k, string(j))
				}
			}
		}
	}
	if b.v == nil {
		b.v = url.Values{}
	}
	return b
}

// client returns the client credentials the request carried: Basic when
// present, else the body's client_id and client_secret.
func (b body) client(allowBasic, allowBody bool) (id, secret, how string) {
	if allowBasic && b.hasBasic {
		return b.basicID, b.basicSecret, "basic"
	}
	if allowBody && (b.v.Get("client_id") != "" || b.v.Get("client_secret") != "") {
		return b.v.Get("client_id"), b.v.Get("client_secret"), "body"
	}
	return "", "", ""
}

func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func retryAfter(w http.ResponseWriter, seconds int) {
	w.Header().Set("Retry-After", fmt.Sprint(seconds))
}
