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
	"github.com/joinery/joinery/pkg/safehttp"
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

// fullPatch is the write of a whole record: every field is set. A
// featured image given by URL is fetched first.
func (c *Connector) fullPatch(ctx context.Context, conn connector.Connection, r integration.Record) (connector.Patch, error) {
	p := connector.Patch{Title: &r.Title, BodyHTML: &r.BodyHTML, Excerpt: &r.Excerpt}
	if r.Slug != "" {
		p.Slug = &r.Slug
	}
	if r.Status != "" {
		p.Status = &r.Status
	}
	if r.Model == "post" {
		cats, tags := append([]integration.Term{}, r.Categories...), append([]integration.Term{}, r.Tags...)
		p.Categories, p.Tags = &cats, &tags
	}
	if img := r.FeaturedImage; img != nil {
		ch := &connector.ImageChange{ExternalID: img.ExternalID}
		if img.Alt != "" {
			ch.Alt = &img.Alt
		}
		if img.ExternalID == "" && img.URL != "" {
			f, err := c.FetchImage(ctx, conn, img.URL)
			if err != nil {
				return connector.Patch{}, err
			}
			ch.File = &f
		}
		p.FeaturedImage = ch
	}
	return p, nil
}

// send writes a post or page and returns it as WordPress stored it. Only
// the patch's fields are sent: WordPress keeps the others as they are.
func (c *Connector) send(ctx context.Context, conn connector.Connection, route, model string, p connector.Patch) (integration.Record, error) {
	body := map[string]any{}
	for name, v := range map[string]*string{"title": p.Title, "content": p.BodyHTML, "excerpt": p.Excerpt, "slug": p.Slug, "status": p.Status} {
		if v != nil {
			body[name] = *v
		}
	}
	var err error
	if model == "post" {
		for name, terms := range map[string]*[]integration.Term{"categories": p.Categories, "tags": p.Tags} {
			if terms == nil {
				continue
			}
			if body[name], err = termIDs(*terms); err != nil {
				return integration.Record{}, err
			}
		}
	}
	img := p.FeaturedImage
	altDone := false
	if img != nil {
		switch {
		case img.Remove:
			body["featured_media"] = 0
		case img.File != nil:
			id, err := c.upload(ctx, conn, *img.File, img.Alt)
			if err != nil {
				return integration.Record{}, err
			}
			body["featured_media"], altDone = id, true
		case img.ExternalID != "":
			if body["featured_media"], err = strconv.Atoi(img.ExternalID); err != nil {
				return integration.Record{}, &connector.Error{Kind: connector.ErrInvalid, Message: "featured image has no WordPress id"}
			}
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
	var wp wpPost
	if err := json.Unmarshal(rb, &wp); err != nil || wp.ID == 0 {
		return integration.Record{}, &connector.Error{Kind: connector.ErrUnavailable, Message: "WordPress answered JSON that Joinery could not read."}
	}
	if img != nil && img.Alt != nil && !altDone && !img.Remove && wp.FeaturedMedia != 0 {
		// The alt text belongs to the media item, not to the post.
		if err := c.setAlt(ctx, conn, strconv.Itoa(wp.FeaturedMedia), *img.Alt); err != nil {
			return integration.Record{}, err
		}
	}
	return wp.record(model), nil
}

// Patch writes the fields of p to a post or page; externalID "" creates
// one. Fields p leaves nil keep their values on WordPress.
func (c *Connector) Patch(ctx context.Context, conn connector.Connection, model, externalID string, p connector.Patch) (integration.Record, error) {
	route, err := postRoute(model)
	if err != nil {
		return integration.Record{}, err
	}
	if externalID != "" {
		if n, err := strconv.Atoi(externalID); err != nil || n <= 0 {
			return integration.Record{}, &connector.Error{Kind: connector.ErrInvalid, Message: "no WordPress id to update"}
		}
		route += "/" + externalID
	}
	return c.send(ctx, conn, route, model, p)
}

// Create creates a post or page.
func (c *Connector) Create(ctx context.Context, conn connector.Connection, r integration.Record) (integration.Record, error) {
	p, err := c.fullPatch(ctx, conn, r)
	if err != nil {
		return integration.Record{}, err
	}
	return c.Patch(ctx, conn, r.Model, "", p)
}

// Update changes a post or page.
func (c *Connector) Update(ctx context.Context, conn connector.Connection, r integration.Record) (integration.Record, error) {
	if _, err := strconv.Atoi(r.ExternalID); err != nil {
		return integration.Record{}, &connector.Error{Kind: connector.ErrInvalid, Message: "no WordPress id to update"}
	}
	p, err := c.fullPatch(ctx, conn, r)
	if err != nil {
		return integration.Record{}, err
	}
	return c.Patch(ctx, conn, r.Model, r.ExternalID, p)
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

// MaxImageBytes is the largest featured image Joinery fetches and uploads.
const MaxImageBytes = 10 << 20

// FetchImage downloads a featured image through the connection's
// (SSRF-safe) client and checks all that can be checked before anything
// is written to the site: the URL answers 200 with an image of at most
// MaxImageBytes.
func (c *Connector) FetchImage(ctx context.Context, conn connector.Connection, src string) (connector.ImageFile, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
	if err != nil {
		return connector.ImageFile{}, &connector.Error{Kind: connector.ErrInvalid, Message: "The featured image URL is not valid."}
	}
	resp, err := conn.HTTP.Do(req)
	if err != nil {
		e := transportError(err).(*connector.Error)
		e.Message = "Featured image: " + e.Message
		return connector.ImageFile{}, e
	}
	defer resp.Body.Close()
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(mt, "image/") {
		return connector.ImageFile{}, &connector.Error{Kind: connector.ErrInvalid, Message: fmt.Sprintf("The featured image URL answered HTTP %d with %q, not an image.", resp.StatusCode, mt)}
	}
	tooBig := &connector.Error{Kind: connector.ErrInvalid, Message: fmt.Sprintf("The featured image is larger than %s, the most Joinery uploads.", formatBytes(MaxImageBytes))}
	if resp.ContentLength > MaxImageBytes {
		return connector.ImageFile{}, tooBig
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxImageBytes+1))
	if errors.Is(err, safehttp.ErrBodyTooLarge) || len(data) > MaxImageBytes {
		return connector.ImageFile{}, tooBig
	}
	if err != nil {
		e := transportError(err).(*connector.Error)
		e.Message = "Featured image: " + e.Message
		return connector.ImageFile{}, e
	}
	if len(data) == 0 {
		return connector.ImageFile{}, &connector.Error{Kind: connector.ErrInvalid, Message: "The featured image URL answered an empty image."}
	}
	u, _ := url.Parse(src)
	name := unsafeFilename.ReplaceAllString(path.Base(u.Path), "-")
	if name == "" || name == "." || name == "-" || name == "/" {
		name = "image"
	}
	if exts, _ := mime.ExtensionsByType(mt); len(exts) > 0 && path.Ext(name) == "" {
		name += exts[0]
	}
	return connector.ImageFile{URL: src, Name: name, ContentType: mt, Data: data}, nil
}

// upload adds an image to the media library, with its alt text if given.
func (c *Connector) upload(ctx context.Context, conn connector.Connection, f connector.ImageFile, alt *string) (int, error) {
	r, body, err := c.call(ctx, conn, http.MethodPost, "/wp/v2/media", nil, &payload{data: f.Data, contentType: f.ContentType, filename: f.Name})
	if err != nil {
		return 0, err
	}
	if r.StatusCode < 200 || r.StatusCode > 299 {
		return 0, statusError(r, body)
	}
	var m wpPost
	if err := json.Unmarshal(body, &m); err != nil || m.ID == 0 {
		return 0, &connector.Error{Kind: connector.ErrUnavailable, Message: "WordPress did not say which media item it created."}
	}
	if alt != nil && *alt != "" {
		if err := c.setAlt(ctx, conn, strconv.Itoa(m.ID), *alt); err != nil {
			return 0, err
		}
	}
	return m.ID, nil
}

// setAlt sets a media item's alternative text.
func (c *Connector) setAlt(ctx context.Context, conn connector.Connection, id, alt string) error {
	b, _ := json.Marshal(map[string]string{"alt_text": alt})
	r, body, err := c.call(ctx, conn, http.MethodPost, "/wp/v2/media/"+id, nil, &payload{data: b, contentType: "application/json"})
	if err != nil {
		return err
	}
	if r.StatusCode < 200 || r.StatusCode > 299 {
		return statusError(r, body)
	}
	return nil
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
