package syncer

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/integration"
)

// Rates keeps each integration to its platform's rate (the catalog's
// RequestsPerSecond) across every worker of every process: requests draw
// tokens from a bucket in the store, a batch a store call, on top of the
// in-flight cap (Limits). A 429 with a Retry-After holds the bucket, so
// every worker of that integration waits it out, not only the one that
// was told.
type Rates struct {
	// Bucket is where the tokens are (nil: the engine's store).
	Bucket integration.RateBucket
	// Batch is how many tokens one store call takes (0: 2, about a page's
	// requests): one call a page, not one a request. Tokens a job leaves
	// unused are lost, which errs on the polite side.
	Batch int
	// MaxWait is the longest a request waits for tokens in the worker
	// (0: 10 s); a longer wait answers it as a 429 with that Retry-After,
	// so its job goes back to the queue instead of holding the worker.
	MaxWait time.Duration
	// Sleep waits d on the engine's clock (nil: a timer). Tests advance
	// their virtual clock instead.
	Sleep func(ctx context.Context, d time.Duration) error
}

// rateCatalog has the platforms' rate limits.
var rateCatalog = connector.NewCatalog()

// maxWaitRounds bounds a request's waits for tokens.
const maxWaitRounds = 20

// syntheticHeader marks a 429 the limiter answered itself.
const syntheticHeader = "X-Joinery-Rate-Limited"

// rateClient wraps hc so that it keeps to integration it's rate, shared
// through the store; hc unchanged when the catalog gives no rate.
func (e *Engine) rateClient(it *integration.Integration, hc *http.Client, requests int) *http.Client {
	if e.Rates == nil {
		return hc
	}
	entry, ok := rateCatalog.Entry(it.Platform)
	// A cost-based platform's connector keeps to its cost budget instead.
	if !ok || entry.RateLimit.RequestsPerSecond <= 0 || entry.RateLimit.CostBased {
		return hc
	}
	r := e.Rates
	bucket := r.Bucket
	if bucket == nil {
		bucket = e.Store
	}
	batch := r.Batch
	if batch <= 0 {
		batch = 2
	}
	if requests > 0 {
		batch = min(batch, requests)
	}
	rate := entry.RateLimit.RequestsPerSecond
	header := entry.RateLimit.RetryAfterHeader
	if header == "" {
		header = "Retry-After"
	}
	if hc == nil {
		hc = &http.Client{}
	}
	c := *hc
	next := hc.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	c.Transport = &rateLimited{next: next, e: e, bucket: bucket, key: "platform#" + it.ID, rate: rate,
		burst: max(batch, int(math.Ceil(rate))), batch: batch, header: header}
	return &c
}

type rateLimited struct {
	next   http.RoundTripper
	e      *Engine
	bucket integration.RateBucket
	key    string
	rate   float64
	burst  int
	batch  int
	header string

	mu     sync.Mutex
	tokens int // taken from the store and not yet used
}

func (l *rateLimited) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	wait, err := l.take(ctx)
	if err != nil {
		return nil, err
	}
	if wait > 0 {
		return tooSoon(req, wait), nil
	}
	resp, err := l.next.RoundTrip(req)
	if err == nil && resp.StatusCode == http.StatusTooManyRequests {
		if d := retryAfter(resp.Header.Get(l.header), l.e.now()); d > 0 {
			// Best effort: the job is retried after d in any case.
			_ = l.bucket.HoldTokens(ctx, l.key, l.e.now().Add(d))
		}
	}
	return resp, err
}

// take uses a token, from the job's batch or a new one; a wait longer
// than MaxWait is returned instead of waited.
func (l *rateLimited) take(ctx context.Context) (time.Duration, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	maxWait := l.e.Rates.MaxWait
	if maxWait <= 0 {
		maxWait = 10 * time.Second
	}
	for range maxWaitRounds {
		if l.tokens > 0 {
			l.tokens--
			return 0, nil
		}
		granted, wait, err := l.bucket.TakeTokens(ctx, l.key, l.batch, l.rate, l.burst, l.e.now())
		if err != nil {
			return 0, fmt.Errorf("rate limit: %w", err)
		}
		if wait > maxWait {
			return wait, nil
		}
		if wait > 0 {
			if err := l.e.Rates.sleep(ctx, wait); err != nil {
				return 0, err
			}
		}
		if granted > 0 {
			// Reserved tokens are ours once the wait is over.
			l.tokens = granted - 1
			return 0, nil
		}
	}
	return maxWait, nil
}

func (r *Rates) sleep(ctx context.Context, d time.Duration) error {
	if r.Sleep != nil {
		return r.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// tooSoon is the 429 a platform would give: the connector turns it into a
// rate-limited error, and the job is retried after wait.
func tooSoon(req *http.Request, wait time.Duration) *http.Response {
	secs := strconv.Itoa(int(math.Ceil(wait.Seconds())))
	h := http.Header{"Retry-After": {secs}, syntheticHeader: {"1"}, "Content-Type": {"application/json"}}
	body := `{"code":"rate_limited","message":"Joinery is keeping to the platform's rate limit."}`
	return &http.Response{StatusCode: http.StatusTooManyRequests, Status: "429 Too Many Requests", Header: h, Request: req,
		Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body)), Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}
}

// retryAfter reads a Retry-After value: seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseFloat(v, 64); err == nil {
		if n <= 0 {
			return 0
		}
		return time.Duration(math.Min(n, 3600) * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return min(t.Sub(now), time.Hour)
	}
	return 0
}
