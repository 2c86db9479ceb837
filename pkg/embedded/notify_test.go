package embedded

import (
	"path/filepath"
	"testing"

	"github.com/joinery/joinery/pkg/conformance"
)

func TestNotifyStoreConformance(t *testing.T) {
	s, err := OpenStore(filepath.Join(t.TempDir(), "joinery.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	conformance.TestNotifyStore(t, func(*testing.T) conformance.NotifyStores { return s })
}
