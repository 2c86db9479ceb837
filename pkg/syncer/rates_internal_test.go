package syncer

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/embedded"
	"github.com/joinery/joinery/pkg/integration"
)

// virtualClock is the engines' shared clock: sleeping moves it on.
type virtualClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *virtualClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *virtualClock) Sleep(_ context.Context, d time.Duration) error {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
	return nil
}

// platformLog is the platform's side: when each request arrived, on the
// virtual clock, and what it answers.
type platformLog struct {
	mu     sync.Mutex
	clock  *virtualClock
	at     []time.Time
	answer func(n int) *http.Response // nil: 200
}

func (p *platformLog) RoundTrip(req *http.Request) (*http.Response, error) {
	p.mu.Lock()
	p.at = append(p.at, p.clock.Now())
	n := len(p.at)
	answer := p.answer
	p.mu.Unlock()
	if answer != nil {
		if resp := answer(n); resp != nil {
			resp.Request = req
			return resp, nil
		}
	}
	return &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("[]")), Request: req}, nil
}

// countingBucket counts the store calls.
type countingBucket struct {
	integration.RateBucket
	mu    sync.Mutex
	takes int
}

func (b *countingBucket) TakeTokens(ctx context.Context, key string, n int, rate float64, burst int, now time.Time) (int, time.Duration, error) {
	b.mu.Lock()
	b.takes++
	b.mu.Unlock()
	return b.RateBucket.TakeTokens(ctx, key, n, rate, burst, now)
}

// twoWorkers is one integration and two engines — two Lambda instances —
// sharing one store and one clock, each with its own in-process state.
func twoWorkers(t *testing.T) (engines [2]*Engine, it *integration.Integration, clock *virtualClock, platform *platformLog, bucket *countingBucket) {
	t.Helper()
	dir := t.TempDir()
	store, err := embedded.OpenStore(filepath.Join(dir, "joinery.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	secrets, err := embedded.OpenSecrets(filepath.Join(dir, "secrets"))
	if err != nil {
		t.Fatal(err)
	}
	clock = &virtualClock{t: time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)}
	platform = &platformLog{clock: clock}
	bucket = &countingBucket{RateBucket: store}
	svc := &integration.Service{Store: store, Secrets: secrets, Catalog: connector.NewCatalog(), Now: clock.Now}
	it, err = svc.Create(context.Background(), integration.Actor{Subject: "u", AccountID: "acct-1", Role: integration.RoleEditor},
		integration.CreateInput{SiteID: "site-1", Platform: "wordpress", ExternalSiteURL: "https://blog.example.com",
			Credentials: map[string]string{"username": "u", "app_password": "secret pass"}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range engines {
		engines[i] = &Engine{Integrations: svc, Store: store, Connectors: map[string]connector.Connector{"wordpress": nil},
			HTTP: &http.Client{Transport: platform}, Limits: &Limits{}, Now: clock.Now,
			Rates: &Rates{Bucket: bucket, Sleep: clock.Sleep}}
	}
	return engines, it, clock, platform, bucket
}

// client is the client a job of e gets for the integration's platform.
func client(t *testing.T, e *Engine, it *integration.Integration) *http.Client {
	t.Helper()
	c, _, err := e.conn(context.Background(), it)
	if err != nil {
		t.Fatal(err)
	}
	return c.HTTP
}

func get(t *testing.T, hc *http.Client) *http.Response {
	t.Helper()
	resp, err := hc.Get("https://blog.example.com/wp-json/wp/v2/posts")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp
}

// Two workers of one integration together keep to its platform's rate
// (WordPress: 10 a second, a burst of 10), taking tokens two a store call.
func TestRateHoldsAcrossWorkers(t *testing.T) {
	engines, it, clock, platform, bucket := twoWorkers(t)
	start := clock.Now()
	const each = 30
	var wg sync.WaitGroup
	for _, e := range engines {
		hc := client(t, e, it)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				if resp := get(t, hc); resp.StatusCode != 200 {
					t.Errorf("status %d", resp.StatusCode)
				}
			}
		}()
	}
	wg.Wait()
	at := append([]time.Time(nil), platform.at...)
	if len(at) != 2*each {
		t.Fatalf("the platform saw %d requests, want %d", len(at), 2*each)
	}
	sort.Slice(at, func(i, j int) bool { return at[i].Before(at[j]) })
	for k, a := range at {
		// By a's time, at most the burst plus what the rate refilled.
		allowed := 10 + int(10*a.Sub(start).Seconds()+1e-9)
		if k+1 > allowed {
			t.Fatalf("%d requests by %v, more than the %d the rate allows both workers together", k+1, a.Sub(start), allowed)
		}
	}
	if end := at[len(at)-1].Sub(start); end < 4*time.Second {
		t.Errorf("60 requests at 10/s with a burst of 10 took %v of the clock, want at least 5s", end)
	}
	t.Logf("%d store calls for %d requests, the last at %v", bucket.takes, len(at), at[len(at)-1].Sub(start))
	if bucket.takes > len(at)/2+4 {
		t.Errorf("%d store calls for %d requests: tokens are not taken in batches", bucket.takes, len(at))
	}
}

// A 429 with Retry-After seen by one worker holds the other too: its
// request is not sent before the time is up, and its job is answered as
// rate limited, to be retried then.
func TestA429SlowsEveryWorker(t *testing.T) {
	engines, it, clock, platform, _ := twoWorkers(t)
	platform.answer = func(n int) *http.Response {
		if n == 1 {
			return &http.Response{StatusCode: 429, Header: http.Header{"Retry-After": {"30"}}, Body: io.NopCloser(strings.NewReader("{}"))}
		}
		return nil
	}
	a, b := client(t, engines[0], it), client(t, engines[1], it)
	if resp := get(t, a); resp.StatusCode != 429 {
		t.Fatalf("a: %d", resp.StatusCode)
	}
	start := clock.Now()
	resp := get(t, b)
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "30" {
		t.Fatalf("b during the hold: %d Retry-After %q, want 429 and 30", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if len(platform.at) != 1 {
		t.Fatalf("the platform saw %d requests during the hold, want only the first", len(platform.at))
	}
	// Within MaxWait of the end, the worker waits on the clock instead.
	_ = clock.Sleep(context.Background(), 25*time.Second)
	if resp := get(t, b); resp.StatusCode != 200 {
		t.Fatalf("b near the end of the hold: %d", resp.StatusCode)
	}
	if got := platform.at[len(platform.at)-1].Sub(start); got < 30*time.Second {
		t.Fatalf("b's request reached the platform %v after the 429, before its Retry-After of 30s", got)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		in   string
		want time.Duration
	}{
		{"30", 30 * time.Second},
		{" 1.5 ", 1500 * time.Millisecond},
		{now.Add(2 * time.Minute).Format(http.TimeFormat), 2 * time.Minute},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{"0", 0},
		{"-5", 0},
		{"soon", 0},
		{"", 0},
		{"999999", time.Hour},
	} {
		if got := retryAfter(c.in, now); got != c.want {
			t.Errorf("retryAfter(%q) = %v, want %v", c.in, got, c.want)
		}
	}
}

// A job of one request (a webhook delivery's read) takes one token a
// store call, not a page's two: 20 such jobs at WordPress's 10 a second
// (a burst of 10) are done in about a second, not two, with no token lost.
func TestOneRequestJobsTakeOneToken(t *testing.T) {
	engines, it, clock, platform, bucket := twoWorkers(t)
	start := clock.Now()
	for i := range 20 {
		c, _, err := engines[i%2].connFor(context.Background(), it, 1)
		if err != nil {
			t.Fatal(err)
		}
		if resp := get(t, c.HTTP); resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	last := platform.at[len(platform.at)-1].Sub(start)
	if last > 1100*time.Millisecond || bucket.takes != 20 {
		t.Fatalf("20 one-request jobs: the last sent at %v of the clock with %d store calls, want by 1.1s with 20", last, bucket.takes)
	}
}
