package shopify_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/connector/shopify"
	"github.com/joinery/joinery/pkg/fakeplatforms"
	"github.com/joinery/joinery/pkg/integration"
)

// vclock is the fake's and the budget's clock: waiting moves it.
type vclock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *vclock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *vclock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// vbudget is a leaky bucket on the virtual clock, as the engine's budget
// behaves for one worker.
type vbudget struct {
	clock   *vclock
	mu      sync.Mutex
	tokens  float64
	updated time.Time
	until   time.Time
}

func (b *vbudget) Take(_ context.Context, n int, rate float64, burst int) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if now := b.clock.Now(); now.Before(b.until) {
		b.clock.add(b.until.Sub(now))
	}
	now := b.clock.Now()
	if b.updated.IsZero() {
		b.tokens = float64(burst)
	} else {
		b.tokens = math.Min(float64(burst), b.tokens+rate*now.Sub(b.updated).Seconds())
	}
	if need := float64(n); b.tokens < need {
		wait := time.Duration(math.Ceil((need - b.tokens) / rate * float64(time.Second)))
		b.clock.add(wait)
		b.tokens += rate * wait.Seconds()
	}
	b.tokens -= float64(n)
	b.updated = b.clock.Now()
	return nil
}

func (b *vbudget) Hold(_ context.Context, until time.Time) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if until.After(b.until) {
		b.until = until
	}
	return nil
}

func startFake(t *testing.T) (*fakeplatforms.Server, connector.Connection, *vclock) {
	t.Helper()
	clock := &vclock{t: time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)}
	s := fakeplatforms.Start(t, "shopify", fakeplatforms.Options{Now: clock.Now})
	conn := connector.Connection{SiteURL: s.URL(), Credentials: map[string]string{"access_token": s.Mint().AccessToken}, HTTP: s.Client(),
		Config: map[string]any{}}
	return s, conn, clock
}

func listAll(t *testing.T, c *shopify.Connector, conn connector.Connection, since time.Time) []integration.Record {
	t.Helper()
	var out []integration.Record
	token := ""
	for {
		page, err := c.List(context.Background(), conn, connector.ListRequest{Model: "product", Page: token, ModifiedAfter: since})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, page.Records...)
		if token = page.NextPage; token == "" {
			return out
		}
	}
}

// Against the fake Shopify (its schema, cost rules and leaky bucket): a
// listing within the budget is never throttled where one without it is,
// an incremental listing reads what changed, and a product is created
// with its quantities, updated, read and deleted.
func TestAgainstTheFake(t *testing.T) {
	s, conn, clock := startFake(t)
	s.SeedProducts(119)
	// One product with more variants and images than a listing's first
	// page of them.
	big := fakeplatforms.ShopifyProduct{Title: "Many sizes", Status: "ACTIVE", Options: []fakeplatforms.ShopifyOption{{Name: "Size"}}}
	for i := range 13 {
		size := fmt.Sprintf("S%02d", i)
		big.Options[0].Values = append(big.Options[0].Values, fakeplatforms.ShopifyOptionValue{Name: size})
		big.Variants = append(big.Variants, fakeplatforms.ShopifyVariant{SKU: "MS-" + size, Price: "5.00", SelectedOptions: []fakeplatforms.ShopifySelectedOption{{Name: "Size", Value: size}}})
		if i < 7 {
			big.Images = append(big.Images, fakeplatforms.ShopifyImage{URL: fmt.Sprintf("https://cdn.example/%d.jpg", i)})
		}
	}
	if _, err := s.AddProduct(big); err != nil {
		t.Fatal(err)
	}
	// Without a budget, pages back to back (each asking 958 points, using
	// 189) run the Standard plan's 2000 dry by the sixth.
	naive := shopify.New()
	for range 8 {
		_, _ = naive.List(context.Background(), conn, connector.ListRequest{Model: "product"})
	}
	if s.Throttled() == 0 {
		t.Fatal("a client without a budget was not throttled: the test proves nothing")
	}
	before := s.Throttled()
	clock.add(time.Minute)

	c := shopify.New()
	c.Now = clock.Now
	conn.Budget = &vbudget{clock: clock}
	recs := listAll(t, c, conn, time.Time{})
	if len(recs) != 120 || s.Throttled() != before {
		t.Fatalf("%d records, %d throttled", len(recs), s.Throttled()-before)
	}
	found := false
	for _, r := range recs {
		if p := r.Fields.(*integration.Product); p.Title == "Many sizes" {
			found = true
			if len(p.Variants) != 13 || len(p.Images) != 7 || p.Variants[12].SKU != "MS-S12" {
				t.Errorf("a product of 13 variants and 7 images read as %d and %d", len(p.Variants), len(p.Images))
			}
		}
	}
	if !found {
		t.Error("the product of 13 variants was not listed")
	}
	p := recs[0].Fields.(*integration.Product)
	if recs[0].RawRef == "" || p.Status != "active" || len(p.Variants) != 2 || p.Variants[1].CompareAtPrice != "15.00" || len(p.Images) != 1 {
		t.Errorf("mapped %+v %+v", recs[0], p)
	}

	// An edit is in the next incremental listing.
	since := clock.Now()
	clock.add(10 * time.Minute)
	id := fakeplatforms.ShopifyNumericID(recs[5].ExternalID, "Product")
	if _, err := s.EditProduct(id, func(p *fakeplatforms.ShopifyProduct) { p.Title = "Edited" }); err != nil {
		t.Fatal(err)
	}
	changed := listAll(t, c, conn, since)
	if len(changed) != 1 || changed[0].Fields.(*integration.Product).Title != "Edited" {
		t.Fatalf("incremental: %d records", len(changed))
	}

	// Push: quantities need the location; then create, update, delete.
	q := 9
	rec := integration.Record{Model: "product", Fields: &integration.Product{Title: "Joinery tee", Status: "draft", Tags: []string{"pushed"},
		Options:  []integration.ProductOption{{Name: "Size", Values: []string{"S", "M"}}},
		Variants: []integration.Variant{{SKU: "JT-S", Price: "20.00", InventoryQuantity: &q, OptionValues: []integration.OptionValue{{Name: "Size", Value: "S"}}}, {SKU: "JT-M", Price: "21.00", OptionValues: []integration.OptionValue{{Name: "Size", Value: "M"}}}}}}
	count := s.ProductCount()
	if _, err := c.Create(context.Background(), conn, rec); err == nil || s.ProductCount() != count {
		t.Fatalf("quantities without a location: %v", err)
	}
	conn.Config = map[string]any{"inventory_location_id": fakeplatforms.ShopifyGID("Location", fakeplatforms.ShopifyLocationID)}
	made, err := c.Create(context.Background(), conn, rec)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Get(context.Background(), conn, "product", made.ExternalID)
	if err != nil {
		t.Fatal(err)
	}
	gp := got.Fields.(*integration.Product)
	if got.ExternalID != made.ExternalID || gp.Status != "draft" || len(gp.Variants) != 2 || *gp.Variants[0].InventoryQuantity != 9 {
		t.Fatalf("created %+v %+v", got, gp)
	}
	gp.Title, gp.Status = "Joinery tee 2", "active"
	if _, err := c.Update(context.Background(), conn, got); err != nil {
		t.Fatal(err)
	}
	if again, err := c.Get(context.Background(), conn, "product", made.ExternalID); err != nil || again.Fields.(*integration.Product).Title != "Joinery tee 2" || s.ProductCount() != count+1 {
		t.Fatalf("updated: %v", err)
	}
	if err := c.Delete(context.Background(), conn, "product", made.ExternalID, false); err != nil {
		t.Fatal(err)
	}
	_, err = c.Get(context.Background(), conn, "product", made.ExternalID)
	var ce *connector.Error
	if !errors.As(err, &ce) || ce.Kind != connector.ErrNotFound {
		t.Fatalf("after delete: %v", err)
	}
	if err := c.Delete(context.Background(), conn, "product", made.ExternalID, false); err != nil {
		t.Errorf("a second delete: %v", err)
	}

	// Subscriptions: idempotent, then removed.
	url := "https://hooks.example.com/webhooks/shopify/int-1"
	for range 2 {
		ids, err := c.Subscribe(context.Background(), conn, url)
		if err != nil || len(ids) != 4 {
			t.Fatalf("subscribe: %v %v", ids, err)
		}
	}
	if subs := s.WebhookSubscriptions(); len(subs) != 4 || subs[0].IncludeFields == nil {
		t.Fatalf("subscriptions %+v", subs)
	}
	other := "https://other.example.com/webhooks/shopify/int-2"
	if _, err := c.Subscribe(context.Background(), conn, other); err != nil {
		t.Fatal(err)
	}
	if err := c.Unsubscribe(context.Background(), conn, "/webhooks/shopify/int-1"); err != nil || len(s.WebhookSubscriptions()) != 4 {
		t.Fatalf("unsubscribe: %v, %d left", err, len(s.WebhookSubscriptions()))
	}
	if s.Throttled() != before {
		t.Errorf("%d throttled within the budget", s.Throttled()-before)
	}
}
