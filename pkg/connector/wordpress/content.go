package wordpress

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/integration"
)

// The models this connector syncs, in sync order: terms before the posts
// that reference them.
var models = []string{"category", "tag", "post", "page", "media"}

// Models lists the models in sync order.
func (c *Connector) Models() []string { return models }

type modelInfo struct {
	route    string
	statuses string // "" for models without statuses
	modified bool   // whether the endpoint filters by modification time
	terms    bool   // a taxonomy's terms rather than posts
	// offsetless: WordPress ignores the offset parameter here (it registers
	// it only for non-hierarchical taxonomies), so windows are cut out of
	// numbered pages.
	offsetless bool
}

var modelInfos = map[string]modelInfo{
	// status=any leaves out the trash; list every status by name.
	"post":     {route: "/wp/v2/posts", statuses: "publish,future,draft,pending,private,trash", modified: true},
	"page":     {route: "/wp/v2/pages", statuses: "publish,future,draft,pending,private,trash", modified: true},
	"media":    {route: "/wp/v2/media", statuses: "inherit,private,trash", modified: true},
	"category": {route: "/wp/v2/categories", terms: true, offsetless: true},
	"tag":      {route: "/wp/v2/tags", terms: true},
}

// Overlap is subtracted from an incremental cursor: WordPress keeps
// modification times to the second and modified_after is strictly after, so
// an item changed in the cursor's own second would otherwise be missed.
// Items in the overlap come again; callers dedupe by id and modified time.
const Overlap = 2 * time.Second

// text is a WordPress text field: {"raw", "rendered"} with context=edit, a
// plain string in some plugins' answers.
type text struct{ Raw, Rendered string }

func (t *text) UnmarshalJSON(b []byte) error {
	// Told apart by their first byte, so a large body is decoded once.
	if b = bytes.TrimLeft(b, " \t\r\n"); len(b) > 0 && b[0] == '"' {
		var s string
		if json.Unmarshal(b, &s) == nil {
			t.Raw, t.Rendered = s, s
		}
		return nil
	}
	var o struct {
		Raw      *string `json:"raw"`
		Rendered string  `json:"rendered"`
	}
	if err := json.Unmarshal(b, &o); err != nil {
		return nil // tolerate other shapes: plugins add odd fields
	}
	t.Rendered = o.Rendered
	if o.Raw != nil {
		t.Raw = *o.Raw
	} else {
		t.Raw = o.Rendered
	}
	return nil
}

type wpPost struct {
	ID            int    `json:"id"`
	DateGMT       string `json:"date_gmt"`
	ModifiedGMT   string `json:"modified_gmt"`
	Slug          string `json:"slug"`
	Status        string `json:"status"`
	Link          string `json:"link"`
	SourceURL     string `json:"source_url"`
	AltText       string `json:"alt_text"`
	Title         text   `json:"title"`
	Content       text   `json:"content"`
	Excerpt       text   `json:"excerpt"`
	Author        int    `json:"author"`
	FeaturedMedia int    `json:"featured_media"`
	Categories    []int  `json:"categories"`
	Tags          []int  `json:"tags"`
	Parent        int    `json:"parent"`
	MenuOrder     *int   `json:"menu_order"`
}

// gmt parses WordPress's *_gmt fields, which carry no zone: they are UTC.
func gmt(s string) time.Time {
	t, err := time.ParseInLocation("2006-01-02T15:04:05", s, time.UTC)
	if err != nil {
		return time.Time{}
	}
	return t
}

func ids(list []int) []integration.Term {
	out := make([]integration.Term, 0, len(list))
	for _, id := range list {
		out = append(out, integration.Term{ExternalID: strconv.Itoa(id)})
	}
	return out
}

// tag is an HTML tag (or comment) as text can hold one: "<" then a
// letter, "/" or "!". A lone "<" ("<3", "a < b") is text.
var tag = regexp.MustCompile(`<[A-Za-z/!][^>]*>`)

// plainText turns a WordPress title or term name into plain text: its
// tags dropped and its entities decoded. WordPress keeps both in titles:
// kses stores "&" as "&amp;" for users without unfiltered_html, and
// answers without raw fields are rendered ("Don&#8217;t").
func plainText(s string) string {
	if !strings.ContainsAny(s, "<&") {
		return s
	}
	return html.UnescapeString(tag.ReplaceAllString(s, ""))
}

func (p wpPost) record(model string) integration.Record {
	r := integration.Record{
		ExternalID: strconv.Itoa(p.ID), Model: model, Title: plainText(p.Title.Raw), BodyHTML: p.Content.Raw, Excerpt: p.Excerpt.Raw,
		Slug: p.Slug, Status: p.Status, URL: p.Link, CreatedAt: gmt(p.DateGMT), ModifiedAt: gmt(p.ModifiedGMT),
		Categories: ids(p.Categories), Tags: ids(p.Tags), Deleted: p.Status == "trash",
	}
	if model == "page" {
		if p.Parent > 0 {
			r.Parent = strconv.Itoa(p.Parent)
		}
		order := 0
		if p.MenuOrder != nil {
			order = *p.MenuOrder
		}
		r.MenuOrder = &order
	}
	if p.Author != 0 {
		r.Author = &integration.Person{ExternalID: strconv.Itoa(p.Author)}
	}
	if p.FeaturedMedia != 0 {
		r.FeaturedImage = &integration.Image{ExternalID: strconv.Itoa(p.FeaturedMedia)}
	}
	if model == "media" {
		r.URL = p.SourceURL
		r.FeaturedImage = &integration.Image{ExternalID: r.ExternalID, URL: p.SourceURL, Alt: p.AltText}
	}
	return r
}

// parsePosts reads a list of posts, pages or media. It never panics.
//
// An item that can't be read is reported as failed, with its id, and the
// rest of the page is kept; an item without a readable id fails the page,
// as nothing could tell later which item it was.
func parsePosts(b []byte, model string) ([]integration.Record, []connector.ItemFailure, error) {
	var list []json.RawMessage
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, nil, err
	}
	return parseItems(list, postParser(model))
}

func postParser(model string) func(json.RawMessage) (integration.Record, error) {
	return func(raw json.RawMessage) (integration.Record, error) {
		var p wpPost
		if err := json.Unmarshal(raw, &p); err != nil {
			return integration.Record{}, err
		}
		return p.record(model), nil
	}
}

// parseModel reads the items of a listing of model.
func parseModel(list []json.RawMessage, model string) ([]integration.Record, []connector.ItemFailure, error) {
	if modelInfos[model].terms {
		return parseItems(list, termParser(model))
	}
	return parseItems(list, postParser(model))
}

// itemID reads an item's id; an item without one is unusable.
func itemID(raw json.RawMessage) (int, error) {
	var head struct {
		ID int `json:"id"`
	}
	if err := json.Unmarshal(raw, &head); err != nil || head.ID <= 0 {
		return 0, errors.New("an item without an id")
	}
	return head.ID, nil
}

// parseItems reads a list item by item. Each item is decoded once when it
// reads well (items can be megabytes); only one that does not is read
// again, for its id alone.
func parseItems(list []json.RawMessage, parse func(json.RawMessage) (integration.Record, error)) ([]integration.Record, []connector.ItemFailure, error) {
	out := make([]integration.Record, 0, len(list))
	var failed []connector.ItemFailure
	for _, raw := range list {
		r, err := parse(raw)
		if err == nil {
			if n, _ := strconv.Atoi(r.ExternalID); n <= 0 {
				return nil, nil, errors.New("an item without an id")
			}
			out = append(out, r)
			continue
		}
		id, idErr := itemID(raw)
		if idErr != nil {
			return nil, nil, idErr
		}
		failed = append(failed, connector.ItemFailure{ExternalID: strconv.Itoa(id), Message: "WordPress answered this item in a shape Joinery could not read: " + err.Error()})
	}
	return out, failed, nil
}

type wpTerm struct {
	ID     int    `json:"id"`
	Name   string `json:"name"`
	Slug   string `json:"slug"`
	Link   string `json:"link"`
	Parent int    `json:"parent"`
}

// record maps a category or tag. Term names come HTML-escaped.
func (t wpTerm) record(model string) integration.Record {
	r := integration.Record{ExternalID: strconv.Itoa(t.ID), Model: model, Title: plainText(t.Name), Slug: t.Slug, URL: t.Link}
	if t.Parent > 0 {
		r.Parent = strconv.Itoa(t.Parent)
	}
	return r
}

func termParser(model string) func(json.RawMessage) (integration.Record, error) {
	return func(raw json.RawMessage) (integration.Record, error) {
		var t wpTerm
		if err := json.Unmarshal(raw, &t); err != nil {
			return integration.Record{}, err
		}
		return t.record(model), nil
	}
}

func postRoute(model string) (string, error) {
	if model != "post" && model != "page" {
		return "", &connector.Error{Kind: connector.ErrInvalid, Message: fmt.Sprintf("Joinery writes posts and pages to WordPress, not %q.", model)}
	}
	return modelInfos[model].route, nil
}

func termIDs(terms []integration.Term) ([]int, error) {
	out := []int{}
	for _, t := range terms {
		id, err := strconv.Atoi(t.ExternalID)
		if err != nil {
			return nil, &connector.Error{Kind: connector.ErrInvalid, Message: fmt.Sprintf("term %q has no WordPress id; map terms to ids first (EnsureTerm)", t.Name)}
		}
		out = append(out, id)
	}
	return out, nil
}

// send writes a post or page and returns it as WordPress stored it.
func (c *Connector) send(ctx context.Context, conn connector.Connection, route string, r integration.Record) (integration.Record, error) {
	body := map[string]any{"title": r.Title, "content": r.BodyHTML, "excerpt": r.Excerpt}
	if r.Slug != "" {
		body["slug"] = r.Slug
	}
	if r.Status != "" {
		body["status"] = r.Status
	}
	var err error
	if r.Model == "post" {
		if body["categories"], err = termIDs(r.Categories); err != nil {
			return integration.Record{}, err
		}
		if body["tags"], err = termIDs(r.Tags); err != nil {
			return integration.Record{}, err
		}
	}
	if img := r.FeaturedImage; img != nil {
		if img.ExternalID == "" && img.URL != "" {
			if img.ExternalID, err = c.uploadImage(ctx, conn, img.URL, img.Alt); err != nil {
				return integration.Record{}, err
			}
		}
		if body["featured_media"], err = strconv.Atoi(img.ExternalID); err != nil {
			return integration.Record{}, &connector.Error{Kind: connector.ErrInvalid, Message: "featured image has no WordPress id"}
		}
	}
	b, _ := json.Marshal(body)
	resp, rb, err := c.call(ctx, conn, http.MethodPost, route, url.Values{"context": {"edit"}}, &payload{data: b, contentType: "application/json"})
	if err != nil {
		return integration.Record{}, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return integration.Record{}, statusError(resp, rb)
	}
	var p wpPost
	if err := json.Unmarshal(rb, &p); err != nil || p.ID == 0 {
		return integration.Record{}, &connector.Error{Kind: connector.ErrUnavailable, Message: "WordPress answered JSON that Joinery could not read."}
	}
	return p.record(r.Model), nil
}

// Create creates a post or page.
func (c *Connector) Create(ctx context.Context, conn connector.Connection, r integration.Record) (integration.Record, error) {
	route, err := postRoute(r.Model)
	if err != nil {
		return integration.Record{}, err
	}
	return c.send(ctx, conn, route, r)
}

// Update changes a post or page.
func (c *Connector) Update(ctx context.Context, conn connector.Connection, r integration.Record) (integration.Record, error) {
	route, err := postRoute(r.Model)
	if err != nil {
		return integration.Record{}, err
	}
	if _, err := strconv.Atoi(r.ExternalID); err != nil {
		return integration.Record{}, &connector.Error{Kind: connector.ErrInvalid, Message: "no WordPress id to update"}
	}
	return c.send(ctx, conn, route+"/"+r.ExternalID, r)
}

// Delete trashes a post or page, or removes it for good with force.
func (c *Connector) Delete(ctx context.Context, conn connector.Connection, model, externalID string, force bool) error {
	route, err := postRoute(model)
	if err != nil {
		return err
	}
	if _, err := strconv.Atoi(externalID); err != nil {
		return &connector.Error{Kind: connector.ErrInvalid, Message: "no WordPress id to delete"}
	}
	resp, body, err := c.call(ctx, conn, http.MethodDelete, route+"/"+externalID, url.Values{"force": {strconv.FormatBool(force)}}, nil)
	if err != nil {
		return err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return statusError(resp, body)
	}
	return nil
}

// Get reads one item of any model, in any status: a post in the trash is
// read (context=edit) and comes back Deleted. ErrNotFound means WordPress
// says the item does not exist; a missing REST route or a web server's
// own 404 page says nothing about the item and is not ErrNotFound.
func (c *Connector) Get(ctx context.Context, conn connector.Connection, model, externalID string) (integration.Record, error) {
	info, ok := modelInfos[model]
	if !ok {
		return integration.Record{}, &connector.Error{Kind: connector.ErrInvalid, Message: fmt.Sprintf("WordPress has no model %q.", model)}
	}
	if n, err := strconv.Atoi(externalID); err != nil || n <= 0 {
		return integration.Record{}, &connector.Error{Kind: connector.ErrNotFound, Message: fmt.Sprintf("WordPress has no %s %q: its ids are numbers.", model, externalID)}
	}
	resp, body, err := c.call(ctx, conn, http.MethodGet, info.route+"/"+externalID, url.Values{"context": {"edit"}, "_fields": {fieldsOf(info)}}, nil)
	if err != nil {
		return integration.Record{}, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return integration.Record{}, itemError(resp, body)
	}
	if !isJSON(resp, body) {
		return integration.Record{}, &connector.Error{Kind: connector.ErrUnavailable, Status: resp.StatusCode, Message: htmlInsteadOfJSON}
	}
	parse := postParser(model)
	if info.terms {
		parse = termParser(model)
	}
	r, err := parse(body)
	if n, _ := strconv.Atoi(r.ExternalID); err == nil && n <= 0 {
		err = errors.New("an item without an id")
	}
	if err != nil {
		return integration.Record{}, &connector.Error{Kind: connector.ErrUnavailable, Status: resp.StatusCode, Message: "WordPress answered JSON that Joinery could not read.", Err: err}
	}
	return r, nil
}

// goneCodes are WordPress's answers for an item that does not exist.
var goneCodes = map[string]bool{"rest_post_invalid_id": true, "rest_term_invalid": true}

// itemError is statusError for one item's route: only WordPress's own
// "no such item" is ErrNotFound.
func itemError(resp *http.Response, body []byte) error {
	err := statusError(resp, body)
	ce := err.(*connector.Error)
	if ce.Kind == connector.ErrNotFound && !goneCodes[ce.Code] {
		ce.Kind = connector.ErrUnavailable
	}
	if resp.StatusCode == http.StatusGone {
		ce.Kind = connector.ErrNotFound
	}
	return ce
}

var unsafeFilename = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// uploadImage fetches an image through the connection's (SSRF-safe)
// client and uploads it to the media library.
func (c *Connector) uploadImage(ctx context.Context, conn connector.Connection, src, alt string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
	if err != nil {
		return "", &connector.Error{Kind: connector.ErrInvalid, Message: "The featured image URL is not valid."}
	}
	resp, err := conn.HTTP.Do(req)
	if err != nil {
		e := transportError(err).(*connector.Error)
		e.Message = "Featured image: " + e.Message
		return "", e
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(mt, "image/") {
		resp.Body.Close()
		return "", &connector.Error{Kind: connector.ErrInvalid, Message: fmt.Sprintf("The featured image URL answered HTTP %d with %q, not an image.", resp.StatusCode, mt)}
	}
	data, err := io.ReadAll(resp.Body)
	// Closed before the upload below: an open body holds one of the
	// integration's request slots, and the upload needs another.
	resp.Body.Close()
	if err != nil {
		return "", transportError(err)
	}
	u, _ := url.Parse(src)
	name := unsafeFilename.ReplaceAllString(path.Base(u.Path), "-")
	if name == "" || name == "." || name == "-" || name == "/" {
		name = "image"
	}
	if exts, _ := mime.ExtensionsByType(mt); len(exts) > 0 && path.Ext(name) == "" {
		name += exts[0]
	}
	r, body, err := c.call(ctx, conn, http.MethodPost, "/wp/v2/media", nil, &payload{data: data, contentType: mt, filename: name})
	if err != nil {
		return "", err
	}
	if r.StatusCode < 200 || r.StatusCode > 299 {
		return "", statusError(r, body)
	}
	var m wpPost
	if err := json.Unmarshal(body, &m); err != nil || m.ID == 0 {
		return "", &connector.Error{Kind: connector.ErrUnavailable, Message: "WordPress did not say which media item it created."}
	}
	id := strconv.Itoa(m.ID)
	if alt != "" {
		b, _ := json.Marshal(map[string]string{"alt_text": alt})
		r, body, err := c.call(ctx, conn, http.MethodPost, "/wp/v2/media/"+id, nil, &payload{data: b, contentType: "application/json"})
		if err != nil {
			return "", err
		}
		if r.StatusCode < 200 || r.StatusCode > 299 {
			return "", statusError(r, body)
		}
	}
	return id, nil
}

// EnsureTerm finds a category or tag by exact name (case-insensitive), or
// creates it, and returns it with its WordPress id.
func (c *Connector) EnsureTerm(ctx context.Context, conn connector.Connection, model, name string) (integration.Term, error) {
	route := map[string]string{"category": "/wp/v2/categories", "tag": "/wp/v2/tags"}[model]
	if route == "" {
		return integration.Term{}, &connector.Error{Kind: connector.ErrInvalid, Message: fmt.Sprintf("no taxonomy %q", model)}
	}
	var found []wpTerm
	if err := c.getJSON(ctx, conn, route, url.Values{"search": {name}, "per_page": {"100"}, "context": {"edit"}}, &found); err != nil {
		return integration.Term{}, err
	}
	for _, t := range found {
		if strings.EqualFold(plainText(t.Name), name) {
			return integration.Term{ExternalID: strconv.Itoa(t.ID), Name: plainText(t.Name), Slug: t.Slug}, nil
		}
	}
	b, _ := json.Marshal(map[string]string{"name": name})
	resp, body, err := c.call(ctx, conn, http.MethodPost, route, nil, &payload{data: b, contentType: "application/json"})
	if err != nil {
		return integration.Term{}, err
	}
	if resp.StatusCode == http.StatusBadRequest {
		// Created meanwhile by someone else: WordPress says which.
		var e struct {
			Code string `json:"code"`
			Data struct {
				TermID int `json:"term_id"`
			} `json:"data"`
		}
		if json.Unmarshal(body, &e) == nil && e.Code == "term_exists" && e.Data.TermID > 0 {
			return integration.Term{ExternalID: strconv.Itoa(e.Data.TermID), Name: name}, nil
		}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return integration.Term{}, statusError(resp, body)
	}
	var t wpTerm
	if err := json.Unmarshal(body, &t); err != nil || t.ID == 0 {
		return integration.Term{}, &connector.Error{Kind: connector.ErrUnavailable, Message: "WordPress did not say which term it created."}
	}
	return integration.Term{ExternalID: strconv.Itoa(t.ID), Name: plainText(t.Name), Slug: t.Slug}, nil
}

// retryAfter reads Retry-After: seconds or an HTTP date.
func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}

// PushModels are the models Joinery can create and update.
func (c *Connector) PushModels() []string { return []string{"post", "page"} }

// FindBySlug finds a post or page by slug, in any status.
func (c *Connector) FindBySlug(ctx context.Context, conn connector.Connection, model, slug string) (integration.Record, bool, error) {
	route, err := postRoute(model)
	if err != nil {
		return integration.Record{}, false, err
	}
	var found []wpPost
	q := url.Values{"slug": {slug}, "status": {modelInfos[model].statuses}, "context": {"edit"}}
	if err := c.getJSON(ctx, conn, route, q, &found); err != nil {
		return integration.Record{}, false, err
	}
	if len(found) == 0 {
		return integration.Record{}, false, nil
	}
	return found[0].record(model), true, nil
}

// Exists reports whether an item is still on the site (in any status,
// the trash included): a sync checks before it marks an item deleted.
func (c *Connector) Exists(ctx context.Context, conn connector.Connection, model, externalID string) (bool, error) {
	info, ok := modelInfos[model]
	if !ok {
		return false, &connector.Error{Kind: connector.ErrInvalid, Message: fmt.Sprintf("WordPress has no model %q.", model)}
	}
	if _, err := strconv.Atoi(externalID); err != nil {
		return false, nil
	}
	resp, body, err := c.call(ctx, conn, http.MethodGet, info.route+"/"+externalID, url.Values{"context": {"edit"}, "_fields": {"id"}}, nil)
	if err != nil {
		return false, err
	}
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		return true, nil
	}
	err = itemError(resp, body)
	if ce := err.(*connector.Error); ce.Kind == connector.ErrNotFound {
		return false, nil
	}
	return false, err
}
