package apigw_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/apigw"
	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/embedded"
	"github.com/joinery/joinery/pkg/integration"
	"github.com/joinery/joinery/pkg/syncer"
)

func (createsPosts) Patch(_ context.Context, _ connector.Connection, model, id string, _ connector.Patch) (integration.Record, error) {
	if id == "" {
		id = "501"
	}
	return integration.Record{ExternalID: id, Model: model, ModifiedAt: time.Now().UTC()}, nil
}

func (createsPosts) FetchImage(_ context.Context, _ connector.Connection, url string) (connector.ImageFile, error) {
	return connector.ImageFile{URL: url, Name: "cover.png", ContentType: "image/png", Data: []byte("png")}, nil
}

func pushAPI(t *testing.T) (*apigw.SyncAPI, *syncer.Engine) {
	t.Helper()
	api := newAPI(t)
	if resp, _ := api.CreateIntegration()(context.Background(), loadEvent(t, "integrations-create.json")); resp.StatusCode != 201 {
		t.Fatalf("create: %d %s", resp.StatusCode, resp.Body)
	}
	q := embedded.NewQueue(embedded.QueueOptions{VisibilityTimeout: time.Second, MaxReceives: 3})
	engine := &syncer.Engine{Integrations: api.Service, Store: api.Service.Store.(*embedded.Store), Queue: q, MaxReceives: 3,
		Connectors: map[string]connector.Connector{"wordpress": &createsPosts{}}}
	return &apigw.SyncAPI{API: api, Engine: engine}, engine
}

// A push's data tells absent, null and values apart, and a value of the
// wrong type is refused naming the field.
func TestPushDataTypesAndNulls(t *testing.T) {
	s, engine := pushAPI(t)
	for field, data := range map[string]string{
		"data.title":              `{"title": 5}`,
		"data.body_html":          `{"body_html": {"x": 1}}`,
		"data.status":             `{"status": true}`,
		"data.categories":         `{"categories": "News"}`,
		"data.tags[1]":            `{"tags": ["a", 3]}`,
		"data.featured_image_url": `{"featured_image_url": ["x"]}`,
		"data.color":              `{"color": "red"}`,
		"data":                    `"a title"`,
	} {
		ev := loadEvent(t, "integrations-push.json")
		ev.Body = `{"model": "post", "local_id": "a", "data": ` + data + `}`
		status, body, resp := call(t, s.Push(), ev)
		if status != 400 || body["error"].(map[string]any)["fields"].(map[string]any)[field] == nil {
			t.Errorf("%s: %d %s", data, status, resp.Body)
		}
	}
	ev := loadEvent(t, "integrations-push.json")
	ev.Body = `{"model": "post", "local_id": "a", "data": {"title": "<b>New</b> & improved", "excerpt": null, "status": null, "categories": [], "featured_image_url": null}}`
	status, body, resp := call(t, s.Push(), ev)
	if status != 202 {
		t.Fatalf("push: %d %s", status, resp.Body)
	}
	p, err := engine.Store.GetPush(context.Background(), "01JDEMO0000000000000000000", body["push_id"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(p.Data), `{"title":"<b>New</b> & improved","excerpt":null,"status":null,"categories":[],"featured_image_url":null}`; got != want {
		t.Fatalf("stored data %s, want %s", got, want)
	}
}

// data of up to 262,144 bytes JSON-encoded is accepted in a body of up to
// 300,000 bytes; beyond either, 413 too_large names the field.
func TestPushSizeLimits(t *testing.T) {
	s, _ := pushAPI(t)
	withData := func(n int, pad int) string {
		// {"body_html":"…"} is 16 bytes around its text; markup is not
		// escaped, so it counts as sent.
		return `{"model": "post", "local_id": "a", "data": {"body_html":"` + strings.Repeat("<", n-16) + `"}` + strings.Repeat(" ", pad) + `}`
	}
	for _, c := range []struct {
		body   string
		status int
		field  string
	}{
		{withData(syncer.MaxPushData, 0), 202, ""},
		{withData(syncer.MaxPushData+1, 0), 413, "data"},
		{withData(syncer.MaxPushData, apigw.MaxPushBodyBytes-len(withData(syncer.MaxPushData, 0))), 202, ""},
		{withData(syncer.MaxPushData, apigw.MaxPushBodyBytes-len(withData(syncer.MaxPushData, 0))+1), 413, "body"},
	} {
		ev := loadEvent(t, "integrations-push.json")
		ev.Body = c.body
		status, body, resp := call(t, s.Push(), ev)
		if status != c.status {
			t.Fatalf("%d bytes: %d %.300s", len(c.body), status, resp.Body)
		}
		if c.field != "" {
			e := body["error"].(map[string]any)
			if e["code"] != "too_large" || e["fields"].(map[string]any)[c.field] == nil {
				t.Fatalf("%d bytes: %s", len(c.body), resp.Body)
			}
		}
	}
}
