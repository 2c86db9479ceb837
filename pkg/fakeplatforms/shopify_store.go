package fakeplatforms

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/joinery/joinery/pkg/connector"
)

// ShopifyProduct is a product of the fake shop. Ids are Shopify's numeric
// ids (the GraphQL id is gid://shopify/Product/<ID>); a zero id given to
// AddProduct is assigned.
type ShopifyProduct struct {
	ID              int64
	Handle          string
	Title           string
	DescriptionHTML string
	Vendor          string
	ProductType     string
	Status          string // ACTIVE, DRAFT, ARCHIVED ("" → ACTIVE)
	Tags            []string
	CreatedAt       time.Time
	UpdatedAt       time.Time
	Options         []ShopifyOption
	Variants        []ShopifyVariant
	Images          []ShopifyImage
}

// ShopifyOption is a product option (Size, Color) with its values.
type ShopifyOption struct {
	ID     int64
	Name   string
	Values []ShopifyOptionValue
}

// ShopifyOptionValue is one value of an option.
type ShopifyOptionValue struct {
	ID   int64
	Name string
}

// ShopifyVariant is a product variant. Price and CompareAtPrice are
// decimal strings ("" CompareAtPrice: none); InventoryQuantity is what is
// available at the fake's one location.
type ShopifyVariant struct {
	ID                int64
	InventoryItemID   int64
	SKU               string
	Price             string
	CompareAtPrice    string
	InventoryQuantity int
	SelectedOptions   []ShopifySelectedOption
	CreatedAt         time.Time
	UpdatedAt         time.Time
}

// ShopifySelectedOption is a variant's value for one option.
type ShopifySelectedOption struct {
	Name, Value string
}

// ShopifyImage is a product image.
type ShopifyImage struct {
	ID      int64
	URL     string
	AltText string
}

// ShopifyLocationID is the numeric id of the fake shop's one location
// (gid://shopify/Location/<id>), where inventory quantities are set.
const ShopifyLocationID int64 = 80000000001

// shopifyShopID is the fake shop's numeric id.
const shopifyShopID int64 = 60000000001

// ShopifyGID is the GraphQL id of a resource: ShopifyGID("Product", 1) is
// gid://shopify/Product/1.
func ShopifyGID(kind string, id int64) string {
	return "gid://shopify/" + kind + "/" + strconv.FormatInt(id, 10)
}

// ShopifyNumericID is the numeric id of a GraphQL id of kind ("" for any
// kind), 0 when gid is not one.
func ShopifyNumericID(gid, kind string) int64 {
	rest, ok := strings.CutPrefix(gid, "gid://shopify/")
	if !ok {
		return 0
	}
	k, n, ok := strings.Cut(rest, "/")
	if !ok || (kind != "" && k != kind) {
		return 0
	}
	if i := strings.IndexByte(n, '?'); i >= 0 {
		n = n[:i]
	}
	id, err := strconv.ParseInt(n, 10, 64)
	if err != nil || id <= 0 {
		return 0
	}
	return id
}

var shopifyVersionRE = regexp.MustCompile(`/admin/api/([0-9]{4}-[0-9]{2}|unstable)(/|$)`)

// ShopifyAPIVersion is the Admin API version the catalog pins (read from
// the shopify entry's api.base_url): the one version the fake serves;
// every other version in a path answers 404.
func ShopifyAPIVersion() string {
	if e, ok := connector.NewCatalog().Entry("shopify"); ok {
		if m := shopifyVersionRE.FindStringSubmatch(e.API.BaseURL); m != nil {
			return m[1]
		}
	}
	return "2026-10"
}

// shopifyState is the Shopify fake's shop: its products, webhook
// subscriptions, cost bucket and counters. Guarded by Server.mu.
type shopifyState struct {
	version   string
	nextID    int64
	products  map[int64]*ShopifyProduct
	byHandle  map[string]int64
	hooks     []*shopifyHook
	bucket    costBucket
	throttled int
	calls     int
	apiHooks  bool // API writes send webhooks, as Shopify does
	// searchLag: how long the search index (products with a query) takes
	// to see a write; unindexed: what it sees meanwhile
	searchLag time.Duration
	unindexed map[int64]indexEntry
	// idempotent: answers of inventorySetQuantities by idempotency key
	idempotent map[string]gqlObject

	deliveries []ShopifyDelivery
	inflight   sync.WaitGroup
}

func newShopifyState() *shopifyState {
	return &shopifyState{version: ShopifyAPIVersion(), nextID: 8100000000000,
		products: map[int64]*ShopifyProduct{}, byHandle: map[string]int64{},
		bucket: costBucket{max: 2000, rate: 100}, apiHooks: true, idempotent: map[string]gqlObject{}, unindexed: map[int64]indexEntry{}}
}

func (st *shopifyState) id() int64 { st.nextID++; return st.nextID }

// costBucket is Shopify's leaky bucket of query cost for one app on one
// shop: it holds max points, refills rate points a second, and a query
// must find its requested cost available.
type costBucket struct {
	max, rate float64
	avail     float64
	at        time.Time
	started   bool
}

func (b *costBucket) level(now time.Time) float64 {
	if !b.started {
		b.avail, b.at, b.started = b.max, now, true
	}
	if now.After(b.at) {
		b.avail = min(b.max, b.avail+now.Sub(b.at).Seconds()*b.rate)
		b.at = now
	}
	return b.avail
}

func (b *costBucket) status(now time.Time) map[string]any {
	return map[string]any{"maximumAvailable": b.max, "currentlyAvailable": int(b.level(now)), "restoreRate": b.rate}
}

// --- products ---

func shopifyTime(t time.Time) time.Time { return t.UTC().Truncate(time.Second) }

var handleRE = regexp.MustCompile(`[^a-z0-9]+`)

func handleize(title string) string {
	h := strings.Trim(handleRE.ReplaceAllString(strings.ToLower(title), "-"), "-")
	if h == "" {
		h = "product"
	}
	return h
}

// uniqueHandle: Shopify makes a generated handle unique with -1, -2...
func (st *shopifyState) uniqueHandle(base string, self int64) string {
	h := base
	for i := 1; ; i++ {
		if id, ok := st.byHandle[h]; !ok || id == self {
			return h
		}
		h = fmt.Sprintf("%s-%d", base, i)
	}
}

// normalize fills what Shopify always has: ids, a handle, a status, the
// default variant and option of a product without options.
func (st *shopifyState) normalize(p *ShopifyProduct, now time.Time) {
	if p.ID == 0 {
		p.ID = st.id()
	}
	if p.Status == "" {
		p.Status = "ACTIVE"
	}
	p.Status = strings.ToUpper(p.Status)
	if p.Handle == "" {
		p.Handle = st.uniqueHandle(handleize(p.Title), p.ID)
	}
	if p.CreatedAt.IsZero() {
		p.CreatedAt = now
	}
	if p.UpdatedAt.IsZero() {
		p.UpdatedAt = now
	}
	p.CreatedAt, p.UpdatedAt = shopifyTime(p.CreatedAt), shopifyTime(p.UpdatedAt)
	if len(p.Options) == 0 {
		p.Options = []ShopifyOption{{Name: "Title", Values: []ShopifyOptionValue{{Name: "Default Title"}}}}
	}
	for i := range p.Options {
		o := &p.Options[i]
		if o.ID == 0 {
			o.ID = st.id()
		}
		for j := range o.Values {
			if o.Values[j].ID == 0 {
				o.Values[j].ID = st.id()
			}
		}
	}
	if len(p.Variants) == 0 {
		v := ShopifyVariant{Price: "0.00"}
		for _, o := range p.Options {
			v.SelectedOptions = append(v.SelectedOptions, ShopifySelectedOption{Name: o.Name, Value: o.Values[0].Name})
		}
		p.Variants = []ShopifyVariant{v}
	}
	for i := range p.Variants {
		v := &p.Variants[i]
		if v.ID == 0 {
			v.ID = st.id()
		}
		if v.InventoryItemID == 0 {
			v.InventoryItemID = st.id()
		}
		if v.Price == "" {
			v.Price = "0.00"
		}
		if v.CreatedAt.IsZero() {
			v.CreatedAt = p.UpdatedAt
		}
		if v.UpdatedAt.IsZero() {
			v.UpdatedAt = p.UpdatedAt
		}
		if len(v.SelectedOptions) == 0 {
			for _, o := range p.Options {
				v.SelectedOptions = append(v.SelectedOptions, ShopifySelectedOption{Name: o.Name, Value: o.Values[0].Name})
			}
		}
	}
	for i := range p.Images {
		if p.Images[i].ID == 0 {
			p.Images[i].ID = st.id()
		}
	}
}

func (st *shopifyState) put(p *ShopifyProduct, now time.Time) {
	old, had := st.products[p.ID]
	if had && old.Handle != p.Handle {
		delete(st.byHandle, old.Handle)
	}
	if st.searchLag > 0 {
		// The search index keeps what it had until the lag has passed
		// since the latest write.
		e, pending := st.unindexed[p.ID]
		if !pending || !now.Before(e.readyAt) {
			e.prev = nil
			if had {
				c := cloneProduct(old)
				e.prev = &c
			}
		}
		e.readyAt = now.Add(st.searchLag)
		st.unindexed[p.ID] = e
	}
	st.products[p.ID] = p
	st.byHandle[p.Handle] = p.ID
}

// indexEntry is a product the search index has not caught up with: prev
// is what it still sees (nil: nothing) until readyAt.
type indexEntry struct {
	prev    *ShopifyProduct
	readyAt time.Time
}

// searchView is a product as product search sees it at now (false: not
// found by search yet).
func (st *shopifyState) searchView(p *ShopifyProduct, now time.Time) (*ShopifyProduct, bool) {
	e, ok := st.unindexed[p.ID]
	if !ok {
		return p, true
	}
	if !now.Before(e.readyAt) {
		delete(st.unindexed, p.ID)
		return p, true
	}
	return e.prev, e.prev != nil
}

func (st *shopifyState) remove(id int64) bool {
	delete(st.unindexed, id)
	p, ok := st.products[id]
	if !ok {
		return false
	}
	delete(st.products, id)
	delete(st.byHandle, p.Handle)
	return true
}

func (st *shopifyState) variant(id int64) (*ShopifyProduct, *ShopifyVariant) {
	for _, p := range st.products {
		for i := range p.Variants {
			if p.Variants[i].ID == id {
				return p, &p.Variants[i]
			}
		}
	}
	return nil, nil
}

func (st *shopifyState) inventoryItem(id int64) (*ShopifyProduct, *ShopifyVariant) {
	for _, p := range st.products {
		for i := range p.Variants {
			if p.Variants[i].InventoryItemID == id {
				return p, &p.Variants[i]
			}
		}
	}
	return nil, nil
}

func cloneProduct(p *ShopifyProduct) ShopifyProduct {
	c := *p
	c.Tags = slices.Clone(p.Tags)
	c.Options = make([]ShopifyOption, len(p.Options))
	for i, o := range p.Options {
		o.Values = slices.Clone(o.Values)
		c.Options[i] = o
	}
	c.Variants = make([]ShopifyVariant, len(p.Variants))
	for i, v := range p.Variants {
		v.SelectedOptions = slices.Clone(v.SelectedOptions)
		c.Variants[i] = v
	}
	c.Images = slices.Clone(p.Images)
	return c
}

func variantTitle(v *ShopifyVariant) string {
	parts := make([]string, 0, len(v.SelectedOptions))
	for _, so := range v.SelectedOptions {
		parts = append(parts, so.Value)
	}
	return strings.Join(parts, " / ")
}

// --- pagination ---

// pageKey orders a list: by value (compared as strings, fixed width where
// it matters), then id. Cursors carry the last key of a page, so a page
// after it is stable however the list changed meanwhile.
type pageKey struct {
	ID    int64  `json:"last_id"`
	Value string `json:"last_value"`
}

func (k pageKey) less(o pageKey) bool {
	if k.Value != o.Value {
		return k.Value < o.Value
	}
	return k.ID < o.ID
}

func encodeCursor(k pageKey) string {
	b, _ := json.Marshal(k)
	return base64.StdEncoding.EncodeToString(b)
}

func decodeCursor(c string) (pageKey, bool) {
	var k pageKey
	b, err := base64.StdEncoding.DecodeString(c)
	if err != nil || json.Unmarshal(b, &k) != nil || k.ID == 0 {
		return pageKey{}, false
	}
	return k, true
}

// page is one page of a connection.
type page struct {
	typ              string // the connection type, e.g. ProductConnection
	items            []gqlObject
	keys             []pageKey
	hasNext, hasPrev bool
}

// paginate cuts a sorted list as Relay connections do: after/before
// (exclusive) then first or last. reverse flips the order.
func paginate(typ string, items []gqlObject, keys []pageKey, args map[string]any) (*page, error) {
	idx := make([]int, len(items))
	for i := range idx {
		idx[i] = i
	}
	reverse, _ := args["reverse"].(bool)
	sort.SliceStable(idx, func(a, b int) bool {
		if reverse {
			return keys[idx[b]].less(keys[idx[a]])
		}
		return keys[idx[a]].less(keys[idx[b]])
	})
	before := func(a, b pageKey) bool { // a comes before b in this order
		if reverse {
			return b.less(a)
		}
		return a.less(b)
	}
	lo, hi := 0, len(idx)
	if s, _ := args["after"].(string); s != "" {
		k, ok := decodeCursor(s)
		if !ok {
			return nil, gqlMessage("Invalid cursor for current pagination sort.")
		}
		for lo < hi && !before(k, keys[idx[lo]]) {
			lo++
		}
	}
	if s, _ := args["before"].(string); s != "" {
		k, ok := decodeCursor(s)
		if !ok {
			return nil, gqlMessage("Invalid cursor for current pagination sort.")
		}
		for hi > lo && !before(keys[idx[hi-1]], k) {
			hi--
		}
	}
	p := &page{typ: typ}
	start, end := lo, hi
	if v, ok := args["first"]; ok && v != nil {
		end = min(end, start+toInt(v))
	} else if v, ok := args["last"]; ok && v != nil {
		start = max(start, end-toInt(v))
	}
	p.hasPrev, p.hasNext = start > 0, end < len(idx)
	for _, i := range idx[start:end] {
		p.items = append(p.items, items[i])
		p.keys = append(p.keys, keys[i])
	}
	return p, nil
}

func (p *page) gqlType() string { return p.typ }

func (p *page) gqlField(name string, _ map[string]any) (any, error) {
	switch name {
	case "nodes":
		return nodeList(p.items), nil
	case "edges":
		out := make(nodeList, len(p.items))
		for i := range p.items {
			out[i] = &edge{typ: strings.TrimSuffix(p.typ, "Connection") + "Edge", node: p.items[i], cursor: encodeCursor(p.keys[i])}
		}
		return out, nil
	case "pageInfo":
		pi := &fields{typ: "PageInfo", v: map[string]any{"hasNextPage": p.hasNext, "hasPreviousPage": p.hasPrev, "startCursor": nil, "endCursor": nil}}
		if len(p.keys) > 0 {
			pi.v["startCursor"] = encodeCursor(p.keys[0])
			pi.v["endCursor"] = encodeCursor(p.keys[len(p.keys)-1])
		}
		return pi, nil
	}
	return nil, nil
}

type edge struct {
	typ    string
	node   gqlObject
	cursor string
}

func (e *edge) gqlType() string { return e.typ }

func (e *edge) gqlField(name string, _ map[string]any) (any, error) {
	switch name {
	case "node":
		return e.node, nil
	case "cursor":
		return e.cursor, nil
	}
	return nil, nil
}

// fields is an object whose fields are plain values.
type fields struct {
	typ string
	v   map[string]any
}

func (f *fields) gqlType() string                                  { return f.typ }
func (f *fields) gqlField(n string, _ map[string]any) (any, error) { return f.v[n], nil }

// positional keys a list kept in its own order (variants, images).
func positional(ids []int64) []pageKey {
	keys := make([]pageKey, len(ids))
	for i, id := range ids {
		keys[i] = pageKey{ID: id, Value: fmt.Sprintf("%08d", i)}
	}
	return keys
}
