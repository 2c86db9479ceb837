package embedded

import (
	"testing"

	"github.com/joinery/joinery/pkg/conformance"
)

func TestCurrentSecretsConformance(t *testing.T) {
	s, err := OpenSecrets(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	conformance.TestCurrentSecrets(t, func(*testing.T) conformance.CurrentSecretStore { return s })
}
