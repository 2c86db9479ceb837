// Package shopify connects to Shopify stores through the Admin GraphQL API
// (the REST Admin API is legacy), with the expiring offline token the OAuth
// connect flow stores. Products sync both ways; the API's cost-based limit
// is kept to before each call (cost.go), so Joinery waits rather than being
// throttled.
package shopify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/integration"
	"github.com/joinery/joinery/pkg/safehttp"
)

// maxResponse bounds what is read of one answer.
const maxResponse = 20 << 20

// APIVersion is the Admin API version every call names: the catalog's
// (api.base_url ends with it), so it is pinned in one place.
var APIVersion = func() string {
	if e, ok := connector.NewCatalog().Entry("shopify"); ok {
		return path.Base(e.API.BaseURL)
	}
	return "2026-10"
}()

// Connector talks to Shopify.
type Connector struct {
	// Now is the clock holds are set on (nil: time.Now); tests share
	// theirs with the engine's.
	Now func() time.Time
	// limits are what each shop's answers said of its cost bucket (cost.go).
	limits sync.Map // shop host → *shopLimits
}

// New returns a Shopify connector.
func New() *Connector { return &Connector{} }

var (
	_ connector.Connector = (*Connector)(nil)
	_ connector.Getter    = (*Connector)(nil)
)

func (c *Connector) now() time.Time {
	if c.Now == nil {
		return time.Now()
	}
	return c.Now()
}

// endpoint is the shop's GraphQL endpoint of the pinned version.
func endpoint(conn connector.Connection) string {
	return strings.TrimRight(conn.SiteURL, "/") + "/admin/api/" + APIVersion + "/graphql.json"
}

// gqlError is one of a GraphQL answer's top-level errors.
type gqlError struct {
	Message    string `json:"message"`
	Extensions struct {
		Code string `json:"code"`
	} `json:"extensions"`
}

// throttleStatus is the shop's cost bucket as an answer reports it.
type throttleStatus struct {
	MaximumAvailable   float64 `json:"maximumAvailable"`
	CurrentlyAvailable float64 `json:"currentlyAvailable"`
	RestoreRate        float64 `json:"restoreRate"`
}

// queryCost is an answer's extensions.cost.
type queryCost struct {
	RequestedQueryCost float64        `json:"requestedQueryCost"`
	ActualQueryCost    *float64       `json:"actualQueryCost"`
	ThrottleStatus     throttleStatus `json:"throttleStatus"`
}

// answer is a GraphQL answer: data, or errors, with the cost.
type answer struct {
	Data       json.RawMessage `json:"data"`
	Errors     json.RawMessage `json:"errors"`
	Extensions struct {
		Cost *queryCost `json:"cost"`
	} `json:"extensions"`
}

// result is a successful call: its data and the shop's clock.
type result struct {
	data       json.RawMessage
	serverTime time.Time
	cost       *queryCost
}

// call runs one GraphQL operation of the given expected cost, within the
// integration's budget, and returns its data. Every failure is a
// *connector.Error.
func (c *Connector) call(ctx context.Context, conn connector.Connection, query string, vars map[string]any, cost int) (result, error) {
	lim := c.limitsOf(conn)
	if err := c.take(ctx, conn, lim, cost); err != nil {
		return result{}, err
	}
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		return result{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint(conn), bytes.NewReader(body))
	if err != nil {
		return result{}, &connector.Error{Kind: connector.ErrInvalid, Message: "The store URL is not valid: use https://<store>.myshopify.com.", Err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("X-Shopify-Access-Token", conn.Credentials["access_token"])
	hc := conn.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return result{}, transportError(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return result{}, transportError(err)
	}
	if len(b) > maxResponse {
		return result{}, &connector.Error{Kind: connector.ErrTooLarge, Message: "Shopify's answer was larger than Joinery reads in one answer."}
	}
	if resp.StatusCode != http.StatusOK {
		err := statusError(resp, b)
		var ce *connector.Error
		if errors.As(err, &ce) && ce.Kind == connector.ErrRateLimited {
			c.hold(ctx, conn, ce.RetryAfter)
		}
		return result{}, err
	}
	var a answer
	if err := json.Unmarshal(b, &a); err != nil {
		return result{}, &connector.Error{Kind: connector.ErrUnavailable, Status: resp.StatusCode, Message: "Shopify answered with something other than GraphQL JSON.", Err: err}
	}
	if a.Extensions.Cost != nil {
		c.learn(ctx, conn, lim, *a.Extensions.Cost)
	}
	if err := c.graphQLErrors(ctx, conn, a); err != nil {
		return result{}, err
	}
	res := result{data: a.Data, cost: a.Extensions.Cost}
	if t, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
		res.serverTime = t.UTC()
	}
	return res, nil
}

// graphQLErrors reads an answer's top-level errors: THROTTLED is a wait
// (held for the whole integration), ACCESS_DENIED a missing scope, the
// rest a query Shopify refused.
func (c *Connector) graphQLErrors(ctx context.Context, conn connector.Connection, a answer) error {
	if len(a.Errors) == 0 || string(a.Errors) == "null" {
		return nil
	}
	var errs []gqlError
	if err := json.Unmarshal(a.Errors, &errs); err != nil {
		// A string, as HTTP errors carry.
		var s string
		_ = json.Unmarshal(a.Errors, &s)
		return &connector.Error{Kind: connector.ErrInvalid, Message: "Shopify refused the request: " + clip(s)}
	}
	if len(errs) == 0 {
		return nil
	}
	for _, e := range errs {
		if e.Extensions.Code == "THROTTLED" {
			wait := time.Second
			if cost := a.Extensions.Cost; cost != nil && cost.ThrottleStatus.RestoreRate > 0 {
				deficit := cost.RequestedQueryCost - cost.ThrottleStatus.CurrentlyAvailable
				wait = max(time.Duration(math.Ceil(deficit/cost.ThrottleStatus.RestoreRate*float64(time.Second))), time.Second)
			}
			c.hold(ctx, conn, wait)
			return &connector.Error{Kind: connector.ErrRateLimited, Status: http.StatusOK, Code: "THROTTLED", RetryAfter: wait,
				Message: "Shopify throttled the request: its cost was more than the store's API points left."}
		}
	}
	e := errs[0]
	switch e.Extensions.Code {
	case "ACCESS_DENIED":
		return &connector.Error{Kind: connector.ErrForbidden, Code: e.Extensions.Code,
			Message: "Shopify denied access: the app lacks a scope this needs (read_products, write_products, read_inventory, write_inventory); connect the store again to grant it."}
	case "INTERNAL_SERVER_ERROR":
		return &connector.Error{Kind: connector.ErrUnavailable, Code: e.Extensions.Code, Message: "Shopify failed with an internal error; try again later."}
	}
	return &connector.Error{Kind: connector.ErrInvalid, Code: e.Extensions.Code, Message: "Shopify refused the query: " + clip(e.Message)}
}

// statusError turns a non-200 answer into an error with an actionable
// message.
func statusError(resp *http.Response, body []byte) error {
	ce := &connector.Error{Status: resp.StatusCode}
	switch st := resp.StatusCode; {
	case st == http.StatusUnauthorized:
		ce.Kind = connector.ErrAuth
		ce.Message = "Shopify rejected the access token: the app was uninstalled from the store or its access was revoked. Connect the store again."
	case st == http.StatusPaymentRequired:
		ce.Kind = connector.ErrForbidden
		ce.Message = "The store is frozen (Shopify answered 402 Payment Required): its owner must settle the store's bill before the API answers again."
	case st == http.StatusLocked:
		ce.Kind = connector.ErrForbidden
		ce.Message = "The store is locked by Shopify (423 Locked): its owner must contact Shopify support."
	case st == http.StatusForbidden:
		ce.Kind = connector.ErrForbidden
		ce.Message = "Shopify refused the request (403): the app lacks the access scopes this needs; connect the store again to grant them."
	case st == http.StatusNotFound:
		ce.Kind = connector.ErrNotFound
		ce.Message = fmt.Sprintf("Shopify answered 404: there is no store at this address, or the Admin API version %s is no longer served. Check the store's myshopify.com URL.", APIVersion)
	case st == http.StatusTooManyRequests:
		ce.Kind = connector.ErrRateLimited
		ce.Message = "Shopify is rate limiting requests."
		ce.RetryAfter = retryAfter(resp.Header.Get("Retry-After"))
	case st >= 500:
		ce.Kind = connector.ErrUnavailable
		ce.Message = fmt.Sprintf("Shopify failed with HTTP %d; try again later.", st)
	default:
		var e struct {
			Errors any `json:"errors"`
		}
		_ = json.Unmarshal(body, &e)
		ce.Kind = connector.ErrInvalid
		ce.Message = fmt.Sprintf("Shopify answered HTTP %d", st)
		if s, ok := e.Errors.(string); ok && s != "" {
			ce.Message += ": " + clip(s)
		}
	}
	return ce
}

// retryAfter reads Retry-After's seconds (Shopify sends "2.0"); at least
// one second.
func retryAfter(v string) time.Duration {
	n, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || n <= 0 {
		return time.Second
	}
	return time.Duration(math.Min(n, 3600) * float64(time.Second))
}

// BlockedMessage is what a caller is told of a refused destination.
const BlockedMessage = "The store URL points at a private or reserved address, which Joinery does not connect to."

// transportError names what went wrong before Shopify could answer.
func transportError(err error) error {
	var blocked *safehttp.BlockedError
	switch {
	case errors.As(err, &blocked):
		slog.Warn("refused an outbound connection", "host", blocked.Host, "ip", blocked.IP, "port", blocked.Port, "reason", blocked.Reason)
		return &connector.Error{Kind: connector.ErrBlocked, Message: BlockedMessage, Err: err}
	case safehttp.IsTimeout(err):
		return &connector.Error{Kind: connector.ErrUnavailable, Message: "Shopify did not answer in time.", Err: err}
	case errors.Is(err, safehttp.ErrBodyTooLarge):
		return &connector.Error{Kind: connector.ErrTooLarge, Message: "Shopify's answer was larger than Joinery reads in one answer.", Err: err}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return &connector.Error{Kind: connector.ErrUnavailable, Message: "The call to Shopify was cut short.", Err: err}
	}
	return &connector.Error{Kind: connector.ErrUnavailable, Message: "Could not reach the store: check its myshopify.com URL and your network.", Err: err}
}

// clip shortens a platform message before it is shown.
func clip(s string) string {
	const n = 300
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// TestConnection reads the shop's name. Every failure is a result saying
// what to do.
func (c *Connector) TestConnection(ctx context.Context, conn connector.Connection) (connector.TestResult, error) {
	res, err := c.call(ctx, conn, `{ shop { name myshopifyDomain } }`, nil, 1)
	if err != nil {
		var ce *connector.Error
		if !errors.As(err, &ce) {
			return connector.TestResult{}, err
		}
		status := integration.ConnectionError
		if ce.Kind == connector.ErrAuth {
			status = integration.ConnectionReauthorizationNeeded
		}
		details := map[string]any{"http_status": ce.Status, "api_version": APIVersion}
		if ce.Code != "" {
			details["shopify_code"] = ce.Code
		}
		return connector.TestResult{OK: false, Status: status, Message: ce.Message, Details: details}, nil
	}
	var d struct {
		Shop *struct {
			Name            string `json:"name"`
			MyshopifyDomain string `json:"myshopifyDomain"`
		} `json:"shop"`
	}
	if err := json.Unmarshal(res.data, &d); err != nil || d.Shop == nil {
		return connector.TestResult{OK: false, Status: integration.ConnectionError, Message: "Shopify answered, but not with the store: is this a myshopify.com store URL?"}, nil
	}
	return connector.TestResult{OK: true, Status: integration.ConnectionConnected,
		Message: fmt.Sprintf("Connected to the Shopify store %s (%s).", d.Shop.Name, d.Shop.MyshopifyDomain),
		Details: map[string]any{"shop": map[string]any{"name": d.Shop.Name, "myshopify_domain": d.Shop.MyshopifyDomain}, "api_version": APIVersion}}, nil
}

// Structure is the one model Shopify syncs.
func (c *Connector) Structure(context.Context, connector.Connection) (connector.Structure, error) {
	return connector.Structure{ContentTypes: []connector.ContentType{{Name: integration.ModelProduct, Label: "Products"}}, Taxonomies: []connector.Taxonomy{}}, nil
}

// Models are the models Shopify syncs.
func (c *Connector) Models() []string { return []string{integration.ModelProduct} }
