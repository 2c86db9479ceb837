package wordpress

import (
	"testing"

	unified "github.com/joinery/joinery/pkg/models"
	"github.com/joinery/joinery/pkg/syncer"
)

// TestRecordsMatchTheirSchemas: the records the connector maps from
// WordPress's own JSON, as the engine stores them, validate against their
// models' schemas.
func TestRecordsMatchTheirSchemas(t *testing.T) {
	conn, _ := fixtureWP(t)
	for _, model := range []string{"post", "page", "category", "tag"} {
		recs := list(t, conn, model)
		if len(recs) == 0 {
			t.Fatalf("no %s in the fixtures", model)
		}
		for id, r := range recs {
			b, _, err := syncer.Encode(r)
			if err != nil {
				t.Fatal(err)
			}
			if err := unified.Validate(model, b); err != nil {
				t.Errorf("%s %s: %v\n%s", model, id, err, b)
			}
		}
	}
}
