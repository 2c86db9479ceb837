// Package wordpress connects to WordPress sites through the REST API with
// an Application Password (HTTP Basic).
package wordpress

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/integration"
	"github.com/joinery/joinery/pkg/safehttp"
)

// maxResponse bounds what is read of one REST response, whatever the
// HTTP client allows (it usually allows less).
const maxResponse = 20 << 20

// htmlInsteadOfJSON explains a REST answer that is a web page.
const htmlInsteadOfJSON = "The site answered with an HTML page instead of JSON: a security plugin, a firewall or a maintenance page is in the way of the REST API."

// Connector talks to WordPress.
type Connector struct {
	// restRoute remembers sites whose /wp-json/ is not routed (pretty
	// permalinks off), which are called through ?rest_route= instead.
	restRoute sync.Map // site base URL → bool
	// users remembers the users whose listings WordPress narrows, for
	// a while (scope.go).
	users sync.Map // site base URL + username → knownUser
}

// New returns a WordPress connector.
func New() *Connector { return &Connector{} }

// apiError is WordPress's JSON error body.
type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// call GETs or sends one REST route, trying /wp-json/ first and falling
// back to ?rest_route= when the site does not route it. An answer that
// may mean the credentials were not accepted is checked (access.go) and
// comes back as an ErrAuth or ErrForbidden error.
func (c *Connector) call(ctx context.Context, conn connector.Connection, method, route string, query url.Values, body *payload) (*http.Response, []byte, error) {
	resp, b, err := c.request(ctx, conn, method, route, query, body)
	if err != nil || route == meRoute {
		return resp, b, err
	}
	if err := c.checkAccess(ctx, conn, resp, b); err != nil {
		return nil, nil, err
	}
	return resp, b, nil
}

// request is call without the check of access.
func (c *Connector) request(ctx context.Context, conn connector.Connection, method, route string, query url.Values, body *payload) (*http.Response, []byte, error) {
	base := strings.TrimRight(conn.SiteURL, "/")
	if _, fallback := c.restRoute.Load(base); !fallback {
		resp, b, err := c.do(ctx, conn, method, prettyURL(base, route, query), body)
		if err != nil || !notRouted(resp, b) {
			return resp, b, err
		}
		c.restRoute.Store(base, true)
	}
	return c.do(ctx, conn, method, restRouteURL(base, route, query), body)
}

// payload is a request body, kept as bytes so it can be sent again.
type payload struct {
	data        []byte
	contentType string
	filename    string // for media uploads
}

func prettyURL(base, route string, q url.Values) string {
	u := base + "/wp-json" + route
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}

func restRouteURL(base, route string, q url.Values) string {
	v := url.Values{}
	for k, vs := range q {
		v[k] = vs
	}
	v.Set("rest_route", route)
	return base + "/?" + v.Encode()
}

// notRouted reports whether a 404 came from the web server or WordPress's
// theme rather than from the REST API, which answers JSON.
func notRouted(resp *http.Response, body []byte) bool {
	return resp.StatusCode == http.StatusNotFound && !isJSON(resp, body)
}

func isJSON(resp *http.Response, body []byte) bool {
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mt == "application/json" || strings.HasSuffix(mt, "+json") {
		return true
	}
	t := strings.TrimSpace(string(body))
	return mt == "" && (strings.HasPrefix(t, "{") || strings.HasPrefix(t, "["))
}

func (c *Connector) do(ctx context.Context, conn connector.Connection, method, u string, body *payload) (*http.Response, []byte, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body.data)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, r)
	if err != nil {
		return nil, nil, &connector.Error{Kind: connector.ErrInvalid, Message: "The site URL is not valid.", Err: err}
	}
	if body != nil {
		req.Header.Set("Content-Type", body.contentType)
		if body.filename != "" {
			req.Header.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": body.filename}))
		}
	}
	req.SetBasicAuth(conn.Credentials["username"], conn.Credentials["app_password"])
	req.Header.Set("Accept", "application/json")
	resp, err := conn.HTTP.Do(req)
	if err != nil {
		return nil, nil, transportError(err)
	}
	defer resp.Body.Close()
	// One byte more than the cap: a longer answer fails rather than being
	// cut, as a cut JSON document must not read as a short one.
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return nil, nil, transportError(err)
	}
	if len(b) > maxResponse {
		return nil, nil, tooLarge(maxResponse, nil)
	}
	return resp, b, nil
}

// BlockedMessage is what a caller is told of a refused destination.
const BlockedMessage = "The URL points at a private or reserved address, which Joinery does not connect to."

// transportError names what went wrong before WordPress could answer.
func transportError(err error) error {
	var blocked *safehttp.BlockedError
	switch {
	case errors.As(err, &blocked):
		// The caller learns only that the address is refused; which address
		// it resolved to, and the setting that would allow it, are for the
		// operator's log.
		slog.Warn("refused an outbound connection", "host", blocked.Host, "ip", blocked.IP, "port", blocked.Port, "reason", blocked.Reason, "error", blocked.Error())
		return &connector.Error{Kind: connector.ErrBlocked, Message: BlockedMessage, Err: err}
	case safehttp.IsTLS(err):
		return &connector.Error{Kind: connector.ErrUnavailable, Message: "The site's TLS certificate is not valid (expired, self-signed or for another name); fix the certificate or use the right URL.", Err: err}
	case safehttp.IsTimeout(err):
		return &connector.Error{Kind: connector.ErrUnavailable, Message: "The site did not answer in time.", Err: err}
	case errors.Is(err, safehttp.ErrBodyTooLarge):
		return tooLarge(capOf(err), err)
	}
	return &connector.Error{Kind: connector.ErrUnavailable, Message: "Could not reach the site: check the URL and that it is online.", Err: err}
}

// tooLarge is an answer larger than Joinery reads: asking for fewer items
// at once is the way out, so it is its own kind, not a failure to retry.
// limit ≤ 0: not known.
func tooLarge(limit int64, err error) *connector.Error {
	size := "the size limit"
	if limit > 0 {
		size = formatBytes(limit)
	}
	return &connector.Error{Kind: connector.ErrTooLarge, Err: err,
		Message: fmt.Sprintf("The site's answer was larger than %s, the most Joinery reads in one answer.", size)}
}

// capPattern finds the cap safehttp names in its error, "(N bytes)".
var capPattern = regexp.MustCompile(`\((\d+) bytes\)`)

// capOf is the size cap an ErrBodyTooLarge names; 0 if it names none.
func capOf(err error) int64 {
	m := capPattern.FindStringSubmatch(err.Error())
	if m == nil {
		return 0
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	return n
}

// formatBytes writes a size as people read it: "10 MiB", "512 KiB" or
// "1000 bytes".
func formatBytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// statusError turns a non-2xx answer into a connector error with an
// actionable message. WordPress's own messages are safe to show.
func statusError(resp *http.Response, body []byte) error {
	var e apiError
	if isJSON(resp, body) {
		_ = json.Unmarshal(body, &e)
	}
	ce := &connector.Error{Status: resp.StatusCode, Code: e.Code}
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		ce.Kind = connector.ErrAuth
		ce.Message = "WordPress rejected the Application Password: it is wrong or was revoked. Create a new one under Users → Profile → Application Passwords."
		if e.Code == "invalid_username" || e.Code == "invalid_email" {
			ce.Message = "WordPress does not know this username. Use the login name of the user who created the Application Password."
		}
	case resp.StatusCode == http.StatusForbidden && e.Message != "":
		// WordPress's own refusal: a capability the user lacks.
		ce.Kind = connector.ErrForbidden
		ce.Message = "This WordPress user lacks the capability for this; WordPress says: " + e.Message
	case resp.StatusCode == http.StatusForbidden:
		ce.Kind = connector.ErrForbidden
		ce.Message = "WordPress refused the request: the REST API is blocked (by a security plugin or the host) or this user lacks the needed capabilities."
	case resp.StatusCode == http.StatusNotFound && !isJSON(resp, body):
		ce.Kind = connector.ErrNotFound
		ce.Message = "The WordPress REST API was not found at this URL: it is disabled, or the URL is not the WordPress site's address."
	case resp.StatusCode == http.StatusNotFound:
		ce.Kind = connector.ErrNotFound
		ce.Message = "WordPress: " + e.Message
	case resp.StatusCode == http.StatusTooManyRequests:
		ce.Kind = connector.ErrRateLimited
		ce.Message = "WordPress is rate limiting requests."
		ce.RetryAfter = retryAfter(resp.Header.Get("Retry-After"))
	case resp.StatusCode >= 500:
		ce.Kind = connector.ErrUnavailable
		ce.Message = fmt.Sprintf("WordPress failed with HTTP %d; try again later.", resp.StatusCode)
	default:
		ce.Kind = connector.ErrInvalid
		ce.Message = fmt.Sprintf("WordPress answered HTTP %d: %s", resp.StatusCode, e.Message)
	}
	return ce
}

// getJSON calls a route and decodes its JSON answer into v.
func (c *Connector) getJSON(ctx context.Context, conn connector.Connection, route string, q url.Values, v any) error {
	resp, body, err := c.call(ctx, conn, http.MethodGet, route, q, nil)
	if err != nil {
		return err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return statusError(resp, body)
	}
	if !isJSON(resp, body) {
		return &connector.Error{Kind: connector.ErrUnavailable, Status: resp.StatusCode, Message: htmlInsteadOfJSON}
	}
	if err := json.Unmarshal(body, v); err != nil {
		return &connector.Error{Kind: connector.ErrUnavailable, Status: resp.StatusCode, Message: "WordPress answered JSON that Joinery could not read.", Err: err}
	}
	return nil
}

// capabilitiesShown are the capabilities that matter to syncing.
var capabilitiesShown = []string{"edit_posts", "publish_posts", "edit_others_posts", "delete_posts", "edit_pages", "publish_pages", "upload_files", "manage_categories"}

type user struct {
	ID           int             `json:"id"`
	Name         string          `json:"name"`
	Slug         string          `json:"slug"`
	Roles        []string        `json:"roles"`
	Capabilities map[string]bool `json:"capabilities"`
}

// parseUser reads /wp/v2/users/me. It never panics, whatever the input.
func parseUser(b []byte) (user, error) {
	var u user
	if err := json.Unmarshal(b, &u); err != nil {
		return user{}, err
	}
	if u.ID == 0 {
		return user{}, errors.New("no user id")
	}
	return u, nil
}

// TestConnection reads the current user with its roles and capabilities.
// Every failure is a result with a message saying what to do.
func (c *Connector) TestConnection(ctx context.Context, conn connector.Connection) (connector.TestResult, error) {
	var raw json.RawMessage
	err := c.getJSON(ctx, conn, meRoute, url.Values{"context": {"edit"}}, &raw)
	if err != nil {
		var ce *connector.Error
		if !errors.As(err, &ce) {
			return connector.TestResult{}, err
		}
		status := integration.ConnectionError
		if ce.Kind == connector.ErrAuth {
			status = integration.ConnectionReauthorizationNeeded
		}
		details := map[string]any{"http_status": ce.Status}
		if ce.Code != "" {
			details["wordpress_code"] = ce.Code
		}
		return connector.TestResult{OK: false, Status: status, Message: ce.Message, Details: details}, nil
	}
	u, err := parseUser(raw)
	if err != nil {
		return connector.TestResult{OK: false, Status: integration.ConnectionError, Message: "WordPress answered, but not with a user: is this the REST API of a WordPress site?"}, nil
	}
	caps := map[string]bool{}
	for _, k := range capabilitiesShown {
		caps[k] = u.Capabilities[k]
	}
	roles := append([]string{}, u.Roles...)
	sort.Strings(roles)
	base := strings.TrimRight(conn.SiteURL, "/")
	_, fallback := c.restRoute.Load(base)
	msg := fmt.Sprintf("Connected to WordPress as %s (%s).", u.Name, strings.Join(roles, ", "))
	if !caps["publish_posts"] {
		msg += " This user cannot publish posts, so pushed posts stay drafts or fail."
	}
	access := modelAccess(u.Capabilities)
	if skipped := unreadable(access); len(skipped) > 0 {
		msg += fmt.Sprintf(" This user cannot read %s: a sync skips them.", strings.Join(skipped, ", "))
	}
	return connector.TestResult{OK: true, Status: integration.ConnectionConnected, Message: msg, Details: map[string]any{
		"user":                map[string]any{"id": u.ID, "name": u.Name, "slug": u.Slug},
		"roles":               roles,
		"can_publish":         caps["publish_posts"],
		"can_upload":          caps["upload_files"],
		"capabilities":        caps,
		"models":              access,
		"rest_route_fallback": fallback,
	}}, nil
}

// Structure reads the post types and taxonomies.
func (c *Connector) Structure(ctx context.Context, conn connector.Connection) (connector.Structure, error) {
	var types map[string]struct {
		Slug       string   `json:"slug"`
		Name       string   `json:"name"`
		RESTBase   string   `json:"rest_base"`
		Taxonomies []string `json:"taxonomies"`
	}
	if err := c.getJSON(ctx, conn, "/wp/v2/types", url.Values{"context": {"edit"}}, &types); err != nil {
		return connector.Structure{}, err
	}
	var taxes map[string]struct {
		Slug     string   `json:"slug"`
		Name     string   `json:"name"`
		RESTBase string   `json:"rest_base"`
		Types    []string `json:"types"`
	}
	if err := c.getJSON(ctx, conn, "/wp/v2/taxonomies", url.Values{"context": {"edit"}}, &taxes); err != nil {
		return connector.Structure{}, err
	}
	var s connector.Structure
	for _, t := range types {
		s.ContentTypes = append(s.ContentTypes, connector.ContentType{Name: t.Slug, Label: t.Name, RESTBase: t.RESTBase, Taxonomies: t.Taxonomies})
	}
	for _, t := range taxes {
		s.Taxonomies = append(s.Taxonomies, connector.Taxonomy{Name: t.Slug, Label: t.Name, RESTBase: t.RESTBase, Types: t.Types})
	}
	sort.Slice(s.ContentTypes, func(i, j int) bool { return s.ContentTypes[i].Name < s.ContentTypes[j].Name })
	sort.Slice(s.Taxonomies, func(i, j int) bool { return s.Taxonomies[i].Name < s.Taxonomies[j].Name })
	return s, nil
}

var _ connector.Connector = (*Connector)(nil)
