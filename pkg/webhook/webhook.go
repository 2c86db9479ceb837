// Package webhook verifies and parses the webhook deliveries platforms send
// to Joinery, each by its platform's documented scheme. It holds no state
// and calls nothing: the receiver finds the keys a delivery needs, and this
// package says whether the delivery is genuine and what it carries.
package webhook

import (
	"errors"
	"net/http"
	"time"
)

// Request is one inbound delivery as received, before anything is trusted.
type Request struct {
	Method string
	// Path is the request path: /webhooks/{platform} or
	// /webhooks/{platform}/{hook_id}.
	Path   string
	Header http.Header // canonical keys
	Body   []byte      // the raw body, exactly as received
}

// Keys is what verifying one delivery needs. The receiver fills what the
// platform's scheme uses and leaves the rest empty; an empty key a scheme
// needs fails verification, never passes it.
type Keys struct {
	// AppSecret is the deployment's secret for the platform (Shopify and
	// TikTok client secret, Slack signing secret, Trello app secret, Jira
	// client secret for Connect JWTs).
	AppSecret string
	// HookSecret is the per-registration secret: WordPress's whsec_
	// webhook secret, a Jira admin webhook's secret.
	HookSecret string
	// HookID is the registration's hook id (Jira, Trello, WordPress),
	// compared in constant time with the path's.
	HookID string
	// HookIDHash is a hook id stored as its SHA-256 (hex, see Hash), as
	// secret hook ids (Jira, Trello) are: the path's hook id must hash to
	// it. Either HookID or HookIDHash is enough; with both, both must match.
	HookIDHash string
	// TokenHash is the SHA-256 (hex) of a Google channel's token as stored.
	TokenHash string
	// CallbackURL is a Trello webhook's callback URL exactly as stored at
	// registration.
	CallbackURL string
}

// Delivery is what a verified request carries: enough to dedupe, route
// and queue it, never the body.
type Delivery struct {
	Platform string
	// HookID is the path's hook id ("" when the platform posts to one URL).
	HookID string
	// ID is the platform's delivery id, the dedupe key within the platform.
	ID string
	// Event is the platform's event type (Shopify topic, Slack event type,
	// WordPress action...).
	Event string
	// Account is the routing key of a platform that posts every account's
	// events to one URL: Shopify shop domain, Slack team id, TikTok
	// open_id, Google channel id. Empty when routing is by HookID.
	Account string
	// Model and ObjectIDs name what the event concerns (WordPress: the post
	// type and the post id), when the body says.
	Model     string
	ObjectIDs []string
	// Reply, when not nil, is the answer a handshake asks for (Slack's
	// url_verification challenge); such a delivery is answered and not
	// queued. ReplyType is its Content-Type.
	Reply     []byte
	ReplyType string
	// Ack: the delivery is acknowledged and not queued (Google's sync
	// message, Trello's HEAD check).
	Ack bool
}

// Errors the receiver maps to answers: ErrUnauthorized → 401 (nothing
// queued), ErrBadRequest → 400.
var (
	ErrUnauthorized = errors.New("webhook: signature missing or invalid")
	ErrBadRequest   = errors.New("webhook: malformed delivery")
)

// Window is how far a signed timestamp may be from now (Slack, TikTok,
// Standard Webhooks).
const Window = 5 * time.Minute

// Scheme is one platform's verification and parsing.
type Scheme interface {
	// Locate reads, from the unverified request, what picks the keys: the
	// path's hook id, or Google's channel id header. It trusts nothing.
	Locate(r Request) (hookID, channelID string)
	// Verify checks the delivery against keys at now, in constant time;
	// ErrUnauthorized when it is not genuine.
	Verify(r Request, k Keys, now time.Time) error
	// Parse reads a verified delivery; ErrBadRequest when it is malformed.
	Parse(r Request) (Delivery, error)
}

// For returns the scheme of a platform, false for one without webhooks.
func For(platform string) (Scheme, bool) {
	s, ok := schemes[platform]
	return s, ok
}

// Platforms are the platforms that post webhooks to Joinery.
var Platforms = []string{"wordpress", "shopify", "slack", "tiktok", "google_calendar", "jira", "trello"}

var schemes = map[string]Scheme{
	"wordpress":       bounded{wordpressScheme{}},
	"shopify":         bounded{shopifyScheme{}},
	"slack":           bounded{slackScheme{}},
	"tiktok":          bounded{tiktokScheme{}},
	"google_calendar": bounded{googleScheme{}},
	"jira":            bounded{jiraScheme{}},
	"trello":          bounded{trelloScheme{}},
}
