package apigw

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net/url"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/joinery/joinery/pkg/integration"
)

// A cursor the API hands out is the store's own cursor in a signed
// envelope: base64url(version ‖ store cursor ‖ HMAC-SHA256 truncated to
// 16 bytes). The MAC covers the account, the route, its path parameters
// and every query parameter but cursor and limit (the listing's filters),
// so a cursor cannot be forged, altered or used on another listing; the
// store never sees one that it did not issue for the same query.
const (
	cursorVersion  = 1
	cursorMACBytes = 16
	// cursorKeysTTL is how long keys read are kept: a rotation is seen
	// within it.
	cursorKeysTTL = 5 * time.Minute
	// cursorKeysRecheck: a cursor no kept key verifies makes the keys be
	// read again (it may be signed with a key newer than ours), at most
	// this often.
	cursorKeysRecheck = 5 * time.Second
	// emptyPageBudget bounds how long a listing reads on past empty pages.
	emptyPageBudget = 5 * time.Second
)

// Cursors signs and verifies the API's cursors with the keys of Keys,
// read on first use and kept for a few minutes.
type Cursors struct {
	Keys integration.CursorKeys
	// Now is the clock the previous key's grace period is judged on
	// (nil: time.Now).
	Now func() time.Time

	mu       sync.Mutex
	set      *integration.CursorKeySet
	loadedAt time.Time
}

func (c *Cursors) now() time.Time {
	if c.Now == nil {
		return time.Now()
	}
	return c.Now()
}

// keys returns the kept keys, read again when older than the TTL, or
// when refresh and older than cursorKeysRecheck (then reloaded says so).
func (c *Cursors) keys(ctx context.Context, refresh bool) (set integration.CursorKeySet, reloaded bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	age := now.Sub(c.loadedAt)
	if c.set != nil && age < cursorKeysTTL && (!refresh || age < cursorKeysRecheck) {
		return *c.set, false, nil
	}
	got, err := c.Keys.CursorKeys(ctx)
	if err != nil {
		return integration.CursorKeySet{}, false, fmt.Errorf("read cursor keys: %w", err)
	}
	if len(got.Current) < integration.MinCursorKeyBytes {
		return integration.CursorKeySet{}, false, fmt.Errorf("the cursor key is shorter than %d bytes", integration.MinCursorKeyBytes)
	}
	c.set, c.loadedAt = &got, now
	return got, true, nil
}

// cursorScope is the listing a cursor belongs to.
type cursorScope struct {
	account, route string
	path, filters  string // canonical: url.Values.Encode sorts by key
}

func scopeOf(route string, actor integration.Actor, req events.APIGatewayV2HTTPRequest) cursorScope {
	path := url.Values{}
	for k, v := range req.PathParameters {
		path.Set(k, v)
	}
	filters := url.Values{}
	for k, v := range req.QueryStringParameters {
		if k != "cursor" && k != "limit" {
			filters.Set(k, v)
		}
	}
	return cursorScope{account: actor.AccountID, route: route, path: path.Encode(), filters: filters.Encode()}
}

func cursorMAC(key []byte, s cursorScope, raw []byte) []byte {
	m := hmac.New(sha256.New, key)
	field := func(b []byte) {
		m.Write(binary.AppendUvarint(nil, uint64(len(b))))
		m.Write(b)
	}
	field([]byte("joinery cursor"))
	field([]byte{cursorVersion})
	field([]byte(s.account))
	field([]byte(s.route))
	field([]byte(s.path))
	field([]byte(s.filters))
	field(raw)
	return m.Sum(nil)[:cursorMACBytes]
}

// seal wraps the store's cursor raw for the listing s.
func (c *Cursors) seal(ctx context.Context, s cursorScope, raw string) (string, error) {
	set, _, err := c.keys(ctx, false)
	if err != nil {
		return "", err
	}
	b := make([]byte, 0, 1+len(raw)+cursorMACBytes)
	b = append(b, cursorVersion)
	b = append(b, raw...)
	b = append(b, cursorMAC(set.Current, s, []byte(raw))...)
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func badCursor() error {
	return integration.Invalid(map[string]string{"cursor": "is not a cursor of this listing (cursors belong to the listing and filters that returned them): list again without it"})
}

// open verifies a cursor of the listing s and returns the store's cursor
// in it: signed with the current key, or with the previous one within a
// day of the rotation.
func (c *Cursors) open(ctx context.Context, s cursorScope, token string) (string, error) {
	if len(token) > maxCursorBytes {
		return "", badCursor()
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(b) < 1+1+cursorMACBytes || b[0] != cursorVersion {
		return "", badCursor()
	}
	raw, mac := b[1:len(b)-cursorMACBytes], b[len(b)-cursorMACBytes:]
	for refresh := false; ; refresh = true {
		set, reloaded, err := c.keys(ctx, refresh)
		if err != nil {
			return "", err
		}
		if hmac.Equal(mac, cursorMAC(set.Current, s, raw)) {
			return string(raw), nil
		}
		if set.Previous != nil && c.now().Before(set.RotatedAt.Add(integration.CursorKeyGrace)) &&
			hmac.Equal(mac, cursorMAC(set.Previous, s, raw)) {
			return string(raw), nil
		}
		if refresh || reloaded {
			return "", badCursor()
		}
	}
}

// memoryKeys is one key made up at start, for an API built without
// Cursors (tests, a single process): its cursors do not outlive it.
type memoryKeys struct{ key []byte }

func (m memoryKeys) CursorKeys(context.Context) (integration.CursorKeySet, error) {
	return integration.CursorKeySet{Current: m.key}, nil
}

var (
	processCursorsOnce sync.Once
	processCursors     *Cursors
)

func (a *API) cursors() *Cursors {
	if a.Cursors != nil {
		return a.Cursors
	}
	processCursorsOnce.Do(func() {
		key := make([]byte, 32)
		_, _ = rand.Read(key)
		processCursors = &Cursors{Keys: memoryKeys{key}}
	})
	return processCursors
}

type scopeKey struct{}

// openCursor binds the request to its listing: its cursor, if any, is
// verified and replaced by the store's, and the listing is kept in the
// context for the next page's cursor. A route that lists nothing refuses
// a cursor as a listing would.
func (a *API) openCursor(ctx context.Context, route string, actor integration.Actor, req events.APIGatewayV2HTTPRequest) (context.Context, events.APIGatewayV2HTTPRequest, error) {
	s := scopeOf(route, actor, req)
	if token := req.QueryStringParameters["cursor"]; token != "" {
		raw, err := a.cursors().open(ctx, s, token)
		if err != nil {
			return ctx, req, err
		}
		q := make(map[string]string, len(req.QueryStringParameters))
		for k, v := range req.QueryStringParameters {
			q[k] = v
		}
		q["cursor"] = raw
		req.QueryStringParameters = q
	}
	return context.WithValue(ctx, scopeKey{}, s), req, nil
}

// page reads one page of a listing: read is given the store's cursor
// (the request's, opened by route) and returns how many items it read
// and the store's next cursor. A page read empty that has a next one is
// read on (items hidden from the caller, a filter matching nothing for a
// stretch), so that an empty page is the end of a listing — unless the
// listing has read on for emptyPageBudget (or half the time left), when
// the empty page is answered with its cursor. It returns the next page's
// cursor, sealed ("" on the last page).
func (a *API) page(ctx context.Context, cursor string, read func(cursor string) (n int, next string, err error)) (string, error) {
	s, ok := ctx.Value(scopeKey{}).(cursorScope)
	if !ok {
		return "", fmt.Errorf("a listing outside route: no cursor scope")
	}
	budget := emptyPageBudget
	if dl, ok := ctx.Deadline(); ok {
		budget = min(budget, time.Until(dl)/2)
	}
	start := time.Now()
	for {
		n, next, err := read(cursor)
		if err != nil {
			return "", err
		}
		if next == "" {
			return "", nil
		}
		if n > 0 || next == cursor || time.Since(start) >= budget {
			return a.cursors().seal(ctx, s, next)
		}
		cursor = next
	}
}
