package wordpress

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/joinery/joinery/pkg/connector"
)

// meRoute is the current user: the connection test, and the check of an
// answer that may mean the credentials were not accepted.
const meRoute = "/wp/v2/users/me"

// WordPress signs a request whose credentials it does not accept in as no
// one rather than refusing it everywhere: depending on the route and on
// when it looked at the credentials, it answers 401 (rest_not_logged_in,
// incorrect_password, or rest_forbidden_context "not allowed to edit"),
// or 400 rest_invalid_param naming status, as no one may list drafts —
// and a signed-in user without the capability gets that same 400. So
// such an answer says nothing by itself: the current user is read once to
// tell. 401 there: the credentials are no longer accepted (ErrAuth).
// Answered: the user lacks the capability (ErrForbidden). A 403 is always
// a missing permission, and is left to statusError.

// checkAccess returns nil for an answer that needs no check, else what
// reading the current user says it means: ErrAuth, ErrForbidden, or the
// failure to read it when that failure is worth retrying (nil when it
// says nothing: the answer is then taken as it is).
func (c *Connector) checkAccess(ctx context.Context, conn connector.Connection, resp *http.Response, body []byte) error {
	if !signedOutAnswer(resp, body) {
		return nil
	}
	me, meBody, err := c.request(ctx, conn, http.MethodGet, meRoute, url.Values{"context": {"edit"}}, nil)
	if err != nil {
		return err
	}
	switch {
	case me.StatusCode == http.StatusUnauthorized:
		return statusError(me, meBody)
	case me.StatusCode >= 200 && me.StatusCode <= 299 && isJSON(me, meBody):
		u, err := parseUser(meBody)
		if err != nil {
			return nil
		}
		return forbidden(resp, body, &u)
	case me.StatusCode == http.StatusForbidden:
		return forbidden(resp, body, nil)
	case me.StatusCode == http.StatusTooManyRequests || me.StatusCode >= 500:
		return statusError(me, meBody)
	}
	return nil
}

// restError is WordPress's error body with the parameters it refused.
type restError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Data    struct {
		Params map[string]string `json:"params"`
	} `json:"data"`
}

// signedOutAnswer reports whether an answer is one WordPress gives a
// request signed in as no one: a 401, or a 400 refusing status.
func signedOutAnswer(resp *http.Response, body []byte) bool {
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		return true
	case http.StatusBadRequest:
		var e restError
		if !isJSON(resp, body) || json.Unmarshal(body, &e) != nil || e.Code != "rest_invalid_param" {
			return false
		}
		_, ok := e.Data.Params["status"]
		return ok
	}
	return false
}

// forbidden is a refusal by WordPress of a user it knows (u nil: not
// known), with WordPress's own reason.
func forbidden(resp *http.Response, body []byte, u *user) *connector.Error {
	var e restError
	if isJSON(resp, body) {
		_ = json.Unmarshal(body, &e)
	}
	reason := e.Message
	if s := e.Data.Params["status"]; s != "" {
		reason = s
	}
	who := "This WordPress user"
	if u != nil {
		roles := append([]string{}, u.Roles...)
		sort.Strings(roles)
		who = fmt.Sprintf("The WordPress user %s (%s)", u.Name, strings.Join(roles, ", "))
	}
	msg := who + " lacks the capability for this"
	if reason != "" {
		msg += "; WordPress says: " + strings.TrimSpace(reason)
	}
	return &connector.Error{Kind: connector.ErrForbidden, Status: resp.StatusCode, Code: e.Code, Message: msg}
}

// modelAccess says, from a user's capabilities, which models the user can
// read (list with context=edit, as a sync does) and write. WordPress's
// core roles map them so: posts need edit_posts; pages edit_pages; media
// is listed with edit_posts and written (uploaded) with upload_files;
// listing terms with context=edit needs manage_categories, creating a
// category too, and creating a tag only edit_posts (assign_terms).
func modelAccess(caps map[string]bool) map[string]any {
	access := map[string][2]string{
		"post":     {"edit_posts", "edit_posts"},
		"page":     {"edit_pages", "edit_pages"},
		"media":    {"edit_posts", "upload_files"},
		"category": {"manage_categories", "manage_categories"},
		"tag":      {"manage_categories", "edit_posts"},
	}
	out := make(map[string]any, len(models))
	for _, m := range models {
		a := access[m]
		out[m] = map[string]any{"read": caps[a[0]], "write": caps[a[1]]}
	}
	return out
}

// unreadable lists, in sync order, the models access says cannot be read.
func unreadable(access map[string]any) []string {
	var out []string
	for _, m := range models {
		if a, _ := access[m].(map[string]any); a["read"] != true {
			out = append(out, m)
		}
	}
	return out
}
