package syncer_test

import (
	"encoding/json"
	"testing"

	"github.com/joinery/joinery/pkg/integration"
	"github.com/joinery/joinery/pkg/syncer"
)

func TestRecordJSONShape(t *testing.T) {
	zero, two := 0, 2
	tests := []struct {
		name string
		rec  integration.Record
		want map[string]any // fields that must be there, with their JSON
		not  []string       // fields that must not be there
	}{
		{"post without an excerpt", integration.Record{ExternalID: "1", Model: "post", Title: "Rock & Roll"},
			map[string]any{"excerpt": "", "title": "Rock & Roll"}, []string{"parent", "menu_order"}},
		{"top-level page", integration.Record{ExternalID: "2", Model: "page", MenuOrder: &zero},
			map[string]any{"menu_order": float64(0)}, []string{"parent", "excerpt"}},
		{"child page", integration.Record{ExternalID: "3", Model: "page", Parent: "2", MenuOrder: &two},
			map[string]any{"menu_order": float64(2), "parent": map[string]any{"external_id": "2"}}, nil},
		{"child category", integration.Record{ExternalID: "5", Model: "category", Title: "Local", Parent: "4"},
			map[string]any{"parent": map[string]any{"external_id": "4"}}, []string{"menu_order", "excerpt"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, _, err := syncer.Encode(tt.rec)
			if err != nil {
				t.Fatal(err)
			}
			var got map[string]any
			if err := json.Unmarshal(data, &got); err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.want {
				g, _ := json.Marshal(got[k])
				w, _ := json.Marshal(v)
				if _, ok := got[k]; !ok || string(g) != string(w) {
					t.Errorf("%s: got %s, want %s (in %s)", k, g, w, data)
				}
			}
			for _, k := range tt.not {
				if _, ok := got[k]; ok {
					t.Errorf("%s is there: %s", k, data)
				}
			}
		})
	}
}
