package embedded

import (
	"path/filepath"
	"testing"

	"github.com/joinery/joinery/pkg/conformance"
	"github.com/joinery/joinery/pkg/integration"
)

func TestWebhookStoreConformance(t *testing.T) {
	s, err := OpenStore(filepath.Join(t.TempDir(), "joinery.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	conformance.TestWebhookStore(t, func(*testing.T) integration.WebhookStore { return s })
}
