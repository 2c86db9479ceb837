package wordpress

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/joinery/joinery/pkg/connector"
)

// A listing with context=edit holds only the items the user may edit, but
// WordPress counts them all in X-WP-Total: an Author listing posts gets its
// own among everyone's count. Positions and totals then disagree, which a
// run reads as a listing that shifted under it (and it keeps its cursor
// and marks nothing deleted, every time). So an answer holding fewer items
// than its count says it should is a sign: the user is read once, and
// where it may not edit others' items its listings are narrowed to its
// own (author=<id>), and to the statuses of its own it may edit, so that
// the count is of what it is given. Users WordPress does not narrow cost
// no request.

// scopeTTL is how long a user's capabilities are taken as read.
const scopeTTL = 10 * time.Minute

// scope narrows a listing to what WordPress gives the user; the zero
// scope narrows nothing.
type scope struct {
	author   int
	statuses string // "": the model's
}

func (s scope) apply(q url.Values) {
	if s.author > 0 {
		q.Set("author", strconv.Itoa(s.author))
	}
	if s.statuses != "" {
		q.Set("status", s.statuses)
	}
}

// knownUser is a user as read, or not readable (ok false), until a time.
type knownUser struct {
	u     user
	ok    bool
	until time.Time
}

func userKey(conn connector.Connection) string {
	return strings.TrimRight(conn.SiteURL, "/") + "\x00" + conn.Credentials["username"]
}

// list reads one listing, narrowed to the user where WordPress narrows it.
func (c *Connector) list(ctx context.Context, conn connector.Connection, req connector.ListRequest, idsOnly bool) (listing, error) {
	info := modelInfos[req.Model]
	if info.terms {
		return c.listOnce(ctx, conn, req, idsOnly, scope{})
	}
	if k, ok := c.users.Load(userKey(conn)); ok && time.Now().Before(k.(knownUser).until) {
		return c.listOnce(ctx, conn, req, idsOnly, scopeOf(k.(knownUser), req.Model))
	}
	l, err := c.listOnce(ctx, conn, req, idsOnly, scope{})
	if err != nil || !narrowed(l, req) {
		return l, err
	}
	k := c.readUser(ctx, conn)
	sc := scopeOf(k, req.Model)
	if sc == (scope{}) {
		return l, nil
	}
	return c.listOnce(ctx, conn, req, idsOnly, sc)
}

// narrowed reports whether an answer holds fewer items than its count
// says are at its position.
func narrowed(l listing, req connector.ListRequest) bool {
	if l.total < 0 {
		return false
	}
	size := req.PageSize
	if size <= 0 || size > maxPerPage {
		size = maxPerPage
	}
	start := 0
	if raw, ok := strings.CutPrefix(req.Page, "@"); ok {
		start, _ = strconv.Atoi(raw)
	} else if n, err := strconv.Atoi(req.Page); err == nil && n > 1 {
		start = (n - 1) * size
	}
	return len(l.items) < min(size, l.total-start)
}

// readUser reads the current user for the scope of its listings; a user
// that cannot be read narrows nothing, and is not asked for again soon.
func (c *Connector) readUser(ctx context.Context, conn connector.Connection) knownUser {
	k := knownUser{until: time.Now().Add(scopeTTL)}
	resp, body, err := c.request(ctx, conn, http.MethodGet, meRoute, url.Values{"context": {"edit"}}, nil)
	if err == nil && resp.StatusCode == http.StatusOK && isJSON(resp, body) {
		if u, err := parseUser(body); err == nil {
			k.u, k.ok = u, true
		}
	}
	if !k.ok {
		k.until = time.Now().Add(time.Minute)
	}
	c.users.Store(userKey(conn), k)
	return k
}

// scopeOf is the scope of a user's listings of a model: its own items
// where it may not edit others' (WordPress's edit_others_posts), and of
// those only the statuses it may edit (published and scheduled ones need
// edit_published_posts); the capabilities of pages for pages.
func scopeOf(k knownUser, model string) scope {
	if !k.ok {
		return scope{}
	}
	others, published := "edit_others_posts", "edit_published_posts"
	if model == "page" {
		others, published = "edit_others_pages", "edit_published_pages"
	}
	if k.u.Capabilities[others] {
		return scope{}
	}
	sc := scope{author: k.u.ID}
	if statuses := modelInfos[model].statuses; !k.u.Capabilities[published] && strings.Contains(statuses, "publish") {
		var keep []string
		for _, s := range strings.Split(statuses, ",") {
			if s != "publish" && s != "future" {
				keep = append(keep, s)
			}
		}
		sc.statuses = strings.Join(keep, ",")
	}
	return sc
}
