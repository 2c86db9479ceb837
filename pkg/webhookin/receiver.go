// Package webhookin receives the webhooks platforms post to Joinery's
// function URLs: it finds the keys a delivery needs, has the platform's
// scheme verify it before anything else is done with it, dedupes it by
// the platform's delivery id without ever losing one, routes it to the
// integrations it concerns and queues one small job each, and answers
// fast. Processing the jobs is the sync engine's.
package webhookin

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/joinery/joinery/pkg/integration"
	"github.com/joinery/joinery/pkg/syncer"
	"github.com/joinery/joinery/pkg/webhook"
)

// MaxBodyBytes is the largest body verified: every body a function URL
// can hand a Lambda (its payload limit is 6 MB) is verified in full.
const MaxBodyBytes = 6 << 20

// StaleAfter is how long a delivery's marker may stay pending before a
// redelivery takes it over: its enqueue was lost.
const StaleAfter = 30 * time.Second

// MarkerTTL is how long a delivery id is remembered: longer than any
// platform retries (TikTok: 72 hours; Shopify: 4 hours; Google, Jira,
// Trello, Slack: less).
const MarkerTTL = 7 * 24 * time.Hour

// maxRoutes bounds the integrations one delivery is queued for (the same
// Slack team or shop connected by several accounts).
const maxRoutes = 25

// maxJobBytes keeps a queued job well under SQS's limits and free of
// tenant content: only ids.
const maxJobBytes = 8 << 10

// Store is what the receiver reads and writes in the table.
type Store interface {
	integration.WebhookStore
	GetIntegration(ctx context.Context, accountID, id string) (*integration.Integration, error)
}

// SecretReader reads one version of an integration's secret.
type SecretReader interface {
	GetSecret(ctx context.Context, name, versionID string) (map[string]string, error)
}

// Receiver answers the webhook deliveries of its platforms.
type Receiver struct {
	// Platforms are the platforms served ("": every platform with a
	// scheme). A Lambda serves one.
	Platforms []string
	Store     Store
	Secrets   SecretReader
	Apps      integration.Apps // nil: no app credentials
	Queue     integration.Queue
	Log       *slog.Logger
	// Now is the clock (default time.Now); tests move it.
	Now func() time.Time
	// Schemes finds a platform's scheme (default webhook.For).
	Schemes func(platform string) (webhook.Scheme, bool)

	// secrets caches secret versions: a version never changes, so it is
	// kept until the cache is full (then it starts over).
	mu      sync.Mutex
	cache   map[string]map[string]string
	unknown atomic.Int64
}

// Unrouted is how many verified deliveries concerned no known
// integration since the receiver started.
func (rc *Receiver) Unrouted() int64 { return rc.unknown.Load() }

// maxCached bounds the secret cache.
const maxCached = 4096

// HandleURL is the Lambda handler of a function URL.
func (rc *Receiver) HandleURL(ctx context.Context, ev events.LambdaFunctionURLRequest) (events.LambdaFunctionURLResponse, error) {
	body := []byte(ev.Body)
	if ev.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(ev.Body)
		if err != nil {
			return answer(http.StatusBadRequest, "invalid", "The body is not valid base64."), nil
		}
		body = b
	}
	h := make(http.Header, len(ev.Headers))
	for k, v := range ev.Headers {
		h.Set(k, v)
	}
	path := ev.RawPath
	if path == "" {
		path = ev.RequestContext.HTTP.Path
	}
	return rc.Handle(ctx, webhook.Request{Method: ev.RequestContext.HTTP.Method, Path: path, Header: h, Body: body}), nil
}

// Outcome names what became of a delivery, in a 200's body.
const (
	outcomeQueued    = "queued"
	outcomeDuplicate = "duplicate"
	outcomeUnrouted  = "unrouted"
	outcomeAnswered  = "answered"
)

// Handle answers one delivery.
func (rc *Receiver) Handle(ctx context.Context, r webhook.Request) events.LambdaFunctionURLResponse {
	platform, hookID, ok := splitPath(r.Path)
	if !ok || !rc.serves(platform) {
		return answer(http.StatusNotFound, "not_found", "No such webhook endpoint.")
	}
	find := rc.Schemes
	if find == nil {
		find = webhook.For
	}
	scheme, ok := find(platform)
	if !ok {
		return answer(http.StatusNotFound, "not_found", "No such webhook endpoint.")
	}
	// Trello checks a callback URL with a HEAD when a webhook is created.
	if r.Method == http.MethodHead && platform == "trello" {
		return events.LambdaFunctionURLResponse{StatusCode: http.StatusOK}
	}
	if r.Method != http.MethodPost {
		return answer(http.StatusNotFound, "not_found", "No such webhook endpoint.")
	}
	if len(r.Body) > MaxBodyBytes {
		return answer(http.StatusRequestEntityTooLarge, "too_large", "The body is over 6 MB.")
	}
	now := rc.now()
	log := rc.log().With("platform", platform)

	located, channelID := scheme.Locate(r)
	if located == "" {
		located = hookID
	}
	keys, route, err := rc.keys(ctx, platform, located, channelID, now)
	if err != nil {
		log.ErrorContext(ctx, "webhook keys", "err", err)
		return internal()
	}
	if err := scheme.Verify(r, keys, now); err != nil {
		if route != nil {
			rc.count(ctx, log, *route, true, now)
		}
		log.WarnContext(ctx, "webhook refused", "known", route != nil)
		return answer(http.StatusUnauthorized, "unauthorized", "The webhook's signature is missing or invalid.")
	}
	d, err := scheme.Parse(r)
	if err != nil {
		log.WarnContext(ctx, "webhook malformed", "err", err)
		return answer(http.StatusBadRequest, "invalid", "The webhook's body is malformed.")
	}
	if d.Reply != nil {
		typ := d.ReplyType
		if typ == "" {
			typ = "application/json"
		}
		return events.LambdaFunctionURLResponse{StatusCode: http.StatusOK, Headers: map[string]string{"Content-Type": typ}, Body: string(d.Reply)}
	}
	if d.Ack {
		return ok200(outcomeAnswered)
	}
	if d.ID == "" {
		return answer(http.StatusBadRequest, "invalid", "The webhook carries no delivery id.")
	}
	var routes []integration.WebhookRoute
	if route != nil {
		routes = []integration.WebhookRoute{*route}
	} else if d.Account != "" {
		found, err := rc.Store.WebhookRoutes(ctx, platform, d.Account, maxRoutes)
		if err != nil {
			log.ErrorContext(ctx, "webhook routes", "err", err)
			return internal()
		}
		for _, rt := range found {
			if rt.Expires.IsZero() || rt.Expires.After(now) {
				routes = append(routes, rt)
			}
		}
	}
	if len(routes) == 0 {
		// Answered 200 so the platform stops sending it; the body is not
		// logged.
		rc.unknown.Add(1)
		log.InfoContext(ctx, "webhook for no integration", "event", d.Event, "delivery_id", d.ID)
		return ok200(outcomeUnrouted)
	}

	key := platform + "#" + d.ID
	prev, claimed, err := rc.Store.ClaimDelivery(ctx, integration.DeliveryMarker{Key: key, State: integration.DeliveryPending, At: now, Expires: now.Add(MarkerTTL)}, StaleAfter)
	if err != nil {
		log.ErrorContext(ctx, "claim webhook delivery", "err", err)
		return internal()
	}
	if !claimed {
		if prev != nil && prev.State == integration.DeliveryQueued {
			return ok200(outcomeDuplicate)
		}
		// Another receiver is queueing it now. If that fails, the
		// platform's next retry, after StaleAfter, takes it over.
		return answer(http.StatusConflict, "conflict", "This delivery is being queued; send it again later.")
	}
	msgs := make([]integration.Message, 0, len(routes))
	for _, rt := range routes {
		b, err := jobBody(rt, platform, d, now)
		if err != nil {
			log.ErrorContext(ctx, "webhook job", "err", err)
			return internal()
		}
		msgs = append(msgs, integration.Message{Body: string(b), Group: group(rt.AccountID)})
	}
	if err := rc.Queue.Send(ctx, msgs); err != nil {
		// The marker stays pending: a retry after StaleAfter queues it.
		log.ErrorContext(ctx, "queue webhook", "err", err, "delivery_id", d.ID)
		return internal()
	}
	if err := rc.Store.MarkDeliveryQueued(ctx, key, now); err != nil {
		// Queued all the same; at worst a late redelivery is queued
		// again, and processing is idempotent per delivery id.
		log.WarnContext(ctx, "mark webhook delivery queued", "err", err, "delivery_id", d.ID)
	}
	for _, rt := range routes {
		rc.count(ctx, log, rt, false, now)
	}
	return ok200(outcomeQueued)
}

// keys finds what verifying a delivery needs, and the route of a platform
// whose URL or header names the registration. A registration that is not
// known gets empty keys: verification fails.
func (rc *Receiver) keys(ctx context.Context, platform, hookID, channelID string, now time.Time) (webhook.Keys, *integration.WebhookRoute, error) {
	var k webhook.Keys
	app := func(field string) (string, error) {
		if rc.Apps == nil {
			return "", nil
		}
		v, err := rc.Apps.App(ctx, platform)
		if integration.ErrorCode(err) == integration.EUNPROCESSABLE {
			return "", nil // not configured: nothing verifies
		}
		if err != nil {
			return "", err
		}
		return v[field], nil
	}
	var err error
	switch platform {
	case "shopify", "tiktok":
		k.AppSecret, err = app("client_secret")
		return k, nil, err
	case "slack":
		k.AppSecret, err = app("signing_secret")
		return k, nil, err
	case "google_calendar":
		rt, err := rc.route(ctx, platform, channelID, now)
		if err != nil || rt == nil {
			return k, nil, err
		}
		k.TokenHash = rt.TokenHash
		return k, rt, nil
	case "jira":
		// Jira's hook ids are secrets: the route is found by their hash,
		// so finding it is the comparison.
		rt, err := rc.route(ctx, platform, HashHookID(hookID), now)
		if err != nil || rt == nil {
			return k, nil, err
		}
		k.HookIDHash = rt.Key
		if k.AppSecret, err = app("client_secret"); err != nil {
			return k, nil, err
		}
		if k.HookSecret, err = app("webhook_secret"); err != nil {
			return k, nil, err
		}
		return k, rt, nil
	case "trello":
		rt, err := rc.route(ctx, platform, HashHookID(hookID), now)
		if err != nil || rt == nil {
			return k, nil, err
		}
		k.HookIDHash, k.CallbackURL = rt.Key, rt.CallbackURL
		// Trello signs with the secret of the integration's API key.
		if k.AppSecret, err = rc.integrationSecret(ctx, *rt); err != nil {
			return k, nil, err
		}
		return k, rt, nil
	case "wordpress":
		// The hook id is the integration's id; its secret is the
		// integration's webhook secret, never anything from the body.
		rt, err := rc.route(ctx, platform, hookID, now)
		if err != nil || rt == nil {
			return k, nil, err
		}
		k.HookID = hookID
		if k.HookSecret, err = rc.integrationSecret(ctx, *rt); err != nil {
			return k, nil, err
		}
		return k, rt, nil
	}
	return k, nil, nil
}

// route is the one route of a registration key, nil when there is none
// (or it has expired).
func (rc *Receiver) route(ctx context.Context, platform, key string, now time.Time) (*integration.WebhookRoute, error) {
	if key == "" {
		return nil, nil
	}
	rts, err := rc.Store.WebhookRoutes(ctx, platform, key, 1)
	if err != nil {
		return nil, err
	}
	if len(rts) == 0 || (!rts[0].Expires.IsZero() && !rts[0].Expires.After(now)) {
		return nil, nil
	}
	return &rts[0], nil
}

// SecretField is where an integration's credentials keep its webhook
// secret (WordPress: the whsec_ secret; Trello: the API key's secret).
const SecretField = "webhook_secret"

// integrationSecret is the integration's webhook secret ("" when it has
// none, or is gone).
func (rc *Receiver) integrationSecret(ctx context.Context, rt integration.WebhookRoute) (string, error) {
	it, err := rc.Store.GetIntegration(ctx, rt.AccountID, rt.IntegrationID)
	if integration.ErrorCode(err) == integration.ENOTFOUND {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	ref := it.Credentials
	if !ref.HasCredentials() {
		return "", nil
	}
	cacheKey := ref.SecretName + "@" + ref.VersionID
	rc.mu.Lock()
	v, ok := rc.cache[cacheKey]
	rc.mu.Unlock()
	if ok {
		return v[SecretField], nil
	}
	v, err = rc.Secrets.GetSecret(ctx, ref.SecretName, ref.VersionID)
	if integration.ErrorCode(err) == integration.ENOTFOUND {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	// Only the webhook secret is kept in memory.
	kept := map[string]string{SecretField: v[SecretField]}
	rc.mu.Lock()
	if rc.cache == nil || len(rc.cache) >= maxCached {
		rc.cache = map[string]map[string]string{}
	}
	rc.cache[cacheKey] = kept
	rc.mu.Unlock()
	return kept[SecretField], nil
}

func (rc *Receiver) count(ctx context.Context, log *slog.Logger, rt integration.WebhookRoute, rejected bool, now time.Time) {
	if err := rc.Store.CountWebhook(ctx, rt.AccountID, rt.IntegrationID, rejected, now); err != nil {
		log.WarnContext(ctx, "count webhook", "err", err)
	}
}

// HashHookID is how a secret hook id (Jira, Trello) is stored as a
// route's key: its SHA-256, hex (webhook.Hash).
func HashHookID(hookID string) string {
	if hookID == "" {
		return ""
	}
	return webhook.Hash(hookID)
}

// jobBody is the queued job of one delivery for one integration: ids
// only, never the body, under maxJobBytes (object ids beyond are left
// out: the job still records the delivery).
func jobBody(rt integration.WebhookRoute, platform string, d webhook.Delivery, now time.Time) ([]byte, error) {
	ids := d.ObjectIDs
	for {
		job := syncer.Job{Kind: "webhook", AccountID: rt.AccountID, IntegrationID: rt.IntegrationID, JobID: "webhook/" + platform + "/" + d.ID,
			Webhook: &syncer.WebhookJob{Platform: platform, DeliveryID: d.ID, Event: d.Event, Model: d.Model, ObjectIDs: ids, ReceivedAt: now.UTC()}}
		b, err := json.Marshal(job)
		if err != nil || len(b) <= maxJobBytes {
			return b, err
		}
		if len(ids) == 0 {
			return nil, errors.New("a webhook job is over 8 KB without object ids")
		}
		ids = ids[:len(ids)/2]
	}
}

// group is the queue group of an account's jobs, as the sync engine's.
func group(accountID string) string {
	if accountID == "" || !integration.ValidGroup(accountID) {
		return "joinery"
	}
	return accountID
}

// splitPath reads /webhooks/{platform}[/{hook_id}], after any prefix (a
// CDN's origin path).
func splitPath(p string) (platform, hookID string, ok bool) {
	i := strings.Index(p, "/webhooks/")
	if i < 0 {
		return "", "", false
	}
	rest := p[i+len("/webhooks/"):]
	platform, hookID, _ = strings.Cut(rest, "/")
	if platform == "" || strings.Contains(hookID, "/") {
		return "", "", false
	}
	return platform, hookID, true
}

func (rc *Receiver) serves(platform string) bool {
	if len(rc.Platforms) == 0 {
		return true
	}
	for _, p := range rc.Platforms {
		if p == platform {
			return true
		}
	}
	return false
}

func (rc *Receiver) now() time.Time {
	if rc.Now == nil {
		return time.Now()
	}
	return rc.Now()
}

func (rc *Receiver) log() *slog.Logger {
	if rc.Log == nil {
		return slog.Default()
	}
	return rc.Log
}

func answer(status int, code, msg string) events.LambdaFunctionURLResponse {
	b, _ := json.Marshal(map[string]any{"error": map[string]string{"code": code, "message": msg}})
	return events.LambdaFunctionURLResponse{StatusCode: status, Headers: map[string]string{"Content-Type": "application/json", "Cache-Control": "no-store"}, Body: string(b)}
}

func internal() events.LambdaFunctionURLResponse {
	return answer(http.StatusInternalServerError, "internal", "Internal error.")
}

func ok200(outcome string) events.LambdaFunctionURLResponse {
	return events.LambdaFunctionURLResponse{StatusCode: http.StatusOK, Headers: map[string]string{"Content-Type": "application/json", "Cache-Control": "no-store"},
		Body: `{"status":"` + outcome + `"}`}
}
