package syncer_test

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/integration"
	"github.com/joinery/joinery/pkg/syncer"
)

// TestUnifiedRecordJSON: a unified model's fields sit beside the common
// ones, with "model", and read back into the same fields.
func TestUnifiedRecordJSON(t *testing.T) {
	qty := 3
	r := integration.Record{ExternalID: "gid://shopify/Product/1", Model: "product", RawRef: "tee", URL: "https://x",
		ModifiedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Fields: &integration.Product{Title: "Tee", Handle: "tee", Tags: []string{"a"},
			Variants: []integration.Variant{{ExternalID: "v1", Price: "19.99", InventoryQuantity: &qty}}}}
	b, _, err := syncer.Encode(r)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"external_id", "type", "model", "raw_ref", "url", "modified_at", "deleted", "title", "handle", "tags", "variants"} {
		if _, ok := m[k]; !ok {
			t.Errorf("%s missing from %s", k, b)
		}
	}
	var back syncer.RecordJSON
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Fields, r.Fields) || back.RawRef != "tee" || back.Title != "" {
		t.Fatalf("read back %+v", back)
	}
	again, err := json.Marshal(back)
	if err != nil || string(again) != string(b) {
		t.Fatalf("round trip:\n%s\n%s (%v)", b, again, err)
	}
	// A content record is as before: no "model".
	b, _, _ = syncer.Encode(integration.Record{ExternalID: "1", Model: "post", Title: "x"})
	m = nil
	if json.Unmarshal(b, &m); m["model"] != nil {
		t.Fatalf("content record: %s", b)
	}
}
