package shopify

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/joinery/joinery/pkg/integration"
)

// TestPushCheckWhenTaken: the engine's check of a product push, before
// anything is queued, refuses quantities without a location, naming the
// config key; without quantities, or with a location, the push may go.
func TestPushCheckWhenTaken(t *testing.T) {
	c := New()
	if got := c.PushModels(); len(got) != 1 || got[0] != "product" {
		t.Fatalf("PushModels: %v", got)
	}
	withQty := json.RawMessage(`{"variants":[{"sku":"A","inventory_quantity":3}]}`)
	err := c.CheckPush(map[string]any{}, "product", withQty)
	var e *integration.Error
	if integration.ErrorCode(err) != integration.EUNPROCESSABLE || !errors.As(err, &e) || e.Fields["config."+LocationKey] == "" {
		t.Fatalf("quantities without a location: %v", err)
	}
	if err := c.CheckPush(map[string]any{LocationKey: "gid://shopify/Location/1"}, "product", withQty); err != nil {
		t.Fatalf("with a location: %v", err)
	}
	if err := c.CheckPush(map[string]any{}, "product", json.RawMessage(`{"title":"x"}`)); err != nil {
		t.Fatalf("no quantities: %v", err)
	}
}
