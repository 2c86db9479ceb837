package oauth

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/embedded"
	"github.com/joinery/joinery/pkg/fakeplatforms"
	"github.com/joinery/joinery/pkg/integration"
)

// clock is a virtual clock: time moves only when a test moves it.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// noSleep waits no virtual time: a waiter looks again at once (after
// letting the holder run a little).
func noSleep(ctx context.Context, _ time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Millisecond):
		return nil
	}
}

// platform is one platform's fake (pkg/fakeplatforms) on the virtual
// clock, and a client reaching it that counts the calls to its token
// endpoint, failed ones included.
type platform struct {
	*fakeplatforms.Server
	hc    *http.Client
	calls atomic.Int32
}

func startPlatform(t testing.TB, name string, c *clock) *platform {
	p := &platform{Server: fakeplatforms.Start(t, name, fakeplatforms.Options{Now: c.Now})}
	next := p.Client().Transport
	p.hc = &http.Client{Timeout: 5 * time.Second, Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
		if r.Method == http.MethodPost && !strings.Contains(r.URL.Path, "revoke") {
			p.calls.Add(1)
		}
		return next.RoundTrip(r)
	})}
	return p
}

type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// minted are tokens the fake issued, stored as obtained an hour ago with
// an access token expiring in d.
func (p *platform) minted(c *clock, d time.Duration) TokenSet {
	tk := p.Mint()
	now := c.Now()
	return TokenSet{AccessToken: tk.AccessToken, RefreshToken: tk.RefreshToken, TokenType: "Bearer", ExpiresAt: now.Add(d),
		Scopes: []string{"read"}, ExternalAccountID: "T1", ObtainedAt: now.Add(-time.Hour)}
}

type apps struct{}

func (apps) App(context.Context, string) (map[string]string, error) {
	return map[string]string{"client_id": "fake-client-id", "client_secret": "fake-client-secret"}, nil
}

// events keeps the events logged, for tests.
type events struct {
	mu  sync.Mutex
	evs []integration.SyncEvent
}

func (e *events) AddEvents(_ context.Context, evs []integration.SyncEvent) error {
	e.mu.Lock()
	e.evs = append(e.evs, evs...)
	e.mu.Unlock()
	return nil
}

func (e *events) of(typ string) []integration.SyncEvent {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []integration.SyncEvent
	for _, ev := range e.evs {
		if ev.Type == typ {
			out = append(out, ev)
		}
	}
	return out
}

// stores is one process's view of the deployment: its store, secrets and
// integration service.
type stores struct {
	store   integration.Store
	secrets interface {
		integration.Secrets
		integration.CurrentSecrets
	}
	svc *integration.Service
}

func embeddedStores(t testing.TB) stores {
	dir := t.TempDir()
	st, err := embedded.OpenStore(filepath.Join(dir, "joinery.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	sec, err := embedded.OpenSecrets(filepath.Join(dir, "secrets"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sec.Close() })
	return stores{store: st, secrets: sec, svc: &integration.Service{Store: st, Secrets: sec, Catalog: connector.NewCatalog()}}
}

// connect stores an integration of platform as the connect flow leaves
// it: connected, its tokens in its secret, the item pointing at them.
func connect(t testing.TB, s stores, platform string, ts TokenSet) *integration.Integration {
	t.Helper()
	ctx := context.Background()
	now := ts.ObtainedAt
	id := integration.NewID()
	it := &integration.Integration{ID: id, AccountID: "acct-1", SiteID: "site-" + strings.ToLower(id), Platform: platform,
		Config: map[string]any{}, IsActive: true, SyncStatus: integration.SyncIdle, ConnectionStatus: integration.ConnectionConnected,
		ConnectionCheckedAt: &now, CreatedAt: now, UpdatedAt: now, Version: 1, Rev: 1,
		OAuth: &integration.OAuthInfo{Scopes: ts.Scopes, ExternalAccountID: ts.ExternalAccountID}}
	if platform == "shopify" {
		it.ExternalSiteURL = "https://acme.myshopify.com"
	}
	if err := s.store.CreateIntegration(ctx, it); err != nil {
		t.Fatal(err)
	}
	v, err := s.secrets.PutSecret(ctx, secretRef(it), ts.Values())
	if err != nil {
		t.Fatal(err)
	}
	next := *it
	next.Credentials = integration.CredentialsRef{SecretName: v.Name, VersionID: v.VersionID, Fields: sortedKeys(ts.Values())}
	next.Rev = 2
	if err := s.store.UpdateIntegration(ctx, &next, 1); err != nil {
		t.Fatal(err)
	}
	return &next
}

func tokensFor(s stores, hc *http.Client, c *clock, ev *events) *Tokens {
	return &Tokens{Leases: s.store, Secrets: s.secrets, Apps: apps{}, Catalog: connector.NewCatalog(), HTTP: hc,
		Integrations: s.svc, Events: ev, Now: c.Now, Wait: noSleep}
}

// callAll has n callers ask for a token at once and returns what they got.
func callAll(t testing.TB, n int, tok func(i int) *Tokens, it *integration.Integration) ([]string, []error) {
	t.Helper()
	got, errs := make([]string, n), make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			got[i], errs[i] = tok(i).AccessToken(ctx, it)
		}()
	}
	close(start)
	wg.Wait()
	return got, errs
}

// twoPlatforms reaches Google's fake for Google's hosts and the other
// fake for everything else.
func twoPlatforms(other, google *platform) *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
		if strings.HasSuffix(r.URL.Hostname(), "googleapis.com") || strings.HasSuffix(r.URL.Hostname(), "google.com") {
			return google.hc.Transport.RoundTrip(r)
		}
		return other.hc.Transport.RoundTrip(r)
	})}
}

func (t *Tokens) mustEntry(tb testing.TB, platform string) *connector.Entry {
	e, ok := t.Catalog.Entry(platform)
	if !ok {
		tb.Fatalf("no platform %s", platform)
	}
	return e
}
