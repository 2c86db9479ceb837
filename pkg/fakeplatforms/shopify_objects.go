package fakeplatforms

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The GraphQL objects of the fake: each reads the shop's state (callers
// hold Server.mu while a query runs).

// shopifyRoot is QueryRoot and Mutation.
type shopifyRoot struct {
	s        *Server
	st       *shopifyState
	now      time.Time
	mutation bool
	events   []shopifyEvent // webhooks the mutations trigger
	search   []map[string]any
	scopes   []string // the access token's
}

// fieldScopes are the access scopes the root fields need; a write scope
// grants its read scope too.
var fieldScopes = map[string]string{
	"product": "read_products", "productByHandle": "read_products", "products": "read_products",
	"productsCount": "read_products", "productVariant": "read_products",
	"productSet": "write_products", "productDelete": "write_products",
	"inventorySetQuantities": "write_inventory",
	"location":               "read_locations", "locations": "read_locations",
}

// accessDenied is Shopify's answer to a field the token's scopes do not
// cover: the field is null and an ACCESS_DENIED error names the scope.
type accessDenied struct{ field, scope string }

func (e accessDenied) Error() string {
	return "Access denied for " + e.field + " field. Required access: `" + e.scope + "` access scope."
}

func (e accessDenied) extensions() map[string]any {
	return map[string]any{"code": "ACCESS_DENIED", "documentation": "https://shopify.dev/api/usage/access-scopes",
		"requiredAccess": "`" + e.scope + "` access scope."}
}

func (r *shopifyRoot) allowed(field string) error {
	need, ok := fieldScopes[field]
	if !ok {
		return nil
	}
	write := "write_" + strings.TrimPrefix(need, "read_")
	for _, sc := range r.scopes {
		if sc == need || sc == write {
			return nil
		}
	}
	return accessDenied{field: field, scope: need}
}

func (r *shopifyRoot) gqlType() string {
	if r.mutation {
		return "Mutation"
	}
	return "QueryRoot"
}

func gqlTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func (r *shopifyRoot) shop() gqlObject {
	name := r.s.shopDomain()
	if len(r.s.accounts) > 0 && r.s.accounts[0].Name != "" {
		name = r.s.accounts[0].Name
	}
	origin := "https://" + r.s.shopDomain()
	return &fields{typ: "Shop", v: map[string]any{
		"id": ShopifyGID("Shop", shopifyShopID), "name": name, "email": "owner@" + r.s.opts.Shop + ".example",
		"myshopifyDomain": r.s.shopDomain(), "url": origin, "currencyCode": "USD", "ianaTimezone": "UTC",
		"primaryDomain": &fields{typ: "Domain", v: map[string]any{"id": ShopifyGID("Domain", shopifyShopID), "host": r.s.shopDomain(), "url": origin, "sslEnabled": true}},
	}}
}

func (r *shopifyRoot) location() gqlObject {
	return &fields{typ: "Location", v: map[string]any{"id": ShopifyGID("Location", ShopifyLocationID), "name": "Shop location", "isActive": true}}
}

func (r *shopifyRoot) gqlField(name string, args map[string]any) (any, error) {
	if err := r.allowed(name); err != nil {
		return nil, err
	}
	if r.mutation {
		return r.mutate(name, args)
	}
	switch name {
	case "shop":
		return r.shop(), nil
	case "product":
		id, _ := args["id"].(string)
		if p := r.st.products[ShopifyNumericID(id, "Product")]; p != nil {
			return r.product(p), nil
		}
		return nil, nil
	case "productByHandle":
		h, _ := args["handle"].(string)
		if id, ok := r.st.byHandle[h]; ok {
			return r.product(r.st.products[id]), nil
		}
		return nil, nil
	case "productVariant":
		id, _ := args["id"].(string)
		if p, v := r.st.variant(ShopifyNumericID(id, "ProductVariant")); v != nil {
			return &variantObj{r: r, p: p, v: v}, nil
		}
		return nil, nil
	case "products":
		return r.products(args)
	case "productsCount":
		q, _ := args["query"].(string)
		match, _ := parseProductSearch(q)
		n := 0
		for _, p := range r.st.products {
			if seen, ok := r.st.searchView(p, r.now); q == "" && match(p) || q != "" && ok && match(seen) {
				n++
			}
		}
		precision := "EXACT"
		if l, ok := args["limit"]; ok && l != nil && n > toInt(l) {
			n, precision = toInt(l), "AT_LEAST"
		}
		return &fields{typ: "Count", v: map[string]any{"count": n, "precision": precision}}, nil
	case "location":
		if id, _ := args["id"].(string); id != "" && ShopifyNumericID(id, "Location") != ShopifyLocationID {
			return nil, nil
		}
		return r.location(), nil
	case "locations":
		return paginate("LocationConnection", []gqlObject{r.location()}, []pageKey{{ID: ShopifyLocationID}}, args)
	case "webhookSubscription":
		id, _ := args["id"].(string)
		if h := r.st.hook(ShopifyNumericID(id, "WebhookSubscription")); h != nil {
			return r.hookObj(h), nil
		}
		return nil, nil
	case "webhookSubscriptions":
		var items []gqlObject
		var keys []pageKey
		topics, _ := args["topics"].([]any)
		uri, _ := args["uri"].(string)
		if uri == "" {
			uri, _ = args["callbackUrl"].(string)
		}
		for _, h := range r.st.hooks {
			if len(topics) > 0 && !containsAny(topics, h.topic) || uri != "" && h.uri != uri {
				continue
			}
			items = append(items, r.hookObj(h))
			keys = append(keys, pageKey{ID: h.id})
		}
		return paginate("WebhookSubscriptionConnection", items, keys, args)
	}
	return nil, nil
}

func containsAny(list []any, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// products lists the shop's products: filtered by the search query,
// ordered by sortKey then id.
func (r *shopifyRoot) products(args map[string]any) (any, error) {
	q, _ := args["query"].(string)
	match, warnings := parseProductSearch(q)
	if len(warnings) > 0 {
		r.search = append(r.search, map[string]any{"path": []string{"products"}, "query": q, "warnings": warnings})
	}
	sortKey, _ := args["sortKey"].(string)
	var items []gqlObject
	var keys []pageKey
	for _, p := range r.st.products {
		seen := p
		if q != "" {
			var ok bool
			if seen, ok = r.st.searchView(p, r.now); !ok {
				continue
			}
		}
		if !match(seen) {
			continue
		}
		items = append(items, r.product(p))
		keys = append(keys, pageKey{ID: p.ID, Value: productSortValue(seen, sortKey)})
	}
	return paginate("ProductConnection", items, keys, args)
}

func productSortValue(p *ShopifyProduct, sortKey string) string {
	switch sortKey {
	case "UPDATED_AT":
		return p.UpdatedAt.UTC().Format("20060102150405")
	case "CREATED_AT", "PUBLISHED_AT":
		return p.CreatedAt.UTC().Format("20060102150405")
	case "TITLE":
		return strings.ToLower(p.Title)
	case "VENDOR":
		return strings.ToLower(p.Vendor)
	case "PRODUCT_TYPE":
		return strings.ToLower(p.ProductType)
	case "INVENTORY_TOTAL":
		return fmt.Sprintf("%012d", totalInventory(p)+1<<30)
	}
	return "" // ID, RELEVANCE
}

func totalInventory(p *ShopifyProduct) int {
	n := 0
	for _, v := range p.Variants {
		n += v.InventoryQuantity
	}
	return n
}

// parseProductSearch reads Shopify's search syntax as far as the fake
// needs: space- or AND-separated terms field:value, the value compared
// with >, >=, <, <= (dates and ids) or matched (status, handle, vendor,
// product_type, tag, title; * as a suffix wildcard), quotes allowed.
// Terms on fields it does not know are ignored with a warning, as Shopify
// does (extensions.search).
func parseProductSearch(q string) (func(*ShopifyProduct) bool, []map[string]any) {
	var tests []func(*ShopifyProduct) bool
	var warnings []map[string]any
	for _, term := range searchTerms(q) {
		if strings.EqualFold(term, "AND") {
			continue
		}
		field, val, ok := strings.Cut(term, ":")
		if !ok {
			// Free text: matches the title.
			t := strings.ToLower(unquote(term))
			tests = append(tests, func(p *ShopifyProduct) bool { return strings.Contains(strings.ToLower(p.Title), t) })
			continue
		}
		op := ""
		for _, o := range []string{">=", "<=", ">", "<"} {
			if strings.HasPrefix(val, o) {
				op, val = o, val[len(o):]
				break
			}
		}
		val = unquote(val)
		field = strings.ToLower(field)
		switch field {
		case "updated_at", "created_at":
			t, ok := parseSearchTime(val)
			if !ok {
				warnings = append(warnings, map[string]any{"field": field, "message": "Invalid date value: " + val})
				continue
			}
			get := func(p *ShopifyProduct) time.Time { return p.UpdatedAt }
			if field == "created_at" {
				get = func(p *ShopifyProduct) time.Time { return p.CreatedAt }
			}
			tests = append(tests, func(p *ShopifyProduct) bool { return compare(get(p).Compare(t), op) })
		case "id":
			n, err := strconv.ParseInt(val, 10, 64)
			if err != nil {
				warnings = append(warnings, map[string]any{"field": field, "message": "Invalid id value: " + val})
				continue
			}
			tests = append(tests, func(p *ShopifyProduct) bool { return compare(cmpInt(p.ID, n), op) })
		case "status", "handle", "vendor", "product_type", "title", "tag":
			alts := strings.Split(val, ",")
			tests = append(tests, func(p *ShopifyProduct) bool {
				var have []string
				switch field {
				case "status":
					have = []string{p.Status}
				case "handle":
					have = []string{p.Handle}
				case "vendor":
					have = []string{p.Vendor}
				case "product_type":
					have = []string{p.ProductType}
				case "title":
					have = []string{p.Title}
				case "tag":
					have = p.Tags
				}
				for _, h := range have {
					for _, a := range alts {
						if wildMatch(strings.ToLower(h), strings.ToLower(strings.TrimSpace(a))) {
							return true
						}
					}
				}
				return false
			})
		default:
			warnings = append(warnings, map[string]any{"field": field, "message": "Invalid search field for this query."})
		}
	}
	return func(p *ShopifyProduct) bool {
		for _, t := range tests {
			if !t(p) {
				return false
			}
		}
		return true
	}, warnings
}

func wildMatch(have, want string) bool {
	if p, ok := strings.CutSuffix(want, "*"); ok {
		return strings.HasPrefix(have, p)
	}
	return have == want
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func compare(c int, op string) bool {
	switch op {
	case ">":
		return c > 0
	case ">=":
		return c >= 0
	case "<":
		return c < 0
	case "<=":
		return c <= 0
	}
	return c == 0
}

var searchTermRE = regexp.MustCompile(`(?:[^\s'"]+|'[^']*'|"[^"]*")+`)

func searchTerms(q string) []string { return searchTermRE.FindAllString(q, -1) }

func unquote(s string) string {
	if len(s) >= 2 && (s[0] == '\'' || s[0] == '"') && s[len(s)-1] == s[0] {
		return s[1 : len(s)-1]
	}
	return s
}

func parseSearchTime(v string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// --- Product and what hangs off it ---

type productObj struct {
	r *shopifyRoot
	p *ShopifyProduct
}

func (r *shopifyRoot) product(p *ShopifyProduct) *productObj { return &productObj{r: r, p: p} }

func (o *productObj) gqlType() string { return "Product" }

var tagRE = regexp.MustCompile(`<[^>]*>`)

func (o *productObj) gqlField(name string, args map[string]any) (any, error) {
	p := o.p
	switch name {
	case "id":
		return ShopifyGID("Product", p.ID), nil
	case "legacyResourceId":
		return strconv.FormatInt(p.ID, 10), nil
	case "handle":
		return p.Handle, nil
	case "title":
		return p.Title, nil
	case "description":
		d := strings.TrimSpace(tagRE.ReplaceAllString(p.DescriptionHTML, ""))
		if n := toInt(args["truncateAt"]); n > 0 && len(d) > n {
			d = d[:n]
		}
		return d, nil
	case "descriptionHtml":
		return p.DescriptionHTML, nil
	case "vendor":
		return p.Vendor, nil
	case "productType":
		return p.ProductType, nil
	case "status":
		return p.Status, nil
	case "tags":
		if p.Tags == nil {
			return []string{}, nil
		}
		return p.Tags, nil
	case "createdAt":
		return gqlTime(p.CreatedAt), nil
	case "updatedAt":
		return gqlTime(p.UpdatedAt), nil
	case "publishedAt":
		if p.Status != "ACTIVE" {
			return nil, nil
		}
		return gqlTime(p.CreatedAt), nil
	case "onlineStoreUrl":
		if p.Status != "ACTIVE" {
			return nil, nil
		}
		return "https://" + o.r.s.shopDomain() + "/products/" + p.Handle, nil
	case "totalInventory":
		return totalInventory(p), nil
	case "tracksInventory":
		return true, nil
	case "hasOnlyDefaultVariant":
		return len(p.Options) == 1 && p.Options[0].Name == "Title" && len(p.Variants) == 1, nil
	case "options":
		n := len(p.Options)
		if v, ok := args["first"]; ok && v != nil {
			n = min(n, toInt(v))
		}
		out := make([]gqlObject, 0, n)
		for i := range p.Options[:n] {
			out = append(out, &optionObj{p: p, o: &p.Options[i], pos: i + 1})
		}
		return out, nil
	case "variants":
		items := make([]gqlObject, len(p.Variants))
		ids := make([]int64, len(p.Variants))
		for i := range p.Variants {
			items[i] = &variantObj{r: o.r, p: p, v: &p.Variants[i]}
			ids[i] = p.Variants[i].ID
		}
		return paginate("ProductVariantConnection", items, positional(ids), args)
	case "variantsCount":
		return &fields{typ: "Count", v: map[string]any{"count": len(p.Variants), "precision": "EXACT"}}, nil
	case "images", "media":
		items := make([]gqlObject, len(p.Images))
		ids := make([]int64, len(p.Images))
		for i, im := range p.Images {
			items[i] = imageObj(im)
			if name == "media" {
				items[i] = &fields{typ: "MediaImage", v: map[string]any{"id": ShopifyGID("MediaImage", im.ID), "alt": im.AltText,
					"mediaContentType": "IMAGE", "status": "READY", "image": imageObj(im)}}
			}
			ids[i] = im.ID
		}
		typ := "ImageConnection"
		if name == "media" {
			typ = "MediaConnection"
		}
		return paginate(typ, items, positional(ids), args)
	case "featuredImage":
		if len(p.Images) == 0 {
			return nil, nil
		}
		return imageObj(p.Images[0]), nil
	}
	return nil, nil
}

func imageObj(im ShopifyImage) gqlObject {
	var alt any
	if im.AltText != "" {
		alt = im.AltText
	}
	return &fields{typ: "Image", v: map[string]any{"id": ShopifyGID("ProductImage", im.ID), "url": im.URL, "altText": alt, "width": nil, "height": nil}}
}

type optionObj struct {
	p   *ShopifyProduct
	o   *ShopifyOption
	pos int
}

func (o *optionObj) gqlType() string { return "ProductOption" }

func (o *optionObj) gqlField(name string, _ map[string]any) (any, error) {
	switch name {
	case "id":
		return ShopifyGID("ProductOption", o.o.ID), nil
	case "name":
		return o.o.Name, nil
	case "position":
		return o.pos, nil
	case "values":
		vals := make([]string, len(o.o.Values))
		for i, v := range o.o.Values {
			vals[i] = v.Name
		}
		return vals, nil
	case "optionValues":
		out := make([]gqlObject, len(o.o.Values))
		for i, v := range o.o.Values {
			used := false
			for _, pv := range o.p.Variants {
				for _, so := range pv.SelectedOptions {
					used = used || (so.Name == o.o.Name && so.Value == v.Name)
				}
			}
			out[i] = &fields{typ: "ProductOptionValue", v: map[string]any{"id": ShopifyGID("ProductOptionValue", v.ID), "name": v.Name, "hasVariants": used}}
		}
		return out, nil
	}
	return nil, nil
}

type variantObj struct {
	r *shopifyRoot
	p *ShopifyProduct
	v *ShopifyVariant
}

func (o *variantObj) gqlType() string { return "ProductVariant" }

func (o *variantObj) gqlField(name string, _ map[string]any) (any, error) {
	v := o.v
	switch name {
	case "id":
		return ShopifyGID("ProductVariant", v.ID), nil
	case "legacyResourceId":
		return strconv.FormatInt(v.ID, 10), nil
	case "title":
		return variantTitle(v), nil
	case "displayName":
		return o.p.Title + " - " + variantTitle(v), nil
	case "sku":
		if v.SKU == "" {
			return nil, nil
		}
		return v.SKU, nil
	case "barcode":
		return nil, nil
	case "price":
		return v.Price, nil
	case "compareAtPrice":
		if v.CompareAtPrice == "" {
			return nil, nil
		}
		return v.CompareAtPrice, nil
	case "position":
		for i := range o.p.Variants {
			if o.p.Variants[i].ID == v.ID {
				return i + 1, nil
			}
		}
		return 1, nil
	case "inventoryQuantity":
		return v.InventoryQuantity, nil
	case "availableForSale":
		return v.InventoryQuantity > 0, nil
	case "selectedOptions":
		out := make([]gqlObject, len(v.SelectedOptions))
		for i, so := range v.SelectedOptions {
			out[i] = &fields{typ: "SelectedOption", v: map[string]any{"name": so.Name, "value": so.Value}}
		}
		return out, nil
	case "inventoryItem":
		return inventoryItemObj(v), nil
	case "product":
		return o.r.product(o.p), nil
	case "createdAt":
		return gqlTime(v.CreatedAt), nil
	case "updatedAt":
		return gqlTime(v.UpdatedAt), nil
	}
	return nil, nil
}

func inventoryItemObj(v *ShopifyVariant) gqlObject {
	var sku any
	if v.SKU != "" {
		sku = v.SKU
	}
	return &fields{typ: "InventoryItem", v: map[string]any{"id": ShopifyGID("InventoryItem", v.InventoryItemID), "sku": sku, "tracked": true}}
}
