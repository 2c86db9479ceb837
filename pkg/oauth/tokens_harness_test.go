package oauth

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/embedded"
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

// provider is a token endpoint with one platform's refresh token policy:
// never rotated (Google), rotated with the replaced one still accepted
// for reuse (Atlassian, Shopify), or rotated with the replaced one dead
// at once (reuse 0: Slack's token rotation).
type provider struct {
	t       testing.TB
	mu      sync.Mutex
	now     func() time.Time
	rotates bool
	reuse   time.Duration
	okFalse bool // errors as HTTP 200 ok:false (Slack)

	seq      int
	tokens   map[string]*refreshToken
	fail     []int // statuses the next calls answer
	revoked  bool
	calls    int // refresh requests received
	answered int // refreshes answered with new tokens
	rejected int // refreshes refused as invalid
	delay    time.Duration
}

type refreshToken struct {
	replacedAt *time.Time
}

func newProvider(t testing.TB, now func() time.Time, rotates bool, reuse time.Duration) *provider {
	return &provider{t: t, now: now, rotates: rotates, reuse: reuse, tokens: map[string]*refreshToken{"rt-0": {}}}
}

func (p *provider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	vals := url.Values{}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		var m map[string]string
		_ = json.Unmarshal(body, &m)
		for k, v := range m {
			vals.Set(k, v)
		}
	} else {
		vals, _ = url.ParseQuery(string(body))
	}
	if p.delay > 0 {
		time.Sleep(p.delay)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	if vals.Get("grant_type") != "refresh_token" {
		p.t.Errorf("grant_type = %q", vals.Get("grant_type"))
	}
	if len(p.fail) > 0 {
		status := p.fail[0]
		p.fail = p.fail[1:]
		w.WriteHeader(status)
		_, _ = w.Write([]byte(`{"error":"server_error"}`))
		return
	}
	rt, ok := p.tokens[vals.Get("refresh_token")]
	now := p.now()
	if p.revoked || !ok || rt.replacedAt != nil && (p.reuse == 0 || now.Sub(*rt.replacedAt) > p.reuse) {
		p.rejected++
		p.writeError(w)
		return
	}
	p.seq++
	p.answered++
	ans := map[string]any{"access_token": fmt.Sprintf("at-%d", p.seq), "token_type": "Bearer", "expires_in": 3600, "scope": "read write"}
	if p.rotates {
		next := fmt.Sprintf("rt-%d", p.seq)
		p.tokens[next] = &refreshToken{}
		if rt.replacedAt == nil {
			rt.replacedAt = &now
		}
		ans["refresh_token"] = next
	}
	if p.okFalse {
		ans["ok"] = true
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(ans)
}

func (p *provider) writeError(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	if p.okFalse {
		_, _ = w.Write([]byte(`{"ok":false,"error":"invalid_refresh_token"}`))
		return
	}
	w.WriteHeader(http.StatusBadRequest)
	_, _ = w.Write([]byte(`{"error":"invalid_grant","error_description":"Unknown or invalid refresh token."}`))
}

func (p *provider) stats() (calls, answered, rejected int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls, p.answered, p.rejected
}

// toServer sends every request to one test server, the path kept, as the
// local runner does for a platform's origin.
type toServer struct{ u *url.URL }

func (s toServer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.URL.Scheme, r.URL.Host, r.Host = s.u.Scheme, s.u.Host, s.u.Host
	return http.DefaultTransport.RoundTrip(r)
}

func clientFor(t testing.TB, h http.Handler) *http.Client {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	return &http.Client{Transport: toServer{u}, Timeout: 5 * time.Second}
}

type apps struct{}

func (apps) App(context.Context, string) (map[string]string, error) {
	return map[string]string{"client_id": "cid", "client_secret": "csecret-never-shown"}, nil
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
	it := &integration.Integration{ID: integration.NewID(), AccountID: "acct-1", SiteID: "site-1", Platform: platform,
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

// expiringIn are tokens obtained an hour ago whose access token expires in d.
func expiringIn(c *clock, d time.Duration) TokenSet {
	now := c.Now()
	return TokenSet{AccessToken: "at-0", RefreshToken: "rt-0", TokenType: "Bearer", ExpiresAt: now.Add(d),
		Scopes: []string{"read"}, ExternalAccountID: "T1", ObtainedAt: now.Add(-time.Hour)}
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
