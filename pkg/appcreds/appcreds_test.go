package appcreds_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/appcreds"
	"github.com/joinery/joinery/pkg/conformance"
	"github.com/joinery/joinery/pkg/connector"
)

func TestFileConformance(t *testing.T) {
	conformance.TestApps(t, func(t *testing.T, now func() time.Time, ttl time.Duration) conformance.AppsStore {
		path := filepath.Join(t.TempDir(), "apps.json")
		return conformance.AppsStore{
			Apps: appcreds.New(appcreds.File{Path: path}, connector.NewCatalog(), ttl, now),
			Write: func(t *testing.T, doc string) {
				if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
					t.Fatal(err)
				}
			},
			Remove: func(t *testing.T) {
				if err := os.Remove(path); err != nil {
					t.Fatal(err)
				}
			},
		}
	})
}
