package connector

import (
	"context"
	"net/http"
	"time"

	"github.com/joinery/joinery/pkg/integration"
)

// Connection is what a connector needs to call a platform for one
// integration. HTTP is the SSRF-safe client every connector must use.
type Connection struct {
	SiteURL     string
	Config      map[string]any
	Credentials map[string]string
	HTTP        *http.Client
	// Budget is the integration's shared budget of a cost-based
	// platform's points (nil: none), the same for every worker.
	Budget CostBudget
}

// CostBudget is a cost-based platform's points for one integration
// (Shopify's GraphQL Admin API), kept where every worker of every process
// draws on the same points, so Joinery waits before the platform would
// throttle it rather than after.
type CostBudget interface {
	// Take waits until n points of a bucket holding at most burst and
	// refilling at rate points a second are the caller's.
	Take(ctx context.Context, n int, rate float64, burst int) error
	// Hold lets nobody take points before until (after a throttle).
	Hold(ctx context.Context, until time.Time) error
}

// TestResult is the outcome of a connection test. A failed test is a
// result, not an error: Message says what is wrong and what to do.
type TestResult struct {
	OK      bool
	Status  integration.ConnectionStatus
	Message string
	Details map[string]any
}

// ContentType is a model a platform exposes (a WordPress post type).
type ContentType struct {
	Name       string   `json:"name"`
	Label      string   `json:"label"`
	RESTBase   string   `json:"rest_base,omitempty"`
	Taxonomies []string `json:"taxonomies,omitempty"`
	Count      *int     `json:"count,omitempty"`
}

// Taxonomy is a grouping of terms (a WordPress taxonomy).
type Taxonomy struct {
	Name     string   `json:"name"`
	Label    string   `json:"label"`
	RESTBase string   `json:"rest_base,omitempty"`
	Types    []string `json:"types,omitempty"`
}

// Structure is what a platform holds: its content types and taxonomies.
type Structure struct {
	ContentTypes []ContentType `json:"post_types"`
	Taxonomies   []Taxonomy    `json:"taxonomies"`
}

// ListRequest asks for one page of a model.
type ListRequest struct {
	Model string
	// Page is the connector's own page token; "" is the first page.
	Page string
	// ModifiedAfter, when set, lists only items modified after it (an
	// incremental listing). Connectors include a safety overlap so items
	// modified in the same clock tick as the cursor are never missed.
	ModifiedAfter time.Time
	PageSize      int
}

// ListPage is one page of a model.
type ListPage struct {
	Records []integration.Record
	// NextPage is the token of the next page, "" on the last one.
	NextPage string
	// Total and TotalPages are -1 when the platform does not say.
	Total      int
	TotalPages int
	// Failed are the page's items that could not be read, each with its
	// id (when it could be read) and why; the rest of the page is usable.
	Failed []ItemFailure
	// MaxModified is the newest modification time on the page. It is not a
	// safe incremental cursor by itself (WordPress gives scheduled posts
	// future modification times): advance the cursor to when the listing
	// started.
	MaxModified time.Time
	// ServerTime is the platform's own clock when it answered (its Date
	// header; zero if it sent none). Incremental cursors come from it, so
	// a platform whose clock differs from Joinery's loses nothing.
	ServerTime time.Time
}

// Windowed is implemented by connectors whose listings are positions in a
// stable order (offset paging): the engine then reads a run's pages as
// windows of the listing, each after the first starting one item early,
// so it can tell when the listing shifted under the run.
type Windowed interface {
	// WindowToken is the page token of the window starting at offset; its
	// size is ListRequest.PageSize.
	WindowToken(offset int) string
	// MaxPageSize is the largest PageSize the platform allows.
	MaxPageSize() int
}

// IDLister is implemented by connectors that can list just the ids of a
// page, so an item too large to read can still be named.
type IDLister interface {
	ListIDs(ctx context.Context, c Connection, req ListRequest) ([]string, error)
}

// Getter is implemented by connectors that can read one item, so items a
// run could not read are read again on later runs. ErrNotFound: it is gone.
type Getter interface {
	Get(ctx context.Context, c Connection, model, externalID string) (integration.Record, error)
}

// ItemFailure is one item of a page that could not be read.
type ItemFailure struct {
	ExternalID string
	Message    string
}

// Connector talks to one platform.
type Connector interface {
	TestConnection(ctx context.Context, c Connection) (TestResult, error)
	Structure(ctx context.Context, c Connection) (Structure, error)
	// Models lists the models this connector syncs, in sync order.
	Models() []string
	List(ctx context.Context, c Connection, req ListRequest) (ListPage, error)
	// Create, Update and Delete change one item. Records carry terms by id;
	// a FeaturedImage with a URL and no ExternalID is uploaded first.
	Create(ctx context.Context, c Connection, r integration.Record) (integration.Record, error)
	Update(ctx context.Context, c Connection, r integration.Record) (integration.Record, error)
	// Delete trashes an item, or removes it for good when force is set.
	Delete(ctx context.Context, c Connection, model, externalID string, force bool) error
}

// Error kinds a connector reports, so callers can retry, stop or re-auth
// without knowing the platform.
type ErrorKind int

const (
	ErrOther       ErrorKind = iota
	ErrAuth                  // credentials wrong or revoked: stop, ask the user
	ErrForbidden             // authenticated but not allowed
	ErrNotFound              // the item or endpoint does not exist
	ErrRateLimited           // 429: retry after RetryAfter
	ErrUnavailable           // 5xx, timeouts, connection failures: retry later
	ErrInvalid               // the platform rejected the data
	ErrBlocked               // the SSRF-safe client refused the address
	ErrTooLarge              // the answer was larger than Joinery reads: ask for less
)

// Error is a connector failure with a kind and a message safe to show.
type Error struct {
	Kind       ErrorKind
	Status     int           // HTTP status, if any
	Code       string        // the platform's error code, if any
	Message    string        // safe to show: no credentials, no response bodies
	RetryAfter time.Duration // for ErrRateLimited
	Err        error
}

func (e *Error) Error() string { return e.Message }
func (e *Error) Unwrap() error { return e.Err }
