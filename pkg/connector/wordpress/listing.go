package wordpress

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/joinery/joinery/pkg/connector"
)

// maxPerPage is WordPress's largest per_page.
const maxPerPage = 100

// MaxPageSize is the largest page WordPress answers.
func (c *Connector) MaxPageSize() int { return maxPerPage }

// WindowToken is the token of the window starting at offset: "@<offset>".
// Numbered pages ("1", "2"…) stay valid tokens.
func (c *Connector) WindowToken(offset int) string { return "@" + strconv.Itoa(offset) }

// PageToken is the token of page n: WordPress pages are numbered, so a
// run can fan its pages out.
func (c *Connector) PageToken(n int) string { return strconv.Itoa(n) }

// List returns one page of a model, ordered by id: a numbered page of
// PageSize items, or the window of PageSize items from an offset
// (WindowToken). Ordering by id keeps the listing stable while items
// change: a change never moves an item to an earlier position, and new
// items come last; only deletions shift later items down, which windows
// that overlap by one item reveal. Incremental listings pass
// modified_after in UTC with an explicit offset, which WordPress converts
// to the site's timezone before comparing.
func (c *Connector) List(ctx context.Context, conn connector.Connection, req connector.ListRequest) (connector.ListPage, error) {
	l, err := c.list(ctx, conn, req, false)
	if err != nil {
		return connector.ListPage{}, err
	}
	out := connector.ListPage{NextPage: l.next, Total: l.total, TotalPages: l.totalPages, ServerTime: l.serverTime}
	if out.Records, out.Failed, err = parseModel(l.items, req.Model); err != nil {
		return connector.ListPage{}, &connector.Error{Kind: connector.ErrUnavailable, Message: "WordPress answered JSON that Joinery could not read.", Err: err}
	}
	for _, r := range out.Records {
		if r.ModifiedAt.After(out.MaxModified) {
			out.MaxModified = r.ModifiedAt
		}
	}
	return out, nil
}

// ListIDs lists the ids of the page or window List would read, without
// the items themselves (_fields=id): small even where the items are not.
func (c *Connector) ListIDs(ctx context.Context, conn connector.Connection, req connector.ListRequest) ([]string, error) {
	l, err := c.list(ctx, conn, req, true)
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(l.items))
	for _, raw := range l.items {
		id, err := itemID(raw)
		if err != nil {
			return nil, &connector.Error{Kind: connector.ErrUnavailable, Message: "WordPress answered JSON that Joinery could not read.", Err: err}
		}
		ids = append(ids, strconv.Itoa(id))
	}
	return ids, nil
}

// The fields Joinery maps, asked for by name (_fields), text fields raw
// only: WordPress then does not render the content through the_content
// filters, the costliest part of a listing, and the answer is half as
// large. Nested fields (title.raw) need WordPress 5.3; Application
// Passwords, which Joinery signs in with, came with 5.6.
const (
	postFields = "id,date_gmt,modified_gmt,slug,status,link,source_url,alt_text,title.raw,content.raw,excerpt.raw,author,featured_media,categories,tags,parent,menu_order"
	termFields = "id,name,slug,link,parent"
)

func fieldsOf(info modelInfo) string {
	if info.terms {
		return termFields
	}
	return postFields
}

// listing is one answer of a list route, its items not yet parsed.
type listing struct {
	items             []json.RawMessage
	total, totalPages int
	serverTime        time.Time
	next              string
}

// listOnce is list, narrowed to the user's scope (scope.go).
func (c *Connector) listOnce(ctx context.Context, conn connector.Connection, req connector.ListRequest, idsOnly bool, sc scope) (listing, error) {
	info, ok := modelInfos[req.Model]
	if !ok {
		return listing{}, &connector.Error{Kind: connector.ErrInvalid, Message: fmt.Sprintf("WordPress has no model %q.", req.Model)}
	}
	size := req.PageSize
	if size <= 0 || size > maxPerPage {
		size = maxPerPage
	}
	q := url.Values{"context": {"edit"}, "orderby": {"id"}, "order": {"asc"}}
	if info.statuses != "" {
		q.Set("status", info.statuses)
	}
	if info.modified && !req.ModifiedAfter.IsZero() {
		q.Set("modified_after", req.ModifiedAfter.Add(-Overlap).UTC().Format(time.RFC3339))
	}
	q.Set("_fields", fieldsOf(info))
	if idsOnly {
		q.Set("_fields", "id")
	}
	sc.apply(q)
	if raw, ok := strings.CutPrefix(req.Page, "@"); ok {
		offset, err := strconv.Atoi(raw)
		if err != nil || offset < 0 {
			return listing{}, &connector.Error{Kind: connector.ErrInvalid, Message: "bad page token"}
		}
		l, err := c.window(ctx, conn, info, q, offset, size)
		if err != nil {
			return listing{}, err
		}
		if (l.total >= 0 && offset+size < l.total) || (l.total < 0 && len(l.items) == size) {
			l.next = c.WindowToken(offset + size)
		}
		return l, nil
	}
	page := 1
	if req.Page != "" {
		n, err := strconv.Atoi(req.Page)
		if err != nil || n < 1 {
			return listing{}, &connector.Error{Kind: connector.ErrInvalid, Message: "bad page token"}
		}
		page = n
	}
	q.Set("per_page", strconv.Itoa(size))
	q.Set("page", strconv.Itoa(page))
	l, err := c.get(ctx, conn, info.route, q)
	if err != nil {
		return listing{}, err
	}
	if l.totalPages > page || (l.totalPages < 0 && len(l.items) == size) {
		l.next = strconv.Itoa(page + 1)
	}
	return l, nil
}

// window reads size items from offset.
func (c *Connector) window(ctx context.Context, conn connector.Connection, info modelInfo, q url.Values, offset, size int) (listing, error) {
	if info.offsetless {
		return c.cutWindow(ctx, conn, info, q, offset, size)
	}
	q = maps.Clone(q)
	q.Set("per_page", strconv.Itoa(size))
	q.Set("offset", strconv.Itoa(offset))
	l, err := c.get(ctx, conn, info.route, q)
	if err != nil {
		return listing{}, err
	}
	// WordPress does not count a post listing when the window is past its
	// end: it says X-WP-Total 0. The count alone is asked for then, so an
	// empty window never reads as a listing that shrank to nothing.
	if len(l.items) == 0 && offset > 0 && l.total == 0 && !info.terms {
		cq := maps.Clone(q)
		cq.Del("offset")
		cq.Set("per_page", "1")
		cq.Set("page", "1")
		cq.Set("_fields", "id")
		n, err := c.get(ctx, conn, info.route, cq)
		if err != nil {
			return listing{}, err
		}
		l.total = n.total
	}
	l.totalPages = pagesOf(l.total, size)
	return l, nil
}

// windowAttempts bounds the re-reads of a window cut out of pages that
// changed between the reads.
const windowAttempts = 3

// cutWindow cuts a window out of the numbered pages of maxPerPage items
// that hold it, for listings where WordPress ignores offset. A window is
// no larger than a page, so it spans at most two pages. The later page is
// read first: an item deleted between the two reads then moves an item
// onto both (read twice, which is seen, and the window is read again)
// rather than between them (never read, which nothing would show).
func (c *Connector) cutWindow(ctx context.Context, conn connector.Connection, info modelInfo, q url.Values, offset, size int) (listing, error) {
	first, last := offset/maxPerPage, (offset+size-1)/maxPerPage
	for attempt := 1; ; attempt++ {
		var pages []listing // later first
		for p := last; p >= first; p-- {
			pq := maps.Clone(q)
			pq.Set("per_page", strconv.Itoa(maxPerPage))
			pq.Set("page", strconv.Itoa(p+1))
			l, err := c.get(ctx, conn, info.route, pq)
			if err != nil {
				return listing{}, err
			}
			pages = append(pages, l)
		}
		earlier := pages[len(pages)-1]
		items := earlier.items
		consistent := true
		if len(pages) == 2 {
			later := pages[0]
			// A short earlier page before a non-empty later one: the
			// listing shrank between the reads.
			consistent = len(later.items) == 0 || len(earlier.items) == maxPerPage
			items = append(append([]json.RawMessage{}, earlier.items...), later.items...)
		}
		if consistent && distinct(items) {
			start := min(offset-first*maxPerPage, len(items))
			out := listing{items: items[start:min(start+size, len(items))], total: earlier.total, serverTime: pages[0].serverTime}
			out.totalPages = pagesOf(out.total, size)
			return out, nil
		}
		if attempt == windowAttempts {
			return listing{}, &connector.Error{Kind: connector.ErrUnavailable,
				Message: fmt.Sprintf("The listing of %s kept changing while Joinery read it; it is read again later.", strings.TrimPrefix(info.route, "/wp/v2/"))}
		}
	}
}

// distinct reports whether no id appears twice.
func distinct(items []json.RawMessage) bool {
	seen := make(map[int]bool, len(items))
	for _, raw := range items {
		id, err := itemID(raw)
		if err != nil {
			return true // reported when the items are parsed
		}
		if seen[id] {
			return false
		}
		seen[id] = true
	}
	return true
}

func pagesOf(total, size int) int {
	if total < 0 {
		return -1
	}
	return (total + size - 1) / size
}

// get reads one answer of a list route.
func (c *Connector) get(ctx context.Context, conn connector.Connection, route string, q url.Values) (listing, error) {
	resp, body, err := c.call(ctx, conn, http.MethodGet, route, q, nil)
	if err != nil {
		return listing{}, err
	}
	l := listing{total: -1, totalPages: -1, serverTime: serverTime(resp)}
	if resp.StatusCode == http.StatusBadRequest && strings.Contains(string(body), "rest_post_invalid_page_number") {
		return l, nil // past the last page
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return listing{}, statusError(resp, body)
	}
	if !isJSON(resp, body) {
		return listing{}, &connector.Error{Kind: connector.ErrUnavailable, Status: resp.StatusCode, Message: htmlInsteadOfJSON}
	}
	if err := json.Unmarshal(body, &l.items); err != nil {
		return listing{}, &connector.Error{Kind: connector.ErrUnavailable, Status: resp.StatusCode, Message: "WordPress answered JSON that Joinery could not read.", Err: err}
	}
	l.total, l.totalPages = header(resp, "X-WP-Total"), header(resp, "X-WP-TotalPages")
	return l, nil
}

// serverTime is the site's clock from its Date header; zero without one.
func serverTime(resp *http.Response) time.Time {
	t, err := http.ParseTime(resp.Header.Get("Date"))
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}

func header(resp *http.Response, name string) int {
	n, err := strconv.Atoi(resp.Header.Get(name))
	if err != nil {
		return -1
	}
	return n
}

var (
	_ connector.Windowed = (*Connector)(nil)
	_ connector.IDLister = (*Connector)(nil)
	_ connector.Getter   = (*Connector)(nil)
)
