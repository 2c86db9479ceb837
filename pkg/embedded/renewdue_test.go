package embedded

import (
	"path/filepath"
	"testing"

	"github.com/joinery/joinery/pkg/conformance"
	"github.com/joinery/joinery/pkg/integration"
)

func TestDueRenewalsConformance(t *testing.T) {
	s, err := OpenStore(filepath.Join(t.TempDir(), "joinery.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	conformance.TestDueRenewals(t, func(*testing.T) integration.Store { return s })
}
