package syncer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/integration"
	"github.com/joinery/joinery/pkg/models"
	"github.com/joinery/joinery/pkg/syncer"
)

// shop is a platform of products that takes pushes through Create and
// Update only (no content Pusher), as a commerce connector does.
type shop struct {
	mu       sync.Mutex
	products map[string]integration.Record
	writes   []integration.Record // what Create and Update were given
	clock    time.Time
	// noClock: answers carry no modification time; refuse: updates are
	// refused; deletes counts Delete calls.
	noClock bool
	refuse  bool
	deletes int
}

func newShop() *shop {
	return &shop{products: map[string]integration.Record{}, clock: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
}

func (s *shop) TestConnection(context.Context, connector.Connection) (connector.TestResult, error) {
	return connector.TestResult{OK: true}, nil
}
func (s *shop) Structure(context.Context, connector.Connection) (connector.Structure, error) {
	return connector.Structure{}, nil
}
func (s *shop) Models() []string     { return []string{"product"} }
func (s *shop) PushModels() []string { return []string{"product"} }
func (s *shop) List(context.Context, connector.Connection, connector.ListRequest) (connector.ListPage, error) {
	return connector.ListPage{Total: -1, TotalPages: -1}, nil
}

func (s *shop) save(r integration.Record) integration.Record {
	s.clock = s.clock.Add(time.Second)
	r.ModifiedAt, r.URL = s.clock, "https://shop.example/products/"+r.Fields.(*integration.Product).Handle
	r.RawRef = r.Fields.(*integration.Product).Handle
	s.products[r.ExternalID] = r
	if s.noClock {
		r.ModifiedAt = time.Time{}
	}
	return r
}

func (s *shop) Create(_ context.Context, _ connector.Connection, r integration.Record) (integration.Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes = append(s.writes, r)
	r.ExternalID = fmt.Sprintf("gid://shopify/Product/%d", len(s.products)+1)
	r.CreatedAt = s.clock
	return s.save(r), nil
}

func (s *shop) Update(_ context.Context, _ connector.Connection, r integration.Record) (integration.Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes = append(s.writes, r)
	if _, ok := s.products[r.ExternalID]; !ok {
		return integration.Record{}, &connector.Error{Kind: connector.ErrNotFound, Message: "no such product"}
	}
	if s.refuse {
		return integration.Record{}, &connector.Error{Kind: connector.ErrInvalid, Message: "Shopify refused the product."}
	}
	return s.save(r), nil
}

func (s *shop) Delete(context.Context, connector.Connection, string, string, bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deletes++
	return nil
}

func (s *shop) Get(_ context.Context, _ connector.Connection, _, id string) (integration.Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.products[id]
	if !ok {
		return integration.Record{}, &connector.Error{Kind: connector.ErrNotFound, Message: "no such product"}
	}
	return r, nil
}

// CheckPush refuses quantities without a location to set them at.
func (s *shop) CheckPush(config map[string]any, _ string, data json.RawMessage) error {
	var p integration.Product
	_ = json.Unmarshal(data, &p)
	for _, v := range p.Variants {
		if v.InventoryQuantity != nil && config["inventory_location_id"] == nil {
			return &integration.Error{Code: integration.EUNPROCESSABLE, Message: "Quantities need a location.",
				Fields: map[string]string{"config.inventory_location_id": "required to push inventory quantities"}}
		}
	}
	return nil
}

// edit changes a product on the platform, as someone in its admin would.
func (s *shop) edit(id, title string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.products[id]
	p := *r.Fields.(*integration.Product)
	p.Title = title
	r.Fields = &p
	s.save(r)
}

func shopHarness(t *testing.T) (*harness, *shop) {
	h := newDirectHarness(t, newPlatform(0))
	s := newShop()
	h.engine.Connectors["wordpress"] = s
	return h, s
}

func (h *harness) pushProduct(localID, data string) (*integration.Push, error) {
	h.t.Helper()
	d, err := syncer.ReadPushData("product", []byte(data))
	if err != nil {
		return nil, err
	}
	return h.engine.Push(context.Background(), h.actor, h.it.ID, "product", localID, d)
}

func (h *harness) applied(p *integration.Push) *integration.Push {
	h.t.Helper()
	if errs := h.drive(); len(errs) > 0 {
		h.t.Fatalf("jobs failed: %v", errs)
	}
	got, err := h.store.GetPush(context.Background(), h.it.ID, p.ID)
	if err != nil {
		h.t.Fatal(err)
	}
	return got
}

// A push of a product creates it through Create with the data as its
// fields; the next push of the same local id updates the same product
// through Update, with the pushed fields over the stored ones: a field
// left out is kept, null clears it. The stored record carries the local
// id and fits the product schema.
func TestUnifiedPushCreatesThenUpdates(t *testing.T) {
	h, s := shopHarness(t)
	p, err := h.pushProduct("sku-1", `{"title":"Tee","handle":"tee","status":"active","tags":["cotton"],
		"variants":[{"sku":"TEE-S","price":"19.99","option_values":[{"name":"Size","value":"S"}]}],"body_html":"<p>Soft & warm</p>"}`)
	if err != nil {
		t.Fatal(err)
	}
	if string(p.Data) != `{"title":"Tee","handle":"tee","status":"active","tags":["cotton"],"variants":[{"sku":"TEE-S","price":"19.99","option_values":[{"name":"Size","value":"S"}]}],"body_html":"<p>Soft & warm</p>"}` {
		t.Fatalf("stored data %s", p.Data)
	}
	if got := h.applied(p); got.Status != integration.PushDone || got.ExternalID != "gid://shopify/Product/1" {
		t.Fatalf("first push: %+v", got)
	}
	if len(s.writes) != 1 || s.writes[0].ExternalID != "" {
		t.Fatalf("writes %+v", s.writes)
	}
	want := &integration.Product{Title: "Tee", Handle: "tee", Status: "active", Tags: []string{"cotton"}, BodyHTML: "<p>Soft & warm</p>",
		Variants: []integration.Variant{{SKU: "TEE-S", Price: "19.99", OptionValues: []integration.OptionValue{{Name: "Size", Value: "S"}}}}}
	if !reflect.DeepEqual(s.writes[0].Fields, want) {
		t.Fatalf("created with %+v, want %+v", s.writes[0].Fields, want)
	}

	p, err = h.pushProduct("sku-1", `{"title":"Tee 2","tags":null,"variants":[{"sku":"TEE-S","price":"21.00"}]}`)
	if err != nil {
		t.Fatal(err)
	}
	if got := h.applied(p); got.Status != integration.PushDone || got.ExternalID != "gid://shopify/Product/1" {
		t.Fatalf("second push: %+v", got)
	}
	if len(s.writes) != 2 || s.writes[1].ExternalID != "gid://shopify/Product/1" || s.writes[1].RawRef != "tee" {
		t.Fatalf("writes %+v", s.writes)
	}
	want = &integration.Product{Title: "Tee 2", Handle: "tee", Status: "active", BodyHTML: "<p>Soft & warm</p>",
		Variants: []integration.Variant{{SKU: "TEE-S", Price: "21.00"}}}
	if !reflect.DeepEqual(s.writes[1].Fields, want) {
		t.Fatalf("updated with %+v, want %+v", s.writes[1].Fields, want)
	}
	rec, err := h.store.GetRecord(context.Background(), h.it.ID, "product", "gid://shopify/Product/1")
	if err != nil {
		t.Fatal(err)
	}
	if rec.LocalID != "sku-1" {
		t.Fatalf("record's local id %q", rec.LocalID)
	}
	if err := models.Validate("product", rec.Data); err != nil {
		t.Fatalf("stored %s: %v", rec.Data, err)
	}
	var back syncer.RecordJSON
	if err := json.Unmarshal(rec.Data, &back); err != nil || !reflect.DeepEqual(back.Fields, want) {
		t.Fatalf("stored %s (%v)", rec.Data, err)
	}
}

// A product pushed with data its schema refuses is a 400 naming each
// field by its path, and nothing is queued; a push the connector cannot
// apply with the integration's configuration is a 422 naming the setting,
// after the schema's errors.
func TestUnifiedPushValidation(t *testing.T) {
	h, _ := shopHarness(t)
	for _, c := range []struct {
		data   string
		code   string
		fields []string
	}{
		{`{"title":1}`, integration.EINVALID, []string{"data.title"}},
		{`{"variants":[{"price":"19.9x"},{"price":"1"}]}`, integration.EINVALID, []string{"data.variants[0].price"}},
		{`{"external_id":"gid://shopify/Product/9","model":"product","colour":"red"}`, integration.EINVALID, []string{"data.external_id", "data.model", "data.colour"}},
		{`{"status":"ACTIVE","images":[{"alt":"x"}]}`, integration.EINVALID, []string{"data.status", "data.images[0].url"}},
		{`{"variants":[{"inventory_quantity":"3"}]}`, integration.EINVALID, []string{"data.variants[0].inventory_quantity"}},
		{`[]`, integration.EINVALID, []string{"data"}},
		// Schema errors first; then what the configuration cannot do.
		{`{"title":2,"variants":[{"inventory_quantity":3}]}`, integration.EINVALID, []string{"data.title"}},
		{`{"variants":[{"inventory_quantity":3}]}`, integration.EUNPROCESSABLE, []string{"config.inventory_location_id"}},
	} {
		_, err := h.pushProduct("sku-1", c.data)
		var ie *integration.Error
		ok := err != nil && integration.ErrorCode(err) == c.code
		if ok {
			ie = err.(*integration.Error)
			for _, f := range c.fields {
				if _, has := ie.Fields[f]; !has {
					ok = false
				}
			}
			ok = ok && len(ie.Fields) == len(c.fields)
		}
		if !ok {
			t.Errorf("%s: %v (%+v), want %s naming %v", c.data, err, ie, c.code, c.fields)
		}
	}
	if _, queued := h.mem.pop(); queued {
		t.Fatal("a job was queued for a refused push")
	}
	// A content model's fields are not a product's, and the reverse.
	d, _ := syncer.ReadPushData("post", []byte(`{"title":"x"}`))
	if _, err := h.engine.Push(context.Background(), h.actor, h.it.ID, "product", "sku-1", d); integration.ErrorCode(err) != integration.EINVALID {
		t.Fatalf("content data for a product: %v", err)
	}
}

// Under remote_wins, a push over a product edited on the platform since
// Joinery wrote it is a conflict: the platform's version is kept and
// stored; the next push applies over it.
func TestUnifiedPushConflict(t *testing.T) {
	h, s := shopHarness(t)
	p, _ := h.pushProduct("sku-1", `{"title":"Tee","handle":"tee"}`)
	if got := h.applied(p); got.Status != integration.PushDone {
		t.Fatalf("push: %+v", got)
	}
	s.edit("gid://shopify/Product/1", "Edited in the shop")
	p, _ = h.pushProduct("sku-1", `{"vendor":"Acme"}`)
	if got := h.applied(p); got.Status != integration.PushConflict {
		t.Fatalf("push over an edit: %+v", got)
	}
	rec, _ := h.store.GetRecord(context.Background(), h.it.ID, "product", "gid://shopify/Product/1")
	var back syncer.RecordJSON
	if err := json.Unmarshal(rec.Data, &back); err != nil || back.Fields.(*integration.Product).Title != "Edited in the shop" {
		t.Fatalf("stored after the conflict: %s", rec.Data)
	}
	p, _ = h.pushProduct("sku-1", `{"vendor":"Acme"}`)
	if got := h.applied(p); got.Status != integration.PushDone {
		t.Fatalf("push after: %+v", got)
	}
	if got := s.writes[len(s.writes)-1].Fields.(*integration.Product); got.Title != "Edited in the shop" || got.Vendor != "Acme" {
		t.Fatalf("applied %+v", got)
	}
}

// Under manual, a push over an edit on the platform waits; resolved with
// the local version, its fields are written over the stored record's.
func TestUnifiedPushResolvedLocal(t *testing.T) {
	h, s := shopHarness(t)
	ctx := context.Background()
	if _, err := h.service.Update(ctx, h.actor, h.it.ID, integration.PatchInput{ConfigPatch: map[string]any{"conflict_policy": "manual"}}); err != nil {
		t.Fatal(err)
	}
	p, _ := h.pushProduct("sku-1", `{"title":"Tee","handle":"tee","vendor":"Acme"}`)
	if got := h.applied(p); got.Status != integration.PushDone {
		t.Fatalf("push: %+v", got)
	}
	s.edit("gid://shopify/Product/1", "Edited in the shop")
	p, _ = h.pushProduct("sku-1", `{"title":"Mine"}`)
	if got := h.applied(p); got.Status != integration.PushConflict {
		t.Fatalf("push over an edit: %+v", got)
	}
	got, err := h.engine.ResolvePush(ctx, h.actor, h.it.ID, p.ID, syncer.UseLocal)
	if err != nil || got.Status != integration.PushDone {
		t.Fatalf("resolve: %+v %v", got, err)
	}
	if w := s.writes[len(s.writes)-1]; w.ExternalID != "gid://shopify/Product/1" || w.Fields.(*integration.Product).Title != "Mine" ||
		w.Fields.(*integration.Product).Vendor != "Acme" {
		t.Fatalf("applied %+v", w)
	}
}

// A product whose later push fails for good stays on the platform, even
// when the platform gives no modification times: only a content push's
// own draft is ever deleted.
func TestUnifiedPushFailureKeepsTheItem(t *testing.T) {
	h, s := shopHarness(t)
	s.noClock = true
	p, _ := h.pushProduct("sku-1", `{"title":"Tee"}`)
	if got := h.applied(p); got.Status != integration.PushDone {
		t.Fatalf("push: %+v", got)
	}
	s.refuse = true
	p, _ = h.pushProduct("sku-1", `{"title":"Tee 2"}`)
	if got := h.applied(p); got.Status != integration.PushFailed || got.Error != "Shopify refused the product." {
		t.Fatalf("refused push: %+v", got)
	}
	if s.deletes != 0 {
		t.Fatalf("the product was deleted after a failed update")
	}
	s.refuse = false
	p, _ = h.pushProduct("sku-1", `{"vendor":"Acme"}`)
	if got := h.applied(p); got.Status != integration.PushDone || got.ExternalID != "gid://shopify/Product/1" || len(s.products) != 1 {
		t.Fatalf("push after: %+v (%d products)", got, len(s.products))
	}
}
