package notify

import (
	"encoding/json"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The published vector: the Standard Webhooks reference library's test.
func TestSignMatchesThePublishedVector(t *testing.T) {
	raw, err := os.ReadFile("testdata/standard-webhooks-vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Vectors []struct{ Secret, ID, Timestamp, Body, Expected string }
	}
	if err := json.Unmarshal(raw, &f); err != nil || len(f.Vectors) == 0 {
		t.Fatalf("vectors: %v", err)
	}
	for _, v := range f.Vectors {
		ts, _ := strconv.ParseInt(v.Timestamp, 10, 64)
		got, err := Sign(v.Secret, v.ID, ts, []byte(v.Body))
		if err != nil || got != v.Expected {
			t.Fatalf("Sign = %q, %v; want %q", got, err, v.Expected)
		}
		h := http.Header{}
		h.Set("webhook-id", v.ID)
		h.Set("webhook-timestamp", v.Timestamp)
		h.Set("webhook-signature", "v1,bm90IGl0 "+got)
		if err := Verify(v.Secret, h, []byte(v.Body), time.Unix(ts, 0).Add(time.Minute)); err != nil {
			t.Fatalf("Verify: %v", err)
		}
		if err := Verify(v.Secret, h, []byte(v.Body+" "), time.Unix(ts, 0)); err != ErrBadSignature {
			t.Fatalf("Verify of a changed body: %v", err)
		}
		if err := Verify(v.Secret, h, []byte(v.Body), time.Unix(ts, 0).Add(10*time.Minute)); err == nil {
			t.Fatal("Verify of a stale timestamp passed")
		}
	}
}

func TestSignatureHeaderSignsWithEverySecret(t *testing.T) {
	a, _ := NewSecret()
	b, _ := NewSecret()
	if !strings.HasPrefix(a, SecretPrefix) || a == b {
		t.Fatalf("secrets %q %q", a, b)
	}
	now := time.Unix(1700000000, 0)
	hdr, err := SignatureHeader([]string{a, b}, "evt_1", now.Unix(), []byte("{}"))
	if err != nil || len(strings.Fields(hdr)) != 2 {
		t.Fatalf("header %q %v", hdr, err)
	}
	h := http.Header{}
	h.Set("webhook-id", "evt_1")
	h.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
	h.Set("webhook-signature", hdr)
	for _, s := range []string{a, b} {
		if err := Verify(s, h, []byte("{}"), now); err != nil {
			t.Fatalf("verify with one of the secrets: %v", err)
		}
	}
}
