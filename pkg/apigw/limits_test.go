package apigw

import (
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

// awkward holds every kind of character that JSON escapes differently.
const awkward = "plain <p class=\"x\">a & b</p>\\ \n\r\t\b\f\x01\x1f é 漢 😀 \u2028\u2029 \xff"

func randomText(r *rand.Rand, n int) string {
	pieces := []string{"a", "<", ">", "&", "\"", "\\", "\n", "\t", "\x01", "é", "漢", "😀", "\u2028", "\xff", " ", "p"}
	var b strings.Builder
	for b.Len() < n {
		b.WriteString(pieces[r.IntN(len(pieces))])
	}
	return b.String()
}

func TestEscapedLenIsWhatJSONEncodingMakes(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	inputs := []string{"", "abc", awkward}
	for range 200 {
		inputs = append(inputs, randomText(r, r.IntN(200)))
	}
	for _, s := range inputs {
		enc, err := encodeJSON(s)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := escapedLen([]byte(s)), len(enc)-2; got != want {
			t.Fatalf("escapedLen(%q) = %d, encoding/json makes %d (%s)", s, got, want, enc)
		}
	}
}

func TestEncodingLeavesHTMLAlone(t *testing.T) {
	b, err := encodeJSON(map[string]string{"body_html": "<p>a & b</p>"})
	if err != nil || string(b) != `{"body_html":"<p>a & b</p>"}` {
		t.Fatalf("got %s (%v), want the HTML unescaped", b, err)
	}
}

// Parts cut a value at rune boundaries, put back together make it
// whole, and each costs at most the maximum in its envelope.
func TestSplitParts(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	inputs := []string{"", "x", awkward, strings.Repeat(awkward, 50)}
	for range 50 {
		inputs = append(inputs, randomText(r, r.IntN(3000)))
	}
	for _, s := range inputs {
		for _, max := range []int{8, 64, 1000} {
			parts := splitParts(s, max)
			if len(parts) == 0 || strings.Join(parts, "") != s {
				t.Fatalf("splitParts(%q, %d) = %q: not the value whole", s, max, parts)
			}
			for _, p := range parts {
				if utf8.ValidString(s) && !utf8.ValidString(p) {
					t.Fatalf("part %q of %q is cut inside a character", p, s)
				}
				body, _ := encodeJSON(map[string]string{"data": p})
				inner, _ := encodeJSON(p)
				if cost := escapedLen(inner[1 : len(inner)-1]); cost > max && len([]rune(p)) > 1 {
					t.Fatalf("part %q costs %d in its envelope, max %d (body %s)", p, cost, max, body)
				}
			}
		}
	}
	if n := len(splitParts(strings.Repeat("a", 100), 10)); n != 10 {
		t.Fatalf("100 plain bytes in parts of 10: %d parts", n)
	}
}
