package syncer

import (
	"strconv"

	"github.com/joinery/joinery/pkg/connector"
)

// CursorKey is the key of a model's incremental cursor: the model for
// the first record format, "<model>@<format>" after that. A run finds no
// cursor under a format's key until a run has read the model in that
// format, so it reads the model in full and rewrites what it stored in
// an older shape (see connector.Formatted). The older key is left as it
// is: a release that still reads it is not confused.
func CursorKey(c connector.Connector, model string) string {
	f, ok := c.(connector.Formatted)
	if !ok {
		return model
	}
	if n := f.RecordFormat(model); n > 1 {
		return model + "@" + strconv.Itoa(n)
	}
	return model
}
