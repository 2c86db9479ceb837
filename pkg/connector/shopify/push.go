package shopify

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/integration"
)

// LocationKey is the config key naming the location inventory quantities
// are set at: a location GID, gid://shopify/Location/N.
const LocationKey = "inventory_location_id"

// locationPattern is what config.inventory_location_id must look like.
var locationPattern = regexp.MustCompile(`^gid://shopify/Location/[0-9]+$`)

// NoLocationMessage is why a push carrying quantities is refused without
// a location.
const NoLocationMessage = "required to push inventory quantities: the Shopify location (gid://shopify/Location/N) they are set at"

// CheckPush refuses, before anything is written, a product push Shopify
// could only apply in part: quantities without config.inventory_location_id
// (EUNPROCESSABLE, naming the field). nil: it can go.
func CheckPush(config map[string]any, f integration.Fields) error {
	p, ok := f.(*integration.Product)
	if !ok || !hasQuantities(p) {
		return nil
	}
	if _, ok := location(config); ok {
		return nil
	}
	return &integration.Error{Code: integration.EUNPROCESSABLE, Message: "The push sets inventory quantities, and the integration names no location for them.",
		Fields: map[string]string{"config." + LocationKey: NoLocationMessage}}
}

func hasQuantities(p *integration.Product) bool {
	for _, v := range p.Variants {
		if v.InventoryQuantity != nil {
			return true
		}
	}
	return false
}

func location(config map[string]any) (string, bool) {
	s, _ := config[LocationKey].(string)
	return s, locationPattern.MatchString(s)
}

// userError is a mutation's refusal of its input.
type userError struct {
	Field   []string `json:"field"`
	Message string   `json:"message"`
	Code    string   `json:"code"`
}

// userErrors is the first refusal as an ErrInvalid naming the field path.
func userErrors(what string, errs []userError) error {
	if len(errs) == 0 {
		return nil
	}
	e := errs[0]
	msg := "Shopify refused the " + what + ": "
	if len(e.Field) > 0 {
		msg += strings.Join(e.Field, ".") + ": "
	}
	msg += clip(e.Message)
	return &connector.Error{Kind: connector.ErrInvalid, Code: e.Code, Message: msg}
}

// pushedFields are productFields with each variant's inventory item, which
// quantities are set on.
var pushedFields = strings.Replace(strings.Replace(productFields, "selectedOptions { name value }", "selectedOptions { name value } inventoryItem { id }", 1),
	fmt.Sprintf("variants(first: %d)", variantsPage), fmt.Sprintf("variants(first: %d)", moreVariants), 1)

var productSetMutation = `mutation ProductSet($input: ProductSetInput!) {
productSet(input: $input, synchronous: true) { product { ` + pushedFields + ` } userErrors { field message code } } }`

// inventoryMutation sets quantities as API versions since 2026-04 want
// it: under an idempotency key, each quantity with changeFromQuantity
// (null: set whatever it was, as a push means to).
const inventoryMutation = `mutation SetQuantities($input: InventorySetQuantitiesInput!, $key: String!) {
inventorySetQuantities(input: $input) @idempotent(key: $key) { inventoryAdjustmentGroup { id } userErrors { field message code } } }`

const deleteMutation = `mutation ProductDelete($input: ProductDeleteInput!) {
productDelete(input: $input) { deletedProductId userErrors { field message } } }`

// mutationCost is a mutation's requested cost.
const mutationCost = 10

// Create creates a product, its options and variants in one productSet
// call, then sets its variants' quantities.
func (c *Connector) Create(ctx context.Context, conn connector.Connection, r integration.Record) (integration.Record, error) {
	return c.set(ctx, conn, r, "")
}

// Update sets a product (r.ExternalID) as r says: the fields r carries,
// its options and variants replaced by r's (a variant with an ExternalID
// is kept and updated), then its quantities.
func (c *Connector) Update(ctx context.Context, conn connector.Connection, r integration.Record) (integration.Record, error) {
	gid := ProductGID(r.ExternalID)
	if gid == "" {
		return integration.Record{}, &connector.Error{Kind: connector.ErrInvalid, Message: "external_id: not a Shopify product id (gid://shopify/Product/N)."}
	}
	return c.set(ctx, conn, r, gid)
}

func (c *Connector) set(ctx context.Context, conn connector.Connection, r integration.Record, gid string) (integration.Record, error) {
	if err := checkModel(r.Model); err != nil {
		return integration.Record{}, err
	}
	p, ok := r.Fields.(*integration.Product)
	if !ok || p == nil {
		return integration.Record{}, &connector.Error{Kind: connector.ErrInvalid, Message: "The record carries no product fields."}
	}
	// Checked before anything is written: a product set without its
	// quantities is a partial write.
	loc, hasLoc := location(conn.Config)
	if hasQuantities(p) && !hasLoc {
		return integration.Record{}, &connector.Error{Kind: connector.ErrInvalid, Code: "missing_inventory_location",
			Message: "config." + LocationKey + " is " + NoLocationMessage + "."}
	}
	input := productInput(p)
	if gid != "" {
		input["id"] = gid
	}
	res, err := c.call(ctx, conn, productSetMutation, map[string]any{"input": input}, mutationCost)
	if err != nil {
		return integration.Record{}, err
	}
	var d struct {
		ProductSet *struct {
			Product    *gqlProduct `json:"product"`
			UserErrors []userError `json:"userErrors"`
		} `json:"productSet"`
	}
	if err := json.Unmarshal(res.data, &d); err != nil || d.ProductSet == nil {
		return integration.Record{}, &connector.Error{Kind: connector.ErrUnavailable, Message: "Shopify answered productSet with data Joinery could not read.", Err: err}
	}
	if err := userErrors("product", d.ProductSet.UserErrors); err != nil {
		return integration.Record{}, err
	}
	if d.ProductSet.Product == nil {
		return integration.Record{}, &connector.Error{Kind: connector.ErrUnavailable, Message: "Shopify answered productSet without the product."}
	}
	got := *d.ProductSet.Product
	if hasQuantities(p) {
		if err := c.setQuantities(ctx, conn, loc, p, &got); err != nil {
			return integration.Record{}, err
		}
	}
	return got.record(), nil
}

// productInput is a ProductSetInput of the fields p carries.
func productInput(p *integration.Product) map[string]any {
	in := map[string]any{}
	put := func(k, v string) {
		if v != "" {
			in[k] = v
		}
	}
	put("title", p.Title)
	put("descriptionHtml", p.BodyHTML)
	put("vendor", p.Vendor)
	put("productType", p.ProductType)
	put("handle", p.Handle)
	put("status", strings.ToUpper(p.Status))
	if p.Tags != nil {
		in["tags"] = p.Tags
	}
	options := p.Options
	variants := p.Variants
	// A product of one variant and no options has Shopify's default one.
	if len(options) == 0 && len(variants) == 1 && len(variants[0].OptionValues) == 0 {
		options = []integration.ProductOption{{Name: "Title", Values: []string{"Default Title"}}}
		v := variants[0]
		v.OptionValues = []integration.OptionValue{{Name: "Title", Value: "Default Title"}}
		variants = []integration.Variant{v}
	}
	if len(options) > 0 {
		var opts []map[string]any
		for _, o := range options {
			var vals []map[string]any
			for _, v := range o.Values {
				vals = append(vals, map[string]any{"name": v})
			}
			opts = append(opts, map[string]any{"name": o.Name, "values": vals})
		}
		in["productOptions"] = opts
	}
	if len(variants) > 0 {
		var vs []map[string]any
		for _, v := range variants {
			m := map[string]any{}
			if v.ExternalID != "" {
				m["id"] = v.ExternalID
			}
			if v.SKU != "" {
				m["sku"] = v.SKU
			}
			if v.Price != "" {
				m["price"] = v.Price
			}
			if v.CompareAtPrice != "" {
				m["compareAtPrice"] = v.CompareAtPrice
			}
			ovs := []map[string]any{}
			for _, ov := range v.OptionValues {
				ovs = append(ovs, map[string]any{"optionName": ov.Name, "name": ov.Value})
			}
			m["optionValues"] = ovs
			vs = append(vs, m)
		}
		in["variants"] = vs
	}
	var files []map[string]any
	for _, im := range p.Images {
		// Images already on the product are left as they are; new ones
		// (a URL, no id) are added from their URL.
		if im.ExternalID == "" && im.URL != "" {
			f := map[string]any{"originalSource": im.URL, "contentType": "IMAGE"}
			if im.Alt != "" {
				f["alt"] = im.Alt
			}
			files = append(files, f)
		}
	}
	if files != nil {
		in["files"] = files
	}
	return in
}

// optionKey names a variant by its option values, whatever their order.
func optionKey(name func(i int) (string, string), n int) string {
	parts := make([]string, n)
	for i := range n {
		k, v := name(i)
		parts[i] = k + "=" + v
	}
	sort.Strings(parts)
	return strings.Join(parts, "\x00")
}

// setQuantities sets the pushed variants' available quantities at the
// location, matching each to the product's variant by id, else by its
// option values, else by position; got's quantities are set to them.
func (c *Connector) setQuantities(ctx context.Context, conn connector.Connection, loc string, p *integration.Product, got *gqlProduct) error {
	byID := map[string]int{}
	byOptions := map[string]int{}
	for i, v := range got.Variants.Nodes {
		byID[v.ID] = i
		byOptions[optionKey(func(k int) (string, string) { return v.SelectedOptions[k].Name, v.SelectedOptions[k].Value }, len(v.SelectedOptions))] = i
	}
	var qs []map[string]any
	for i, v := range p.Variants {
		if v.InventoryQuantity == nil {
			continue
		}
		at, ok := byID[v.ExternalID]
		if !ok && len(v.OptionValues) > 0 {
			at, ok = byOptions[optionKey(func(k int) (string, string) { return v.OptionValues[k].Name, v.OptionValues[k].Value }, len(v.OptionValues))]
		}
		if !ok && i < len(got.Variants.Nodes) {
			at, ok = i, true
		}
		if !ok || got.Variants.Nodes[at].InventoryItem == nil {
			return &connector.Error{Kind: connector.ErrInvalid, Message: fmt.Sprintf("variants[%d]: Shopify has no such variant of the product to set its quantity on.", i)}
		}
		qs = append(qs, map[string]any{"inventoryItemId": got.Variants.Nodes[at].InventoryItem.ID, "locationId": loc, "quantity": *v.InventoryQuantity,
			"changeFromQuantity": nil})
		q := *v.InventoryQuantity
		got.Variants.Nodes[at].InventoryQuantity = &q
	}
	input := map[string]any{"name": "available", "reason": "correction", "quantities": qs}
	res, err := c.call(ctx, conn, inventoryMutation, map[string]any{"input": input, "key": idempotencyKey()}, mutationCost)
	if err != nil {
		return err
	}
	var d struct {
		InventorySetQuantities *struct {
			UserErrors []userError `json:"userErrors"`
		} `json:"inventorySetQuantities"`
	}
	if err := json.Unmarshal(res.data, &d); err != nil || d.InventorySetQuantities == nil {
		return &connector.Error{Kind: connector.ErrUnavailable, Message: "Shopify answered inventorySetQuantities with data Joinery could not read.", Err: err}
	}
	return userErrors("inventory quantities", d.InventorySetQuantities.UserErrors)
}

// Delete deletes a product for good (Shopify keeps no trash: archiving is
// a status a push sets). A product already gone is not an error.
func (c *Connector) Delete(ctx context.Context, conn connector.Connection, model, externalID string, _ bool) error {
	if err := checkModel(model); err != nil {
		return err
	}
	gid := ProductGID(externalID)
	if gid == "" {
		return &connector.Error{Kind: connector.ErrInvalid, Message: "external_id: not a Shopify product id (gid://shopify/Product/N)."}
	}
	res, err := c.call(ctx, conn, deleteMutation, map[string]any{"input": map[string]any{"id": gid}}, mutationCost)
	if err != nil {
		return err
	}
	var d struct {
		ProductDelete *struct {
			DeletedProductID *string     `json:"deletedProductId"`
			UserErrors       []userError `json:"userErrors"`
		} `json:"productDelete"`
	}
	if err := json.Unmarshal(res.data, &d); err != nil || d.ProductDelete == nil {
		return &connector.Error{Kind: connector.ErrUnavailable, Message: "Shopify answered productDelete with data Joinery could not read.", Err: err}
	}
	if errs := d.ProductDelete.UserErrors; len(errs) > 0 {
		if strings.Contains(strings.ToLower(errs[0].Message), "does not exist") || errs[0].Code == "NOT_FOUND" {
			return nil
		}
		return userErrors("deletion", errs)
	}
	return nil
}

// idempotencyKey is a fresh key: one push's quantities are one change.
func idempotencyKey() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// PushModels: products are pushed through Create and Update.
func (c *Connector) PushModels() []string { return []string{integration.ModelProduct} }

// CheckPush refuses, when it is taken, a product push carrying inventory
// quantities for an integration without config.inventory_location_id.
// The data already fits the product's push schema.
func (c *Connector) CheckPush(config map[string]any, model string, data json.RawMessage) error {
	if model != integration.ModelProduct {
		return nil
	}
	var p integration.Product
	if json.Unmarshal(data, &p) != nil {
		return nil // the schema check names what is wrong
	}
	return CheckPush(config, &p)
}
