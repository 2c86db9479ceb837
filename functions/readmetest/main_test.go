package readmetest

import (
	"os"
	"testing"

	"github.com/joinery/joinery/pkg/connector/wordpress/wptest"
)

// TestMain stops the WordPress the README's commands ran against.
func TestMain(m *testing.M) { os.Exit(wptest.Main(m)) }
