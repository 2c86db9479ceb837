package shopify

import (
	"context"
	"math"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/joinery/joinery/pkg/connector"
)

// The Admin API's cost-based limit (shopify.dev/docs/api/usage/limits):
// each app and store pair has a bucket of points (maximumAvailable) that
// refills at restoreRate a second; a query is refused (THROTTLED) when its
// requested cost is more than the points left. Every answer says where the
// bucket stands (extensions.cost.throttleStatus), so Joinery learns each
// store's numbers from the last answer and, before each call, takes the
// call's expected cost from the integration's budget, which every worker
// shares (connector.Connection.Budget).
const (
	// defaultBucket and defaultRestore are the Standard plan's numbers,
	// used until a store's first answer says its own.
	defaultBucket  = 2000
	defaultRestore = 100
	// maxQueryCost is the most one query may request.
	maxQueryCost = 1000
	// connectionCost is what a connection adds beside its nodes.
	connectionCost = 2
)

// shopLimits are what a store's answers said of its bucket, kept per
// store: the limit is per app and store, and every integration of the
// store in this process shares what was learnt.
type shopLimits struct {
	mu       sync.Mutex
	bucket   float64 // maximumAvailable
	restore  float64 // restoreRate
	itemCost float64 // a listed product's requested cost, learnt; 0: the estimate
}

func (c *Connector) limitsOf(conn connector.Connection) *shopLimits {
	key := conn.SiteURL
	if u, err := url.Parse(conn.SiteURL); err == nil && u.Host != "" {
		key = strings.ToLower(u.Host)
	}
	v, _ := c.limits.LoadOrStore(key, &shopLimits{bucket: defaultBucket, restore: defaultRestore})
	return v.(*shopLimits)
}

func (l *shopLimits) get() (bucket, restore float64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.bucket, l.restore
}

// take waits until cost points of the integration's budget are the
// caller's. A cost above the bucket takes the whole bucket.
func (c *Connector) take(ctx context.Context, conn connector.Connection, l *shopLimits, cost int) error {
	if conn.Budget == nil {
		return nil
	}
	bucket, restore := l.get()
	n := min(max(cost, 1), int(bucket))
	return conn.Budget.Take(ctx, n, restore, int(bucket))
}

// learn keeps the store's numbers from an answer, and, when the store has
// fewer points left than that call requested (other apps' calls, or
// another process's), holds the budget until it has them again: the next
// call of that size is then not throttled.
func (c *Connector) learn(ctx context.Context, conn connector.Connection, l *shopLimits, cost queryCost) {
	ts := cost.ThrottleStatus
	l.mu.Lock()
	if ts.MaximumAvailable > 0 {
		l.bucket = ts.MaximumAvailable
	}
	if ts.RestoreRate > 0 {
		l.restore = ts.RestoreRate
	}
	restore := l.restore
	l.mu.Unlock()
	if deficit := cost.RequestedQueryCost - ts.CurrentlyAvailable; deficit > 0 && restore > 0 && ts.MaximumAvailable > 0 {
		c.hold(ctx, conn, time.Duration(math.Ceil(deficit/restore*float64(time.Second))))
	}
}

// hold lets no worker of the integration take points for d.
func (c *Connector) hold(ctx context.Context, conn connector.Connection, d time.Duration) {
	if conn.Budget == nil || d <= 0 {
		return
	}
	// Best effort: the call that was told waits in any case.
	_ = conn.Budget.Hold(ctx, c.now().Add(d))
}

// learnItemCost keeps a listed product's requested cost from a page of
// first products.
func (l *shopLimits) learnItemCost(requested float64, first int) {
	if requested <= connectionCost || first <= 0 {
		return
	}
	l.mu.Lock()
	l.itemCost = (requested - connectionCost) / float64(first)
	l.mu.Unlock()
}

// pageSize is how many products one listing asks for: as many as keep its
// requested cost at most half the store's bucket (and under the per-query
// maximum), so a page never waits for a full bucket and other calls fit
// beside it; at most asked (0: any) and 250, Shopify's largest page.
func (l *shopLimits) pageSize(asked int) int {
	l.mu.Lock()
	bucket, item := l.bucket, l.itemCost
	l.mu.Unlock()
	if item <= 0 {
		item = estimatedItemCost
	}
	limit := math.Min(bucket/2, maxQueryCost)
	n := int((limit - connectionCost) / item)
	n = min(max(n, 1), 250)
	if asked > 0 {
		n = min(n, asked)
	}
	return n
}

// pageCost is the expected requested cost of a page of first products.
func (l *shopLimits) pageCost(first int) int {
	l.mu.Lock()
	item := l.itemCost
	l.mu.Unlock()
	if item <= 0 {
		item = estimatedItemCost
	}
	return int(math.Ceil(connectionCost + float64(first)*item))
}
