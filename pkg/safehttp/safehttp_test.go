package safehttp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
)

// counting is a loopback server that counts the connections it accepts.
type counting struct {
	*httptest.Server
	conns atomic.Int32
}

func newCounting(t *testing.T, h http.HandlerFunc) *counting {
	t.Helper()
	c := &counting{}
	c.Server = httptest.NewUnstartedServer(h)
	c.Server.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			c.conns.Add(1)
		}
	}
	c.Start()
	t.Cleanup(c.Close)
	return c
}

func (c *counting) port() string {
	return c.Listener.Addr().(*net.TCPAddr).AddrPort().String()[len("127.0.0.1:"):]
}

type fakeResolver map[string]string

func (f fakeResolver) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	ip, ok := f[host]
	if !ok {
		return nil, fmt.Errorf("no such host %s", host)
	}
	return []net.IPAddr{{IP: net.ParseIP(ip)}}, nil
}

func get(c *http.Client, url string) error {
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.ReadAll(resp.Body)
	return err
}

func TestRefusesSpecialAddresses(t *testing.T) {
	target := newCounting(t, func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "secret") })
	client := New(Options{Resolver: fakeResolver{"rebind.example": "127.0.0.1", "internal.example": "10.1.2.3", "public.example": "93.184.216.34"}})
	tests := []struct{ url, reason string }{
		{"http://169.254.169.254/latest/meta-data/", "cloud metadata"},
		{"http://[fd00:ec2::254]/latest/meta-data/", "cloud metadata"},
		{"http://127.0.0.1:" + target.port() + "/", "port"},
		{"http://127.0.0.1/", "loopback"},
		{"http://[::1]/", "loopback"},
		{"http://[::ffff:127.0.0.1]/", "loopback"},
		{"http://10.0.0.1/", "private"},
		{"http://192.168.1.1/", "private"},
		{"http://100.64.0.1/", "special-purpose"},
		{"http://internal.example/", "private"},
		{"http://rebind.example:" + target.port() + "/", "port"},
		{"http://rebind.example/", "loopback"},
		{"http://public.example:8080/", "port 8080"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			err := get(client, tt.url)
			var blocked *BlockedError
			if !errors.As(err, &blocked) {
				t.Fatalf("err = %v, want a BlockedError", err)
			}
			if !strings.Contains(blocked.Error(), tt.reason) || !strings.Contains(blocked.Error(), EnvAllowPrivate) {
				t.Fatalf("message %q does not say %q", blocked.Error(), tt.reason)
			}
		})
	}
	if n := target.conns.Load(); n != 0 {
		t.Fatalf("the refused target accepted %d connections", n)
	}
}

func TestDevPolicy(t *testing.T) {
	target := newCounting(t, func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })
	for _, policy := range []string{"true", "127.0.0.1:" + target.port(), "127.0.0.0/8", "10.0.0.0/8, 127.0.0.1/32"} {
		p, err := ParsePolicy(policy)
		if err != nil {
			t.Fatal(err)
		}
		if err := get(New(Options{Policy: p}), target.URL); err != nil {
			t.Fatalf("policy %q: %v", policy, err)
		}
	}
	p, _ := ParsePolicy("127.0.0.1:1")
	if err := get(New(Options{Policy: p}), target.URL); !errors.As(err, new(*BlockedError)) {
		t.Fatalf("another port was allowed: %v", err)
	}
}

func TestParsePolicy(t *testing.T) {
	good := map[string]Policy{
		"":                 {},
		"TRUE":             {AllowAll: true},
		"10.0.0.0/8":       {Prefixes: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}},
		"127.0.0.1:8080, ": {AddrPorts: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:8080")}},
		"[::1]:9000":       {AddrPorts: []netip.AddrPort{netip.MustParseAddrPort("[::1]:9000")}},
	}
	for in, want := range good {
		got, err := ParsePolicy(in)
		if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("ParsePolicy(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"yes", "localhost:80", "10.0.0.0/33", "127.0.0.1", "127.0.0.1:0"} {
		if _, err := ParsePolicy(bad); err == nil || !strings.Contains(err.Error(), EnvAllowPrivate) {
			t.Errorf("ParsePolicy(%q) = %v, want an error naming the setting", bad, err)
		}
	}
}

func TestRedirects(t *testing.T) {
	other := newCounting(t, func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "internal") })
	var gotAuth atomic.Value
	site := newCounting(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/to-other":
			http.Redirect(w, r, other.URL+"/", http.StatusFound)
		case "/to-metadata":
			http.Redirect(w, r, "http://169.254.169.254/", http.StatusFound)
		case "/loop":
			http.Redirect(w, r, "/loop", http.StatusFound)
		case "/to-localhost":
			http.Redirect(w, r, "http://localhost:"+other.port()+"/auth", http.StatusFound)
		}
	})
	only, _ := ParsePolicy("127.0.0.1:" + site.port())
	client := New(Options{Policy: only})
	for _, path := range []string{"/to-other", "/to-metadata"} {
		if err := get(client, site.URL+path); !errors.As(err, new(*BlockedError)) {
			t.Fatalf("%s: redirect followed: %v", path, err)
		}
	}
	if n := other.conns.Load(); n != 0 {
		t.Fatalf("the redirect target accepted %d connections", n)
	}
	if err := get(client, site.URL+"/loop"); err == nil || !strings.Contains(err.Error(), "redirects") {
		t.Fatalf("redirect loop: %v", err)
	}
	// Across hosts, the Authorization header is not forwarded.
	other.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { gotAuth.Store(r.Header.Get("Authorization")) })
	loopback, _ := ParsePolicy("127.0.0.0/8")
	client = New(Options{Policy: loopback, Resolver: fakeResolver{"localhost": "127.0.0.1"}})
	req, _ := http.NewRequest("GET", site.URL+"/to-localhost", nil)
	req.SetBasicAuth("admin", "app password")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got, _ := gotAuth.Load().(string); got != "" {
		t.Fatalf("Authorization forwarded to another host: %q", got)
	}
}

func TestLimitsAndHeaders(t *testing.T) {
	var ua atomic.Value
	srv := newCounting(t, func(w http.ResponseWriter, r *http.Request) {
		ua.Store(r.UserAgent())
		io.WriteString(w, strings.Repeat("x", 2048))
	})
	p, _ := ParsePolicy("true")
	if err := get(New(Options{Policy: p, MaxBodyBytes: 1024}), srv.URL); !errors.Is(err, ErrBodyTooLarge) {
		t.Fatalf("oversized body: %v", err)
	}
	if err := get(New(Options{Policy: p, MaxBodyBytes: 2048}), srv.URL); err != nil {
		t.Fatalf("body at the cap: %v", err)
	}
	if got, _ := ua.Load().(string); !strings.HasPrefix(got, "Joinery/") {
		t.Fatalf("User-Agent %q", got)
	}
	// No proxy from the environment, even when one is set.
	proxy := newCounting(t, func(http.ResponseWriter, *http.Request) {})
	t.Setenv("HTTP_PROXY", proxy.URL)
	t.Setenv("http_proxy", proxy.URL)
	if err := get(New(Options{Policy: p}), srv.URL); err != nil {
		t.Fatal(err)
	}
	if n := proxy.conns.Load(); n != 0 {
		t.Fatalf("the environment's proxy got %d connections", n)
	}
}

func FuzzParsePolicy(f *testing.F) {
	for _, s := range []string{"", "true", "10.0.0.0/8,127.0.0.1:8080", "[::1]:80", "fd00::/8", "a,b,,c", "1.2.3.4:99999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePolicy(s)
		if err != nil {
			return
		}
		_ = p.allows(netip.MustParseAddrPort("127.0.0.1:80"))
	})
}
