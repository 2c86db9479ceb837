package shopify

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/integration"
)

// Of each product a listing reads this many variants and images at
// first: most products have fewer, and a page's cost, so the number of
// products a page can hold, grows with both. A product with more is read
// further on its own (moreOf).
const (
	variantsPage = 10
	imagesPage   = 5
	// estimatedItemCost is a listed product's requested cost before a
	// store's first answer says: the product, its options, its variants
	// (each with its selected options) and its images.
	estimatedItemCost = 1 + 1 + (connectionCost + variantsPage*2) + (connectionCost + imagesPage)
)

// overlap is how far before the cursor an incremental listing starts:
// Shopify's search compares whole seconds and indexes a change a moment
// after it is made, so items changed around the cursor are read again
// (unchanged ones cost no write) rather than missed.
const overlap = time.Minute

// productFields are the fields of a product Joinery reads.
const (
	variantFields = `id sku title price compareAtPrice inventoryQuantity selectedOptions { name value }`
	imageFields   = `id url altText`
)

var productFields = fmt.Sprintf(`id handle title descriptionHtml vendor productType status tags createdAt updatedAt onlineStoreUrl
options { id name values }
variants(first: %d) { nodes { %s } pageInfo { hasNextPage endCursor } }
images(first: %d) { nodes { %s } pageInfo { hasNextPage endCursor } }`, variantsPage, variantFields, imagesPage, imageFields)

// The rest of a product's variants or images, a page at a time.
const (
	moreVariants     = 100
	moreImages       = 50
	moreVariantsCost = 1 + connectionCost + moreVariants*2
	moreImagesCost   = 1 + connectionCost + moreImages
)

var (
	moreVariantsQuery = fmt.Sprintf(`query MoreVariants($id: ID!, $after: String) { product(id: $id) { variants(first: %d, after: $after) { nodes { %s } pageInfo { hasNextPage endCursor } } } }`, moreVariants, variantFields)
	moreImagesQuery   = fmt.Sprintf(`query MoreImages($id: ID!, $after: String) { product(id: $id) { images(first: %d, after: $after) { nodes { %s } pageInfo { hasNextPage endCursor } } } }`, moreImages, imageFields)
)

// pageInfo is a connection's paging.
type pageInfo struct {
	HasNextPage bool   `json:"hasNextPage"`
	EndCursor   string `json:"endCursor"`
}

type gqlImage struct {
	ID      string  `json:"id"`
	URL     string  `json:"url"`
	AltText *string `json:"altText"`
}

// moreOf reads the variants and images of p beyond its first page.
func (c *Connector) moreOf(ctx context.Context, conn connector.Connection, p *gqlProduct) error {
	for p.Variants.PageInfo.HasNextPage && p.Variants.PageInfo.EndCursor != "" {
		res, err := c.call(ctx, conn, moreVariantsQuery, map[string]any{"id": p.ID, "after": p.Variants.PageInfo.EndCursor}, moreVariantsCost)
		if err != nil {
			return err
		}
		var d struct {
			Product *struct {
				Variants struct {
					Nodes    []gqlVariant `json:"nodes"`
					PageInfo pageInfo     `json:"pageInfo"`
				} `json:"variants"`
			} `json:"product"`
		}
		if err := json.Unmarshal(res.data, &d); err != nil || d.Product == nil {
			return &connector.Error{Kind: connector.ErrUnavailable, Message: "Shopify answered with variants Joinery could not read.", Err: err}
		}
		p.Variants.Nodes = append(p.Variants.Nodes, d.Product.Variants.Nodes...)
		p.Variants.PageInfo = d.Product.Variants.PageInfo
	}
	for p.Images.PageInfo.HasNextPage && p.Images.PageInfo.EndCursor != "" {
		res, err := c.call(ctx, conn, moreImagesQuery, map[string]any{"id": p.ID, "after": p.Images.PageInfo.EndCursor}, moreImagesCost)
		if err != nil {
			return err
		}
		var d struct {
			Product *struct {
				Images struct {
					Nodes    []gqlImage `json:"nodes"`
					PageInfo pageInfo   `json:"pageInfo"`
				} `json:"images"`
			} `json:"product"`
		}
		if err := json.Unmarshal(res.data, &d); err != nil || d.Product == nil {
			return &connector.Error{Kind: connector.ErrUnavailable, Message: "Shopify answered with images Joinery could not read.", Err: err}
		}
		p.Images.Nodes = append(p.Images.Nodes, d.Product.Images.Nodes...)
		p.Images.PageInfo = d.Product.Images.PageInfo
	}
	return nil
}

var productsQuery = `query Products($first: Int!, $after: String, $query: String) {
products(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {
nodes { ` + productFields + ` }
pageInfo { hasNextPage endCursor } } }`

var productQuery = `query Product($id: ID!) { product(id: $id) { ` + productFields + ` } }`

// gqlProduct is a product as the API gives it.
type gqlProduct struct {
	ID              string    `json:"id"`
	Handle          string    `json:"handle"`
	Title           string    `json:"title"`
	DescriptionHTML string    `json:"descriptionHtml"`
	Vendor          string    `json:"vendor"`
	ProductType     string    `json:"productType"`
	Status          string    `json:"status"`
	Tags            []string  `json:"tags"`
	CreatedAt       time.Time `json:"createdAt"`
	UpdatedAt       time.Time `json:"updatedAt"`
	OnlineStoreURL  *string   `json:"onlineStoreUrl"`
	Options         []struct {
		ID     string   `json:"id"`
		Name   string   `json:"name"`
		Values []string `json:"values"`
	} `json:"options"`
	Variants struct {
		Nodes    []gqlVariant `json:"nodes"`
		PageInfo pageInfo     `json:"pageInfo"`
	} `json:"variants"`
	Images struct {
		Nodes    []gqlImage `json:"nodes"`
		PageInfo pageInfo   `json:"pageInfo"`
	} `json:"images"`
}

type gqlVariant struct {
	ID                string  `json:"id"`
	SKU               *string `json:"sku"`
	Title             string  `json:"title"`
	Price             *string `json:"price"`
	CompareAtPrice    *string `json:"compareAtPrice"`
	InventoryQuantity *int    `json:"inventoryQuantity"`
	SelectedOptions   []struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	} `json:"selectedOptions"`
	InventoryItem *struct {
		ID string `json:"id"`
	} `json:"inventoryItem"`
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// record maps a product to Joinery's unified product.
func (p gqlProduct) record() integration.Record {
	f := &integration.Product{Title: p.Title, BodyHTML: p.DescriptionHTML, Vendor: p.Vendor, ProductType: p.ProductType,
		Status: strings.ToLower(p.Status), Handle: p.Handle}
	if len(p.Tags) > 0 {
		f.Tags = p.Tags
	}
	for _, o := range p.Options {
		f.Options = append(f.Options, integration.ProductOption{ExternalID: o.ID, Name: o.Name, Values: o.Values})
	}
	for _, v := range p.Variants.Nodes {
		iv := integration.Variant{ExternalID: v.ID, SKU: str(v.SKU), Title: v.Title, Price: str(v.Price),
			CompareAtPrice: str(v.CompareAtPrice), InventoryQuantity: v.InventoryQuantity}
		for _, so := range v.SelectedOptions {
			iv.OptionValues = append(iv.OptionValues, integration.OptionValue{Name: so.Name, Value: so.Value})
		}
		f.Variants = append(f.Variants, iv)
	}
	for _, im := range p.Images.Nodes {
		f.Images = append(f.Images, integration.ProductImage{ExternalID: im.ID, URL: im.URL, Alt: str(im.AltText)})
	}
	return integration.Record{ExternalID: p.ID, Model: integration.ModelProduct, RawRef: p.Handle, URL: str(p.OnlineStoreURL),
		CreatedAt: p.CreatedAt.UTC(), ModifiedAt: p.UpdatedAt.UTC(), Fields: f}
}

func checkModel(model string) error {
	if model != integration.ModelProduct {
		return &connector.Error{Kind: connector.ErrInvalid, Message: fmt.Sprintf("Shopify has no model %q; it syncs product.", model)}
	}
	return nil
}

// ProductGID is the GraphQL id of a product id: a GID as it is, a REST
// id (a webhook's numeric id) as gid://shopify/Product/N; "" when it is
// neither.
func ProductGID(id string) string {
	if strings.HasPrefix(id, "gid://shopify/Product/") {
		return id
	}
	if n, err := strconv.ParseUint(id, 10, 64); err == nil && n > 0 {
		return "gid://shopify/Product/" + id
	}
	return ""
}

// List reads a page of products, newest change last (sortKey UPDATED_AT),
// by cursor; with ModifiedAfter, only those updated since (less overlap).
func (c *Connector) List(ctx context.Context, conn connector.Connection, req connector.ListRequest) (connector.ListPage, error) {
	if err := checkModel(req.Model); err != nil {
		return connector.ListPage{}, err
	}
	lim := c.limitsOf(conn)
	first := lim.pageSize(req.PageSize)
	vars := map[string]any{"first": first}
	if req.Page != "" {
		vars["after"] = req.Page
	}
	if !req.ModifiedAfter.IsZero() {
		vars["query"] = fmt.Sprintf("updated_at:>='%s'", req.ModifiedAfter.Add(-overlap).UTC().Format(time.RFC3339))
	}
	res, err := c.call(ctx, conn, productsQuery, vars, lim.pageCost(first))
	if err != nil {
		return connector.ListPage{}, err
	}
	if res.cost != nil {
		lim.learnItemCost(res.cost.RequestedQueryCost, first)
	}
	var d struct {
		Products *struct {
			Nodes    []gqlProduct `json:"nodes"`
			PageInfo struct {
				HasNextPage bool   `json:"hasNextPage"`
				EndCursor   string `json:"endCursor"`
			} `json:"pageInfo"`
		} `json:"products"`
	}
	if err := json.Unmarshal(res.data, &d); err != nil || d.Products == nil {
		return connector.ListPage{}, &connector.Error{Kind: connector.ErrUnavailable, Message: "Shopify answered the product listing with data Joinery could not read.", Err: err}
	}
	page := connector.ListPage{Total: -1, TotalPages: -1, ServerTime: res.serverTime}
	for _, p := range d.Products.Nodes {
		if err := c.moreOf(ctx, conn, &p); err != nil {
			return connector.ListPage{}, err
		}
		r := p.record()
		page.Records = append(page.Records, r)
		if r.ModifiedAt.After(page.MaxModified) {
			page.MaxModified = r.ModifiedAt
		}
	}
	if d.Products.PageInfo.HasNextPage && d.Products.PageInfo.EndCursor != "" {
		page.NextPage = d.Products.PageInfo.EndCursor
	}
	return page, nil
}

// Get reads one product as it is now; ErrNotFound when it is gone.
func (c *Connector) Get(ctx context.Context, conn connector.Connection, model, externalID string) (integration.Record, error) {
	if err := checkModel(model); err != nil {
		return integration.Record{}, err
	}
	gid := ProductGID(externalID)
	if gid == "" {
		return integration.Record{}, &connector.Error{Kind: connector.ErrNotFound, Message: fmt.Sprintf("%q is not a Shopify product id.", clip(externalID))}
	}
	res, err := c.call(ctx, conn, productQuery, map[string]any{"id": gid}, 1+estimatedItemCost)
	if err != nil {
		return integration.Record{}, err
	}
	var d struct {
		Product *gqlProduct `json:"product"`
	}
	if err := json.Unmarshal(res.data, &d); err != nil {
		return integration.Record{}, &connector.Error{Kind: connector.ErrUnavailable, Message: "Shopify answered with a product Joinery could not read.", Err: err}
	}
	if d.Product == nil {
		return integration.Record{}, &connector.Error{Kind: connector.ErrNotFound, Message: "The product " + gid + " does not exist on the store (deleted)."}
	}
	if err := c.moreOf(ctx, conn, d.Product); err != nil {
		return integration.Record{}, err
	}
	return d.Product.record(), nil
}
