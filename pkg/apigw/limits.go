package apigw

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
)

// Lambda's payload limits, which API Gateway's HTTP API inherits: a
// function's response is its whole encoded envelope (status, headers and
// the body as a JSON string), and a larger one fails the request.
const (
	// MaxResponseBytes is the largest envelope a synchronous invocation
	// may return.
	MaxResponseBytes = 6_291_556
	// MaxRequestBytes is the largest event a synchronous invocation may
	// be given.
	MaxRequestBytes = 6 << 20
)

// What the records routes keep their responses to, well inside the
// limits above.
const (
	// PageBudgetBytes: a records page stops filling before its encoded
	// envelope would pass this.
	PageBudgetBytes = 5 << 20
	// InlineRecordBytes: a record whose JSON is larger is shown without
	// body_html, and with "body_omitted": true.
	InlineRecordBytes = 1 << 20
	// PartBytes: a large field is read in parts, each at most this large
	// as its response encodes it.
	PartBytes = 4 << 20
	// maxCursorBytes bounds a page's next_cursor, reserved before the page
	// is filled: the stores' cursors are a key or two, far below it.
	maxCursorBytes = 4 << 10
)

// encodeJSON encodes v as the API does: compact and without HTML escaping,
// which would grow every <, > and & of a record's HTML sixfold.
func encodeJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// EnvelopeSize is the size of resp as the Lambda runtime encodes it
// (aws-lambda-go encodes without HTML escaping): the size that counts
// against MaxResponseBytes.
func EnvelopeSize(resp events.APIGatewayV2HTTPResponse) int {
	b, err := encodeJSON(resp)
	if err != nil {
		return MaxResponseBytes + 1
	}
	return len(b)
}

// escapedLen is the length of b once encoded as the contents of a JSON
// string (quotes not counted), escaped as encoding/json does without HTML
// escaping: what a body costs inside its envelope.
func escapedLen(b []byte) int {
	n := 0
	for len(b) > 0 {
		c := b[0]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t' || c == '\b' || c == '\f':
				n += 2
			case c < 0x20:
				n += 6 // \u00XX
			default:
				n++
			}
			b = b[1:]
			continue
		}
		r, size := utf8.DecodeRune(b)
		switch {
		case r == utf8.RuneError && size == 1:
			n += 6 // \ufffd
		case r == '\u2028' || r == '\u2029':
			n += 6
		default:
			n += size
		}
		b = b[size:]
	}
	return n
}

// partCost bounds what a rune of a field costs in a part's envelope: once
// escaped in the part's body, and that escaped again in the envelope.
func partCost(r rune, size int) int {
	switch {
	case r == '"' || r == '\\':
		return 4 // \\\" or \\\\
	case r == '\n' || r == '\r' || r == '\t':
		return 3 // \\n
	case r < 0x20, r == '\u2028', r == '\u2029', r == utf8.RuneError && size == 1:
		return 7 // \\u00XX
	}
	return size
}

// splitParts cuts s at rune boundaries into parts that each cost at most
// max in their envelope. The cut depends only on s, so every request for
// a part of the same value cuts it the same way. There is always at least
// one part (an empty value is one empty part).
func splitParts(s string, max int) []string {
	var parts []string
	start, cost := 0, 0
	for i, r := range s {
		size := utf8.RuneLen(r)
		if r == utf8.RuneError {
			_, size = utf8.DecodeRuneInString(s[i:])
		}
		c := partCost(r, size)
		if cost+c > max && i > start {
			parts = append(parts, s[start:i])
			start, cost = i, 0
		}
		cost += c
	}
	return append(parts, s[start:])
}
