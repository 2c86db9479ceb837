package fakeplatforms

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// The mutations the fake serves, with Shopify's userErrors for input it
// refuses (field paths from the mutation's argument, e.g. ["input",
// "variants", "0", "price"]); a mutation with userErrors changes nothing.

type userError struct {
	field   []string
	message string
	code    string
}

func userErrors(typ string, errs []userError) []gqlObject {
	out := make([]gqlObject, len(errs))
	for i, e := range errs {
		var code any
		if e.code != "" {
			code = e.code
		}
		out[i] = &fields{typ: typ, v: map[string]any{"field": e.field, "message": e.message, "code": code}}
	}
	return out
}

func argMap(m map[string]any, k string) map[string]any { v, _ := m[k].(map[string]any); return v }
func argList(m map[string]any, k string) []any         { v, _ := m[k].([]any); return v }
func argStr(m map[string]any, k string) string         { v, _ := m[k].(string); return v }

func has(m map[string]any, k string) bool { _, ok := m[k]; return ok }

// money reads a Money input: a decimal string (or a number).
var decimalRE = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)

func money(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		x = strings.TrimSpace(x)
		return x, decimalRE.MatchString(x)
	case float64:
		return strconv.FormatFloat(x, 'f', 2, 64), x >= 0
	case int64:
		return strconv.FormatInt(x, 10) + ".00", x >= 0
	case int:
		return strconv.Itoa(x) + ".00", x >= 0
	}
	return "", false
}

func (r *shopifyRoot) mutate(name string, args map[string]any) (any, error) {
	switch name {
	case "productSet":
		return r.productSet(args), nil
	case "productDelete":
		return r.productDelete(args), nil
	case "inventorySetQuantities":
		return r.inventorySetQuantities(args)
	case "webhookSubscriptionCreate":
		return r.webhookCreate(args), nil
	case "webhookSubscriptionUpdate":
		return r.webhookUpdate(args), nil
	case "webhookSubscriptionDelete":
		return r.webhookDelete(args), nil
	}
	return nil, nil
}

// --- productSet ---

// productSet creates a product (no id) or replaces the given fields of
// one (input.id, or identifier id/handle; a handle that matches no
// product creates one with it). Lists are sets: productOptions and
// variants given replace the product's, variants matched by id keep
// their id and inventory item, the others are new, and variants not
// listed are deleted. Options and variants not given are kept.
func (r *shopifyRoot) productSet(args map[string]any) gqlObject {
	st := r.st
	in := argMap(args, "input")
	ident := argMap(args, "identifier")
	payload := func(p *ShopifyProduct, errs []userError) gqlObject {
		v := map[string]any{"product": nil, "productSetOperation": nil, "userErrors": userErrors("ProductSetUserError", errs)}
		if p != nil {
			if sync, ok := args["synchronous"].(bool); ok && !sync {
				v["productSetOperation"] = &fields{typ: "ProductSetOperation", v: map[string]any{
					"id": ShopifyGID("ProductSetOperation", st.id()), "status": "COMPLETE", "product": r.product(p)}}
			} else {
				v["product"] = r.product(p)
			}
		}
		return &fields{typ: "ProductSetPayload", v: v}
	}
	fail := func(field []string, msg, code string) gqlObject {
		return payload(nil, []userError{{field: field, message: msg, code: code}})
	}

	var target *ShopifyProduct
	handleFromIdent := ""
	gid := argStr(in, "id")
	if ident != nil {
		switch {
		case argStr(ident, "id") != "":
			if gid != "" && gid != argStr(ident, "id") {
				return fail([]string{"input", "id"}, "The id in the input and the identifier differ.", "INVALID_INPUT")
			}
			gid = argStr(ident, "id")
		case argStr(ident, "handle") != "":
			h := argStr(ident, "handle")
			if id, ok := st.byHandle[h]; ok {
				target = st.products[id]
			} else {
				handleFromIdent = h
			}
		case ident["customId"] != nil:
			return fail([]string{"identifier", "customId"}, "Metafield identifiers are not served by this fake.", "INVALID_INPUT")
		}
	}
	if gid != "" {
		target = st.products[ShopifyNumericID(gid, "Product")]
		if target == nil {
			return fail([]string{"input", "id"}, "Product does not exist", "PRODUCT_DOES_NOT_EXIST")
		}
	}
	create := target == nil
	var np ShopifyProduct
	if !create {
		np = cloneProduct(target)
	}
	var errs []userError
	add := func(msg, code string, field ...string) {
		errs = append(errs, userError{field: append([]string{"input"}, field...), message: msg, code: code})
	}
	for key, dst := range map[string]*string{"title": &np.Title, "descriptionHtml": &np.DescriptionHTML,
		"vendor": &np.Vendor, "productType": &np.ProductType, "status": &np.Status} {
		if has(in, key) {
			*dst = argStr(in, key)
		}
	}
	if (create || has(in, "title")) && strings.TrimSpace(np.Title) == "" {
		add("Title can't be blank", "BLANK", "title")
	}
	if np.Status == "" {
		np.Status = "ACTIVE"
	}
	if has(in, "tags") {
		np.Tags = nil
		for _, t := range argList(in, "tags") {
			if t, _ := t.(string); strings.TrimSpace(t) != "" && !slices.Contains(np.Tags, strings.TrimSpace(t)) {
				np.Tags = append(np.Tags, strings.TrimSpace(t))
			}
		}
	}
	if h := argStr(in, "handle"); h != "" || handleFromIdent != "" {
		if h == "" {
			h = handleFromIdent
		}
		if id, ok := st.byHandle[h]; ok && (create || id != np.ID) {
			add(fmt.Sprintf("Handle '%s' already in use. Please provide a new handle.", h), "HANDLE_NOT_UNIQUE", "handle")
		}
		np.Handle = h
	}

	// Options.
	optsIn, optsGiven := in["productOptions"].([]any)
	if optsGiven {
		if len(optsIn) > 3 {
			add("Can only specify a maximum of 3 options", "OPTIONS_INPUT_LIMIT_EXCEEDED", "productOptions")
		}
		var opts []ShopifyOption
		for i, raw := range optsIn {
			oi, _ := raw.(map[string]any)
			at := []string{"productOptions", strconv.Itoa(i)}
			var old *ShopifyOption
			for j := range np.Options {
				if oid := argStr(oi, "id"); oid != "" && ShopifyNumericID(oid, "ProductOption") == np.Options[j].ID ||
					oid == "" && strings.EqualFold(np.Options[j].Name, argStr(oi, "name")) {
					old = &np.Options[j]
				}
			}
			if oid := argStr(oi, "id"); oid != "" && old == nil {
				add("Option does not exist", "OPTION_DOES_NOT_EXIST", append(at, "id")...)
				continue
			}
			o := ShopifyOption{Name: strings.TrimSpace(argStr(oi, "name"))}
			if old != nil {
				o.ID = old.ID
				if o.Name == "" {
					o.Name = old.Name
				}
			}
			if o.Name == "" {
				add("Option name can't be blank", "BLANK", append(at, "name")...)
				continue
			}
			for _, prev := range opts {
				if strings.EqualFold(prev.Name, o.Name) {
					add(fmt.Sprintf("Duplicated option name '%s'", o.Name), "DUPLICATED_OPTION_NAME", append(at, "name")...)
				}
			}
			vals := argList(oi, "values")
			if len(vals) == 0 {
				add(fmt.Sprintf("Option '%s' must have at least one value", o.Name), "INVALID_INPUT", append(at, "values")...)
			}
			for k, rv := range vals {
				vi, _ := rv.(map[string]any)
				v := ShopifyOptionValue{Name: strings.TrimSpace(argStr(vi, "name"))}
				if old != nil {
					for _, ov := range old.Values {
						if vid := argStr(vi, "id"); vid != "" && ShopifyNumericID(vid, "ProductOptionValue") == ov.ID || vid == "" && ov.Name == v.Name {
							v.ID = ov.ID
							if v.Name == "" {
								v.Name = ov.Name
							}
						}
					}
				}
				vat := append(append([]string{}, at...), "values", strconv.Itoa(k), "name")
				if v.Name == "" {
					add("Option value name can't be blank", "BLANK", vat...)
					continue
				}
				if slices.ContainsFunc(o.Values, func(x ShopifyOptionValue) bool { return strings.EqualFold(x.Name, v.Name) }) {
					add(fmt.Sprintf("Duplicated option value '%s'", v.Name), "DUPLICATED_OPTION_VALUE", vat...)
					continue
				}
				o.Values = append(o.Values, v)
			}
			opts = append(opts, o)
		}
		np.Options = opts
	}

	// Variants.
	varsIn, varsGiven := in["variants"].([]any)
	if varsGiven && !optsGiven {
		add("Product options input is required when updating variants.", "PRODUCT_OPTIONS_INPUT_MISSING", "productOptions")
	}
	if len(varsIn) > 2048 {
		add("Can only specify a maximum of 2048 variants", "VARIANTS_INPUT_LIMIT_EXCEEDED", "variants")
	}
	if varsGiven && len(errs) == 0 {
		var out []ShopifyVariant
		seen := map[string]int{}
		for i, raw := range varsIn {
			vi, _ := raw.(map[string]any)
			at := []string{"variants", strconv.Itoa(i)}
			var v ShopifyVariant
			if vid := argStr(vi, "id"); vid != "" {
				n := ShopifyNumericID(vid, "ProductVariant")
				k := slices.IndexFunc(np.Variants, func(x ShopifyVariant) bool { return x.ID == n })
				if create || k < 0 {
					add("Product variant does not exist", "PRODUCT_VARIANT_DOES_NOT_EXIST", append(at, "id")...)
					continue
				}
				v = np.Variants[k]
				v.SelectedOptions = nil
			}
			if has(vi, "price") {
				p, ok := money(vi["price"])
				if !ok {
					add("Price must be a decimal number", "INVALID_VARIANT", append(at, "price")...)
				}
				v.Price = p
			}
			if has(vi, "compareAtPrice") {
				v.CompareAtPrice = ""
				if vi["compareAtPrice"] != nil {
					p, ok := money(vi["compareAtPrice"])
					if !ok {
						add("Compare at price must be a decimal number", "INVALID_VARIANT", append(at, "compareAtPrice")...)
					}
					v.CompareAtPrice = p
				}
			}
			if has(vi, "sku") {
				v.SKU = argStr(vi, "sku")
			}
			if item := argMap(vi, "inventoryItem"); item != nil && has(item, "sku") {
				v.SKU = argStr(item, "sku")
			}
			for k, rq := range argList(vi, "inventoryQuantities") {
				qi, _ := rq.(map[string]any)
				qat := append(append([]string{}, at...), "inventoryQuantities", strconv.Itoa(k))
				if ShopifyNumericID(argStr(qi, "locationId"), "Location") != ShopifyLocationID {
					add("Location does not exist", "PRODUCT_VARIANT_INVALID_LOCATION", append(qat, "locationId")...)
					continue
				}
				if n := argStr(qi, "name"); n != "available" && n != "on_hand" {
					add("The quantity name must be either 'available' or 'on_hand'", "INVALID_INPUT", append(qat, "name")...)
					continue
				}
				v.InventoryQuantity = toInt(qi["quantity"])
			}
			// Option values: one per option, each listed in the options.
			chosen := map[string]string{}
			for k, rov := range argList(vi, "optionValues") {
				ovi, _ := rov.(map[string]any)
				oat := append(append([]string{}, at...), "optionValues", strconv.Itoa(k))
				oi := slices.IndexFunc(np.Options, func(o ShopifyOption) bool {
					if id := argStr(ovi, "optionId"); id != "" {
						return ShopifyNumericID(id, "ProductOption") == o.ID
					}
					return strings.EqualFold(o.Name, argStr(ovi, "optionName"))
				})
				if oi < 0 {
					add("Option does not exist", "OPTION_DOES_NOT_EXIST", oat...)
					continue
				}
				o := np.Options[oi]
				vx := slices.IndexFunc(o.Values, func(x ShopifyOptionValue) bool {
					if id := argStr(ovi, "id"); id != "" {
						return ShopifyNumericID(id, "ProductOptionValue") == x.ID
					}
					return x.Name == argStr(ovi, "name")
				})
				if vx < 0 {
					add(fmt.Sprintf("Option value '%s' does not exist on option '%s'", argStr(ovi, "name"), o.Name), "OPTION_VALUE_DOES_NOT_EXIST", oat...)
					continue
				}
				chosen[o.Name] = o.Values[vx].Name
			}
			for _, o := range np.Options {
				val, ok := chosen[o.Name]
				if !ok {
					add(fmt.Sprintf("Variant is missing a value for option '%s'", o.Name), "INVALID_VARIANT", append(at, "optionValues")...)
					break
				}
				v.SelectedOptions = append(v.SelectedOptions, ShopifySelectedOption{Name: o.Name, Value: val})
			}
			title := variantTitle(&v)
			if j, dup := seen[title]; dup && len(v.SelectedOptions) == len(np.Options) {
				add(fmt.Sprintf("The variant '%s' already exists (variants %d and %d).", title, j, i), "NON_UNIQUE_VARIANT", at...)
			}
			seen[title] = i
			if v.ID == 0 && v.Price == "" {
				v.Price = "0.00"
			}
			v.UpdatedAt = r.now
			out = append(out, v)
		}
		np.Variants = out
	} else if optsGiven && len(errs) == 0 {
		// Options changed, variants kept: each must still name a value of
		// every option; a product created with options alone gets one
		// variant of the first values.
		if create {
			np.Variants = nil
		}
		for i, v := range np.Variants {
			ok := len(v.SelectedOptions) == len(np.Options)
			for j, so := range v.SelectedOptions {
				ok = ok && j < len(np.Options) && np.Options[j].Name == so.Name &&
					slices.ContainsFunc(np.Options[j].Values, func(x ShopifyOptionValue) bool { return x.Name == so.Value })
			}
			if !ok {
				add("The product's variants do not fit the new options: give the variants too", "INVALID_VARIANT", "variants", strconv.Itoa(i))
				break
			}
		}
	}

	// Files: the images, replaced as a set.
	if filesIn, ok := in["files"].([]any); ok {
		var imgs []ShopifyImage
		for i, rf := range filesIn {
			fi, _ := rf.(map[string]any)
			var im ShopifyImage
			if id := argStr(fi, "id"); id != "" {
				n := ShopifyNumericID(id, "")
				k := slices.IndexFunc(np.Images, func(x ShopifyImage) bool { return x.ID == n })
				if k < 0 {
					add("File does not exist", "INVALID_INPUT", "files", strconv.Itoa(i), "id")
					continue
				}
				im = np.Images[k]
			}
			if src := argStr(fi, "originalSource"); src != "" {
				if u, err := url.Parse(src); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
					add("Original source is not a valid URL", "INVALID_INPUT", "files", strconv.Itoa(i), "originalSource")
					continue
				}
				im.URL = src
			}
			if has(fi, "alt") {
				im.AltText = argStr(fi, "alt")
			}
			imgs = append(imgs, im)
		}
		np.Images = imgs
	}

	if len(errs) > 0 {
		return payload(nil, errs)
	}
	np.UpdatedAt = r.now
	if create {
		np.CreatedAt = r.now
	}
	st.normalize(&np, r.now)
	st.put(&np, r.now)
	p := st.products[np.ID]
	topic := "PRODUCTS_UPDATE"
	if create {
		topic = "PRODUCTS_CREATE"
	}
	r.events = append(r.events, shopifyEvent{topic: topic, payload: r.s.restProduct(p)})
	return payload(p, nil)
}

// --- productDelete ---

func (r *shopifyRoot) productDelete(args map[string]any) gqlObject {
	in := argMap(args, "input")
	id := ShopifyNumericID(argStr(in, "id"), "Product")
	v := map[string]any{"deletedProductId": nil, "productDeleteOperation": nil, "shop": r.shop(), "userErrors": []gqlObject{}}
	if !r.st.remove(id) {
		v["userErrors"] = userErrors("UserError", []userError{{field: []string{"id"}, message: "Product does not exist"}})
		return &fields{typ: "ProductDeletePayload", v: v}
	}
	gid := ShopifyGID("Product", id)
	if sync, ok := args["synchronous"].(bool); ok && !sync {
		v["productDeleteOperation"] = &fields{typ: "ProductDeleteOperation", v: map[string]any{
			"id": ShopifyGID("ProductDeleteOperation", r.st.id()), "status": "COMPLETE", "deletedProductId": gid}}
	} else {
		v["deletedProductId"] = gid
	}
	r.events = append(r.events, shopifyEvent{topic: "PRODUCTS_DELETE", payload: map[string]any{"id": id}})
	return &fields{typ: "ProductDeletePayload", v: v}
}

// --- inventorySetQuantities ---

var inventoryReasons = []string{"correction", "cycle_count_available", "damaged", "movement_created", "movement_updated",
	"movement_received", "movement_canceled", "other", "promotion", "quality_control", "received", "reservation_created",
	"reservation_deleted", "reservation_updated", "restock", "safety_stock", "shrinkage"}

// inventorySetQuantities sets available (or on_hand) quantities at the
// fake's location. Since 2026-04 it needs @idempotent(key:) and every
// quantity's changeFromQuantity (null: no compare-and-swap); a key seen
// before answers the first answer again without a second change.
func (r *shopifyRoot) inventorySetQuantities(args map[string]any) (any, error) {
	key, _ := args["@idempotent"].(string)
	if key == "" {
		return nil, gqlMessage("The @idempotent directive is required for this mutation.")
	}
	if prev, ok := r.st.idempotent[key]; ok {
		return prev, nil
	}
	in := argMap(args, "input")
	var errs []userError
	add := func(msg, code string, field ...string) {
		errs = append(errs, userError{field: append([]string{"input"}, field...), message: msg, code: code})
	}
	name := argStr(in, "name")
	if name != "available" && name != "on_hand" {
		add("The quantity name must be either 'available' or 'on_hand'", "INVALID_NAME", "name")
	}
	if !slices.Contains(inventoryReasons, argStr(in, "reason")) {
		add("The specified reason is invalid", "INVALID_REASON", "reason")
	}
	type change struct {
		v     *ShopifyVariant
		p     *ShopifyProduct
		delta int
		to    int
	}
	var changes []change
	seen := map[int64]bool{}
	for i, rq := range argList(in, "quantities") {
		q, _ := rq.(map[string]any)
		at := []string{"quantities", strconv.Itoa(i)}
		p, v := r.st.inventoryItem(ShopifyNumericID(argStr(q, "inventoryItemId"), "InventoryItem"))
		if v == nil {
			add("The specified inventory item could not be found.", "INVALID_INVENTORY_ITEM", append(at, "inventoryItemId")...)
			continue
		}
		if ShopifyNumericID(argStr(q, "locationId"), "Location") != ShopifyLocationID {
			add("The specified location could not be found.", "INVALID_LOCATION", append(at, "locationId")...)
			continue
		}
		if seen[v.InventoryItemID] {
			add("The combination of inventoryItemId and locationId must be unique.", "NO_DUPLICATE_INVENTORY_ITEM_ID_GROUP_ID_PAIR", at...)
			continue
		}
		seen[v.InventoryItemID] = true
		if !has(q, "changeFromQuantity") {
			add("changeFromQuantity is required; pass null to set the quantity without checking it.", "CHANGE_FROM_QUANTITY_REQUIRED", append(at, "changeFromQuantity")...)
			continue
		}
		if cf := q["changeFromQuantity"]; cf != nil && toInt(cf) != v.InventoryQuantity {
			add("The quantity couldn't be updated because it has changed since changeFromQuantity was read.", "CHANGE_FROM_QUANTITY_STALE", append(at, "changeFromQuantity")...)
			continue
		}
		to := toInt(q["quantity"])
		changes = append(changes, change{v: v, p: p, delta: to - v.InventoryQuantity, to: to})
	}
	v := map[string]any{"inventoryAdjustmentGroup": nil, "userErrors": userErrors("InventorySetQuantitiesUserError", errs)}
	if len(errs) == 0 {
		var list []gqlObject
		for _, c := range changes {
			c.v.InventoryQuantity = c.to
			list = append(list, &fields{typ: "InventoryChange", v: map[string]any{"name": name, "delta": c.delta,
				"quantityAfterChange": c.to, "item": inventoryItemObj(c.v), "location": r.location()}})
		}
		var ref any
		if u := argStr(in, "referenceDocumentUri"); u != "" {
			ref = u
		}
		v["inventoryAdjustmentGroup"] = &fields{typ: "InventoryAdjustmentGroup", v: map[string]any{
			"id": ShopifyGID("InventoryAdjustmentGroup", r.st.id()), "createdAt": gqlTime(r.now),
			"reason": argStr(in, "reason"), "referenceDocumentUri": ref, "changes": list}}
	}
	out := &fields{typ: "InventorySetQuantitiesPayload", v: v}
	r.st.idempotent[key] = out
	return out, nil
}

// --- webhook subscriptions ---

func hookURI(sub map[string]any) string {
	if u := argStr(sub, "uri"); u != "" {
		return u
	}
	return argStr(sub, "callbackUrl")
}

func validHookURI(u string) bool {
	p, err := url.Parse(u)
	return err == nil && (p.Scheme == "https" || p.Scheme == "http") && p.Host != ""
}

func stringList(v []any) []string {
	var out []string
	for _, x := range v {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// webhookCreate subscribes a URL to a topic. Shopify wants https; the
// fake also takes http, for receivers on 127.0.0.1.
func (r *shopifyRoot) webhookCreate(args map[string]any) gqlObject {
	topic := argStr(args, "topic")
	sub := argMap(args, "webhookSubscription")
	uri := hookURI(sub)
	field := "callbackUrl"
	if has(sub, "uri") {
		field = "uri"
	}
	v := map[string]any{"webhookSubscription": nil}
	var errs []userError
	switch {
	case !validHookURI(uri):
		errs = append(errs, userError{field: []string{"webhookSubscription", field}, message: "Address is invalid"})
	case slices.ContainsFunc(r.st.hooks, func(h *shopifyHook) bool { return h.topic == topic && h.uri == uri }):
		errs = append(errs, userError{field: []string{"webhookSubscription", field}, message: "Address for this topic has already been taken"})
	}
	if len(errs) == 0 {
		format := argStr(sub, "format")
		if format == "" {
			format = "JSON"
		}
		h := &shopifyHook{id: r.st.id(), topic: topic, uri: uri, format: format,
			includeFields: stringList(argList(sub, "includeFields")), filter: argStr(sub, "filter"), created: r.now, updated: r.now}
		r.st.hooks = append(r.st.hooks, h)
		v["webhookSubscription"] = r.hookObj(h)
	}
	v["userErrors"] = userErrors("UserError", errs)
	return &fields{typ: "WebhookSubscriptionCreatePayload", v: v}
}

func (r *shopifyRoot) webhookUpdate(args map[string]any) gqlObject {
	h := r.st.hook(ShopifyNumericID(argStr(args, "id"), "WebhookSubscription"))
	sub := argMap(args, "webhookSubscription")
	v := map[string]any{"webhookSubscription": nil}
	var errs []userError
	switch {
	case h == nil:
		errs = append(errs, userError{field: []string{"id"}, message: "Webhook subscription does not exist"})
	case hookURI(sub) != "" && !validHookURI(hookURI(sub)):
		errs = append(errs, userError{field: []string{"webhookSubscription", "callbackUrl"}, message: "Address is invalid"})
	default:
		if u := hookURI(sub); u != "" {
			h.uri = u
		}
		if has(sub, "includeFields") {
			h.includeFields = stringList(argList(sub, "includeFields"))
		}
		if f := argStr(sub, "format"); f != "" {
			h.format = f
		}
		h.updated = r.now
		v["webhookSubscription"] = r.hookObj(h)
	}
	v["userErrors"] = userErrors("UserError", errs)
	return &fields{typ: "WebhookSubscriptionUpdatePayload", v: v}
}

func (r *shopifyRoot) webhookDelete(args map[string]any) gqlObject {
	id := ShopifyNumericID(argStr(args, "id"), "WebhookSubscription")
	v := map[string]any{"deletedWebhookSubscriptionId": nil, "userErrors": []gqlObject{}}
	i := slices.IndexFunc(r.st.hooks, func(h *shopifyHook) bool { return h.id == id })
	if i < 0 {
		v["userErrors"] = userErrors("UserError", []userError{{field: []string{"id"}, message: "Webhook subscription does not exist"}})
	} else {
		r.st.hooks = slices.Delete(r.st.hooks, i, i+1)
		v["deletedWebhookSubscriptionId"] = ShopifyGID("WebhookSubscription", id)
	}
	return &fields{typ: "WebhookSubscriptionDeletePayload", v: v}
}
