package apigw_test

import (
	"context"
	"testing"
)

// sellsToo takes pushes of products as well as posts.
type sellsToo struct{ createsPosts }

func (sellsToo) PushModels() []string { return []string{"post", "product"} }

// A push of a unified model is checked against the model's push schema:
// a 400 naming every field at fault by its path, never a 500; data that
// fits is queued as sent.
func TestUnifiedPushThroughTheAPI(t *testing.T) {
	s, engine := pushAPI(t)
	for field, data := range map[string]string{
		"data.variants[0].price": `{"variants": [{"price": 19.99}]}`,
		"data.variants[1].sku":   `{"variants": [{}, {"sku": ["x"]}]}`,
		"data.status":            `{"status": "live"}`,
		"data.external_id":       `{"external_id": "gid://shopify/Product/1"}`,
		"data.colour":            `{"colour": "red"}`,
		"data.options[0].name":   `{"options": [{"values": ["S"]}]}`,
		"data.images[0].url":     `{"images": [{"url": ""}]}`,
		"data":                   `["a title"]`,
		"data.title":             `{"title": {"en": "Tee"}}`,
		"data.variants[0].extra": `{"variants": [{"extra": 1}]}`,
		"data.tags[0]":           `{"tags": [1]}`,
		"data.handle":            `{"handle": false}`,
		"data.variants[0].option_values[0].value": `{"variants": [{"option_values": [{"name": "Size"}]}]}`,
	} {
		ev := loadEvent(t, "integrations-push.json")
		ev.Body = `{"model": "product", "local_id": "tee", "data": ` + data + `}`
		// Without products among the connector's push models: the model is refused.
		if status, _, resp := call(t, s.Push(), ev); status != 400 {
			t.Errorf("%s: %d %s", data, status, resp.Body)
			continue
		}
		engine.Connectors["wordpress"] = &sellsToo{}
		status, body, resp := call(t, s.Push(), ev)
		engine.Connectors["wordpress"] = &createsPosts{}
		if status != 400 || body["error"].(map[string]any)["fields"].(map[string]any)[field] == nil {
			t.Errorf("%s: %d %s, want a 400 naming %s", data, status, resp.Body, field)
		}
	}
	engine.Connectors["wordpress"] = &sellsToo{}
	ev := loadEvent(t, "integrations-push.json")
	ev.Body = `{"model": "product", "local_id": "tee", "data": {"title": "Tee <b>&</b>", "status": "draft", "tags": null,
		"variants": [{"sku": "TEE-S", "price": "19.99", "inventory_quantity": 3, "option_values": [{"name": "Size", "value": "S"}]}]}}`
	status, body, resp := call(t, s.Push(), ev)
	if status != 202 {
		t.Fatalf("push: %d %s", status, resp.Body)
	}
	p, err := engine.Store.GetPush(context.Background(), "01JDEMO0000000000000000000", body["push_id"].(string))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"title":"Tee <b>&</b>","status":"draft","tags":null,"variants":[{"sku":"TEE-S","price":"19.99","inventory_quantity":3,"option_values":[{"name":"Size","value":"S"}]}]}`
	if string(p.Data) != want {
		t.Fatalf("stored data %s, want %s", p.Data, want)
	}
	// A post's fields are still a post's.
	ev.Body = `{"model": "post", "local_id": "tee", "data": {"variants": []}}`
	if status, _, resp := call(t, s.Push(), ev); status != 400 {
		t.Fatalf("a product's field in a post: %d %s", status, resp.Body)
	}
}
