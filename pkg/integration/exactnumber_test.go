package integration

import (
	"encoding/json"
	"testing"
)

func TestExactNumber(t *testing.T) {
	for n, want := range map[string]bool{
		"0": true, "-12": true, "9007199254740992": true, "-9007199254740992": true,
		"9007199254740993": false, "123456789012345678901234567890": false,
		"1.5": true, "1e3": true, "1E-5": true, "1e-999999": true, "2.5e-3": true,
		"9007199254740993.0": false, "1e16": false, "1e999999": false, "-1e400": false,
	} {
		if got := exactNumber(json.Number(n)); got != want {
			t.Errorf("exactNumber(%s) = %v, want %v", n, got, want)
		}
	}
}
