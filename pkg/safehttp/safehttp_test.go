package safehttp

import (
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Everything a strict client must refuse, before any connection is made.
func TestRefusesSpecialAddresses(t *testing.T) {
	ln := newListener(t) // a real loopback service that must never be reached
	res := newResolver(map[string][]string{
		"internal.example.test":    {"10.1.2.3"},
		"rebind.example.test":      {"127.0.0.1"},
		"localhost":                {"127.0.0.1", "::1"},
		"mixed.example.test":       {"93.184.216.34", "127.0.0.1"},
		"mapped.example.test":      {"::ffff:127.0.0.1"},
		"metadata.google.internal": {"169.254.169.254"},
		"public.example.test":      {"93.184.216.34"},
	})
	client := New(Options{Resolver: res})
	dialled := spy(client, true)

	tests := []struct {
		url    string
		host   string // "" means the URL's host
		ip     string
		port   int
		reason string
	}{
		{url: "http://169.254.169.254/latest/meta-data/", ip: "169.254.169.254", port: 80, reason: "link-local (cloud metadata)"},
		{url: "http://169.254.170.2/v2/credentials", ip: "169.254.170.2", port: 80, reason: "link-local (cloud metadata)"},
		{url: "http://127.0.0.1:" + ln.port() + "/", ip: "127.0.0.1", port: atoi(ln.port()), reason: "loopback"},
		{url: "http://127.0.0.1/", ip: "127.0.0.1", port: 80, reason: "loopback"},
		{url: "https://127.0.0.1/", ip: "127.0.0.1", port: 443, reason: "loopback"},
		{url: "http://[::1]/", ip: "::1", port: 80, reason: "loopback"},
		{url: "http://[::ffff:127.0.0.1]/", host: "::ffff:127.0.0.1", ip: "127.0.0.1", port: 80, reason: "loopback"},
		{url: "http://[::ffff:169.254.169.254]/", host: "::ffff:169.254.169.254", ip: "169.254.169.254", port: 80, reason: "cloud metadata"},
		{url: "http://10.0.0.1/", ip: "10.0.0.1", port: 80, reason: "private (RFC 1918)"},
		{url: "http://172.16.5.4/", ip: "172.16.5.4", port: 80, reason: "private (RFC 1918)"},
		{url: "http://192.168.1.1/", ip: "192.168.1.1", port: 80, reason: "private (RFC 1918)"},
		{url: "http://100.64.0.1/", ip: "100.64.0.1", port: 80, reason: "carrier-grade NAT"},
		{url: "http://0.0.0.0/", ip: "0.0.0.0", port: 80, reason: "this network"},
		{url: "http://[::]/", ip: "::", port: 80, reason: "unspecified"},
		{url: "http://[fd00:ec2::254]/latest/meta-data/", ip: "fd00:ec2::254", port: 80, reason: "unique-local IPv6 (cloud metadata)"},
		{url: "http://[fd12:3456::1]/", ip: "fd12:3456::1", port: 80, reason: "unique-local IPv6 (private)"},
		{url: "http://[fe80::1]/", ip: "fe80::1", port: 80, reason: "link-local"},
		{url: "http://[fe80::1%25eth0]/", ip: "fe80::1%eth0", port: 80, reason: "IPv6 zone"},
		{url: "http://[64:ff9b::a9fe:a9fe]/", ip: "64:ff9b::a9fe:a9fe", port: 80, reason: "NAT64"},
		{url: "http://[2002:a9fe:a9fe::1]/", ip: "2002:a9fe:a9fe::1", port: 80, reason: "6to4"},
		{url: "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/", ip: "2001:0:4136:e378:8000:63bf:3fff:fdd2", port: 80, reason: "Teredo"},
		{url: "http://[2001:db8::1]/", ip: "2001:db8::1", port: 80, reason: "documentation"},
		{url: "http://[ff02::1]/", ip: "ff02::1", port: 80, reason: "multicast"},
		{url: "http://224.0.0.1/", ip: "224.0.0.1", port: 80, reason: "multicast"},
		{url: "http://255.255.255.255/", ip: "255.255.255.255", port: 80, reason: "broadcast"},
		{url: "http://240.0.0.1/", ip: "240.0.0.1", port: 80, reason: "reserved"},
		{url: "http://192.0.2.1/", ip: "192.0.2.1", port: 80, reason: "documentation"},
		{url: "http://198.18.0.1/", ip: "198.18.0.1", port: 80, reason: "benchmarking"},
		{url: "http://168.63.129.16/", ip: "168.63.129.16", port: 80, reason: "Azure WireServer"},
		{url: "http://internal.example.test/", ip: "10.1.2.3", port: 80, reason: "private (RFC 1918)"},
		{url: "http://rebind.example.test:" + ln.port() + "/", ip: "127.0.0.1", port: atoi(ln.port()), reason: "loopback"},
		{url: "http://localhost/", ip: "127.0.0.1", port: 80, reason: "loopback"},
		{url: "http://mixed.example.test/", ip: "127.0.0.1", port: 80, reason: "loopback"},
		{url: "http://mapped.example.test/", ip: "127.0.0.1", port: 80, reason: "loopback"},
		{url: "http://metadata.google.internal/computeMetadata/v1/", ip: "169.254.169.254", port: 80, reason: "cloud metadata"},
		{url: "http://public.example.test:8080/", ip: "93.184.216.34", port: 8080, reason: "port 8080 is not allowed (only 80 and 443)"},
		{url: "http://public.example.test:22/", ip: "93.184.216.34", port: 22, reason: "port 22 is not allowed"},
		{url: "http://93.184.216.34:8080/", ip: "93.184.216.34", port: 8080, reason: "port 8080 is not allowed"},
		{url: "https://[2606:2800:220:1:248:1893:25c8:1946]:8443/", ip: "2606:2800:220:1:248:1893:25c8:1946", port: 8443, reason: "port 8443 is not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			start := time.Now()
			_, _, err := get(client, tt.url)
			// Refused before connecting: no dial timeout was waited for.
			if d := time.Since(start); d > time.Second {
				t.Errorf("took %v: the check must come before any connect", d)
			}
			var blocked *BlockedError
			if !errors.As(err, &blocked) {
				t.Fatalf("err = %v, want a *BlockedError", err)
			}
			host := tt.host
			if host == "" {
				host = mustRequest(tt.url).URL.Hostname()
			}
			if blocked.Host != host || blocked.IP != tt.ip || blocked.Port != tt.port {
				t.Errorf("got Host=%q IP=%q Port=%d, want %q %q %d", blocked.Host, blocked.IP, blocked.Port, host, tt.ip, tt.port)
			}
			if !strings.Contains(blocked.Reason, tt.reason) {
				t.Errorf("Reason %q does not say %q", blocked.Reason, tt.reason)
			}
			if msg := err.Error(); !strings.Contains(msg, "refused to connect to") || !strings.Contains(msg, EnvAllowPrivate) {
				t.Errorf("message %q is not the refusal", msg)
			}
			if IsTimeout(err) || IsTLS(err) {
				t.Errorf("a refusal is neither a timeout nor a TLS error")
			}
		})
	}
	if got := dialled.list(); len(got) != 0 {
		t.Errorf("refused targets were dialled: %v", got)
	}
	if n := ln.accepts.Load(); n != 0 {
		t.Errorf("the loopback listener accepted %d connections", n)
	}
}

// The production dial path, untouched by the test spy, never reaches a
// loopback service either.
func TestRefusesLoopbackWithTheRealDialer(t *testing.T) {
	ln := newListener(t)
	for _, url := range []string{"http://127.0.0.1:" + ln.port() + "/", "http://[::ffff:127.0.0.1]:" + ln.port() + "/"} {
		t.Run(url, func(t *testing.T) {
			_, _, err := get(New(Options{}), url)
			if !errors.As(err, new(*BlockedError)) {
				t.Fatalf("err = %v, want a *BlockedError", err)
			}
		})
	}
	if n := ln.accepts.Load(); n != 0 {
		t.Fatalf("the loopback listener accepted %d connections", n)
	}
}

func TestBlockedErrorMessage(t *testing.T) {
	tests := []struct {
		err  BlockedError
		want string
	}{
		{BlockedError{Host: "169.254.169.254", IP: "169.254.169.254", Port: 80, Reason: "the address is link-local (cloud metadata)"},
			"refused to connect to 169.254.169.254:80: the address is link-local (cloud metadata); set JOINERY_ALLOW_PRIVATE_NETWORKS for local development"},
		{BlockedError{Host: "internal.example.test", IP: "10.1.2.3", Port: 443, Reason: "the address is private (RFC 1918)"},
			"refused to connect to internal.example.test (10.1.2.3:443): the address is private (RFC 1918); set JOINERY_ALLOW_PRIVATE_NETWORKS for local development"},
		{BlockedError{Host: "::1", IP: "::1", Port: 80, Reason: "the address is loopback"},
			"refused to connect to [::1]:80: the address is loopback; set JOINERY_ALLOW_PRIVATE_NETWORKS for local development"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Fatalf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
	// And what a real request produces.
	_, _, err := get(New(Options{}), "http://169.254.169.254/")
	var blocked *BlockedError
	if !errors.As(err, &blocked) || blocked.Error() != tests[0].want {
		t.Fatalf("got %v", err)
	}
}

// The name is resolved once per connection and the checked IP is dialled
// as a literal, so a second, different DNS answer cannot be connected to.
func TestDialsTheCheckedAddressLiterally(t *testing.T) {
	var calls atomic.Int32
	rebinding := resolverFunc(func(context.Context, string) ([]net.IPAddr, error) {
		if calls.Add(1) == 1 {
			return []net.IPAddr{{IP: net.ParseIP("93.184.216.34")}}, nil
		}
		return []net.IPAddr{{IP: net.ParseIP("127.0.0.1")}}, nil
	})
	client := New(Options{Resolver: rebinding})
	dialled := spy(client, false)

	if _, _, err := get(client, "http://rebinding.example.test/"); !errors.Is(err, errNoNetwork) {
		t.Fatalf("first request: %v", err)
	}
	if got := dialled.list(); !slices.Equal(got, []string{"93.184.216.34:80"}) {
		t.Fatalf("dialled %v, want only the checked literal 93.184.216.34:80", got)
	}
	if _, _, err := get(client, "http://rebinding.example.test/"); !errors.As(err, new(*BlockedError)) {
		t.Fatalf("second request, now resolving to loopback: %v", err)
	}
	if got := dialled.list(); len(got) != 1 {
		t.Fatalf("the rebound address was dialled: %v", got)
	}
	if n := calls.Load(); n != 2 {
		t.Fatalf("%d lookups, want one per connection", n)
	}
}

type resolverFunc func(ctx context.Context, host string) ([]net.IPAddr, error)

func (f resolverFunc) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	return f(ctx, host)
}

// The dev policy: exactly what it lists, nothing more.
func TestPolicyAllows(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })
	other := newListener(t)
	res := newResolver(map[string][]string{
		"dev.example.test":   {"127.0.0.1"},
		"multi.example.test": {"127.0.0.2", "127.0.0.1"}, // nothing listens on .2: falls through to .1
	})
	tests := []struct {
		policy, url string
		allowed     bool
	}{
		{"true", srv.URL, true},
		{"TRUE", srv.URL, true},
		{srv.hostPort(), srv.URL, true},
		{"127.0.0.0/8", srv.URL, true},
		{" 10.0.0.0/8 , 127.0.0.1/32 ", srv.URL, true},
		{"[::ffff:127.0.0.1]:" + srv.port(), srv.URL, true},
		{"::ffff:127.0.0.0/104", srv.URL, true},
		{srv.hostPort(), "http://dev.example.test:" + srv.port() + "/", true},
		{"127.0.0.0/8", "http://multi.example.test:" + srv.port() + "/", true},
		{"127.0.0.1:" + other.port(), srv.URL, false},
		{"10.0.0.0/8", srv.URL, false},
		{"127.0.0.2/32", srv.URL, false},
		{"", srv.URL, false},
		{"false", srv.URL, false},
		{srv.hostPort(), "http://127.0.0.1:" + other.port() + "/", false},
		// One allowed address does not make a name's other one allowed.
		{"127.0.0.1/32", "http://multi.example.test:" + srv.port() + "/", false},
	}
	for _, tt := range tests {
		t.Run(tt.policy+" "+tt.url, func(t *testing.T) {
			client := New(Options{Policy: mustPolicy(t, tt.policy), Resolver: res})
			_, body, err := get(client, tt.url)
			if tt.allowed && (err != nil || string(body) != "ok") {
				t.Fatalf("want allowed, got %q, %v", body, err)
			}
			if !tt.allowed && !errors.As(err, new(*BlockedError)) {
				t.Fatalf("want refused, got %v", err)
			}
		})
	}
	if n := other.accepts.Load(); n != 0 {
		t.Fatalf("a port the policy does not list accepted %d connections", n)
	}
}

// Ports and public addresses the policy allows are dialled — as literals.
func TestPolicyAllowsPortsOnPublicAddresses(t *testing.T) {
	res := newResolver(map[string][]string{"public.example.test": {"93.184.216.34"}})
	for _, policy := range []string{"true", "93.184.216.0/24", "93.184.216.34:8080"} {
		t.Run(policy, func(t *testing.T) {
			client := New(Options{Policy: mustPolicy(t, policy), Resolver: res})
			dialled := spy(client, false)
			if _, _, err := get(client, "http://public.example.test:8080/"); !errors.Is(err, errNoNetwork) {
				t.Fatalf("err = %v, want the dial to be attempted", err)
			}
			if got := dialled.list(); !slices.Equal(got, []string{"93.184.216.34:8080"}) {
				t.Fatalf("dialled %v", got)
			}
		})
	}
}

// The socket-level hook refuses on its own, whatever called it.
func TestControlChecksTheSocketAddress(t *testing.T) {
	d := newDialer(Policy{}, net.DefaultResolver, time.Second)
	tests := []struct {
		network, address string
		ok               bool
	}{
		{"tcp4", "93.184.216.34:443", true},
		{"tcp6", "[2606:2800:220:1:248:1893:25c8:1946]:80", true},
		{"tcp4", "127.0.0.1:80", false},
		{"tcp6", "[::ffff:10.0.0.1]:443", false},
		{"tcp4", "93.184.216.34:8080", false},
		{"udp4", "93.184.216.34:443", false},
		{"tcp4", "not-an-address", false},
	}
	for _, tt := range tests {
		t.Run(tt.network+" "+tt.address, func(t *testing.T) {
			if err := d.control(tt.network, tt.address, nil); (err == nil) != tt.ok {
				t.Fatalf("control = %v, want ok=%v", err, tt.ok)
			}
		})
	}
	if _, err := d.DialContext(context.Background(), "udp", "93.184.216.34:443"); err == nil {
		t.Fatal("a UDP dial was allowed")
	}
}

func TestParsePolicy(t *testing.T) {
	good := []struct{ in, want string }{
		{"", ""},
		{"   ", ""},
		{"false", ""},
		{"FALSE", ""},
		{"true", "true"},
		{" True ", "true"},
		{"10.1.0.0/16", "10.1.0.0/16"},
		{"10.1.2.3/16", "10.1.0.0/16"},
		{"127.0.0.1:8081,10.1.0.0/16", "10.1.0.0/16,127.0.0.1:8081"},
		{"127.0.0.1:8081, , ,", "127.0.0.1:8081"},
		{"[::1]:9000", "[::1]:9000"},
		{"fd00::/8", "fd00::/8"},
		{"[::ffff:127.0.0.1]:8081", "127.0.0.1:8081"},
		{"::ffff:10.0.0.0/104", "10.0.0.0/8"},
		{"127.0.0.1/32,::1/128", "127.0.0.1/32,::1/128"},
	}
	for _, tt := range good {
		t.Run("good "+tt.in, func(t *testing.T) {
			p, err := ParsePolicy(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if p.String() != tt.want {
				t.Fatalf("got %q, want %q", p.String(), tt.want)
			}
		})
	}
	bad := []struct{ in, entry, says string }{
		{"yes", "yes", "neither a CIDR"},
		{"*", "*", "neither a CIDR"},
		{"localhost:8081", "localhost:8081", "not a host name"},
		{"http://127.0.0.1:8081", "http://127.0.0.1:8081", "CIDR"},
		{"10.0.0.0/33", "10.0.0.0/33", "not a valid CIDR"},
		{"10.0.0.0/8,127.0.0.1", "127.0.0.1", "has no port"},
		{"127.0.0.1:0", "127.0.0.1:0", "invalid port"},
		{"127.0.0.1:65536", "127.0.0.1:65536", "invalid port"},
		{"127.0.0.1:http", "127.0.0.1:http", "invalid port"},
		{"[fe80::1%eth0]:80", "[fe80::1%eth0]:80", "zone"},
		{"true,10.0.0.0/8", "true", "neither a CIDR"},
	}
	for _, tt := range bad {
		t.Run("bad "+tt.in, func(t *testing.T) {
			p, err := ParsePolicy(tt.in)
			if err == nil {
				t.Fatalf("accepted as %q", p)
			}
			msg := err.Error()
			if !strings.Contains(msg, EnvAllowPrivate) || !strings.Contains(msg, strconv.Quote(tt.entry)) || !strings.Contains(msg, tt.says) {
				t.Fatalf("error %q should name the setting, the entry %q and say %q", msg, tt.entry, tt.says)
			}
		})
	}
}

func TestPolicyFromEnv(t *testing.T) {
	t.Setenv(EnvAllowPrivate, "127.0.0.1:8081,10.1.0.0/16")
	p, err := PolicyFromEnv()
	if err != nil || p.String() != "10.1.0.0/16,127.0.0.1:8081" {
		t.Fatalf("got %q, %v", p, err)
	}
	t.Setenv(EnvAllowPrivate, "")
	if p, err := PolicyFromEnv(); err != nil || p.AllowAll || p.String() != "" {
		t.Fatalf("unset must be strict, got %q, %v", p, err)
	}
	t.Setenv(EnvAllowPrivate, "10.0.0.0/8,nope")
	if _, err := PolicyFromEnv(); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("got %v, want an error naming \"nope\"", err)
	}
}

// A site the policy allows cannot redirect the client anywhere it does not.
func TestRedirectsAreCheckedAgain(t *testing.T) {
	other := newServer(t, func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "internal") })
	site := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		to := map[string]string{
			"/to-other":         "http://127.0.0.1:" + other.port() + "/",
			"/to-other-by-name": "http://rebind.example.test:" + other.port() + "/",
			"/to-metadata":      "http://169.254.169.254/latest/meta-data/",
			"/to-file":          "file:///etc/passwd",
			"/to-gopher":        "gopher://127.0.0.1:" + other.port() + "/",
		}[r.URL.Path]
		http.Redirect(w, r, to, http.StatusFound)
	})
	client := New(Options{
		Policy:   mustPolicy(t, site.hostPort()),
		Resolver: newResolver(map[string][]string{"public.example.test": {"127.0.0.1"}, "rebind.example.test": {"127.0.0.1"}}),
	})
	base := "http://public.example.test:" + site.port()
	tests := []struct {
		path    string
		blocked bool // else ErrUnsafeRedirect
	}{
		{"/to-other", true},
		{"/to-other-by-name", true},
		{"/to-metadata", true},
		{"/to-file", false},
		{"/to-gopher", false},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			_, _, err := get(client, base+tt.path)
			if tt.blocked && !errors.As(err, new(*BlockedError)) {
				t.Fatalf("err = %v, want a *BlockedError", err)
			}
			if !tt.blocked && !errors.Is(err, ErrUnsafeRedirect) {
				t.Fatalf("err = %v, want ErrUnsafeRedirect", err)
			}
		})
	}
	if n := site.conns.Load(); n == 0 {
		t.Fatal("the allowed site was never reached: the test proves nothing")
	}
	if n := other.conns.Load(); n != 0 {
		t.Fatalf("the redirect target accepted %d connections", n)
	}
}

func TestRedirectLimit(t *testing.T) {
	tests := []struct {
		name         string
		maxRedirects int
		chain        int // redirects the server sends before answering; -1: forever
		wantRequests int32
		wantErr      error
		wantStatus   int
	}{
		{"default follows 5", 0, 5, 6, nil, http.StatusOK},
		{"default stops at 6", 0, -1, 6, ErrTooManyRedirects, 0},
		{"3 follows 3", 3, 3, 4, nil, http.StatusOK},
		{"3 stops at 4", 3, 4, 4, ErrTooManyRedirects, 0},
		{"negative follows none", -1, -1, 1, nil, http.StatusFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var requests atomic.Int32
			srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				n := requests.Add(1)
				if tt.chain >= 0 && int(n) > tt.chain {
					io.WriteString(w, "done")
					return
				}
				http.Redirect(w, r, fmt.Sprintf("/hop/%d", n), http.StatusFound)
			})
			client := New(Options{Policy: mustPolicy(t, srv.hostPort()), MaxRedirects: tt.maxRedirects})
			resp, _, err := get(client, srv.URL)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
			} else if err != nil || resp.StatusCode != tt.wantStatus {
				t.Fatalf("got %v, %v; want status %d", resp, err, tt.wantStatus)
			}
			if n := requests.Load(); n != tt.wantRequests {
				t.Fatalf("%d requests, want %d", n, tt.wantRequests)
			}
		})
	}
}

// https → http would send the credentials in clear: refused.
func TestRefusesHTTPSDowngrade(t *testing.T) {
	plain := newServer(t, func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "plain") })
	secure := httptest.NewTLSServer(http.RedirectHandler(plain.URL+"/", http.StatusFound))
	t.Cleanup(secure.Close)
	client := New(Options{Policy: mustPolicy(t, "true")})
	trust(client, secure)
	_, _, err := get(client, secure.URL)
	if !errors.Is(err, ErrUnsafeRedirect) {
		t.Fatalf("err = %v, want ErrUnsafeRedirect", err)
	}
	if n := plain.conns.Load(); n != 0 {
		t.Fatalf("the http target accepted %d connections", n)
	}
}

// trust makes c trust the test server's certificate, as a real CA would.
func trust(c *http.Client, srv *httptest.Server) {
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	c.Transport.(*transport).base.TLSClientConfig.RootCAs = pool
}

// Credentials stay with the host they were meant for.
func TestCredentialsDroppedAcrossHosts(t *testing.T) {
	var mu sync.Mutex
	var seen http.Header
	var aPort, bPort string
	record := func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != "/echo" {
			return false
		}
		mu.Lock()
		seen = r.Header.Clone()
		mu.Unlock()
		return true
	}
	a := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if record(w, r) {
			return
		}
		to := map[string]string{
			"/to-b":          "http://b.example.test:" + bPort + "/echo",
			"/to-self":       "/echo",
			"/to-other-port": "http://a.example.test:" + bPort + "/echo",
			"/to-www":        "http://www.a.example.test:" + aPort + "/echo",
			"/to-b-and-back": "http://b.example.test:" + bPort + "/back",
		}[r.URL.Path]
		http.Redirect(w, r, to, http.StatusFound)
	})
	b := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if record(w, r) {
			return
		}
		http.Redirect(w, r, "http://a.example.test:"+aPort+"/echo", http.StatusFound)
	})
	aPort, bPort = a.port(), b.port()
	client := New(Options{
		Policy: mustPolicy(t, "127.0.0.0/8"),
		Resolver: newResolver(map[string][]string{
			"a.example.test": {"127.0.0.1"}, "www.a.example.test": {"127.0.0.1"}, "b.example.test": {"127.0.0.1"},
		}),
	})
	tests := []struct {
		path string
		kept bool
	}{
		{"/to-b", false},
		{"/to-b-and-back", false}, // once dropped, dropped for the rest of the chain
		{"/to-self", true},
		{"/to-other-port", true}, // Go's rule: same host name, any port
		{"/to-www", true},        // Go's rule: a subdomain of the first host
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			req := mustRequest("http://a.example.test:" + aPort + tt.path + "?access_token=secret")
			req.SetBasicAuth("admin", "app password")
			req.Header.Set("X-Api-Key", "key")
			req.Header.Set("X-Shopify-Access-Token", "shpat")
			req.Header.Set("Cookie", "session=1")
			req.Header.Set("Accept", "application/json")
			if resp, _, err := do(client, req); err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("got %v, %v", resp, err)
			}
			mu.Lock()
			got := seen
			mu.Unlock()
			for _, h := range []string{"Authorization", "X-Api-Key", "X-Shopify-Access-Token", "Cookie", "Referer"} {
				if present := got.Get(h) != ""; present != tt.kept {
					t.Errorf("%s present=%v, want %v (%q)", h, present, tt.kept, got.Get(h))
				}
			}
			if got.Get("Accept") != "application/json" {
				t.Errorf("Accept was dropped: harmless headers must follow the redirect")
			}
		})
	}
}

func TestBodyCap(t *testing.T) {
	const limit = 1024
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		switch r.URL.Path {
		case "/gzip": // a small download that inflates past the cap
			w.Header().Set("Content-Encoding", "gzip")
			zw := gzip.NewWriter(w)
			zw.Write(make([]byte, n))
			zw.Close()
		case "/chunked": // no Content-Length
			for i := 0; i < n; i += 100 {
				io.WriteString(w, strings.Repeat("x", min(100, n-i)))
				w.(http.Flusher).Flush()
			}
		default:
			io.WriteString(w, strings.Repeat("x", n))
		}
	})
	client := New(Options{Policy: mustPolicy(t, srv.hostPort()), MaxBodyBytes: limit})
	tests := []struct {
		path    string
		n       int
		tooLong bool
	}{
		{"/plain", 0, false},
		{"/plain", limit, false},
		{"/plain", limit + 1, true},
		{"/plain", 64 * limit, true},
		{"/chunked", limit, false},
		{"/chunked", limit + 1, true},
		{"/gzip", limit, false},
		{"/gzip", 1 << 20, true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s %d", tt.path, tt.n), func(t *testing.T) {
			_, body, err := get(client, fmt.Sprintf("%s%s?n=%d", srv.URL, tt.path, tt.n))
			if !tt.tooLong {
				if err != nil || len(body) != tt.n {
					t.Fatalf("read %d bytes, %v; want %d", len(body), err, tt.n)
				}
				return
			}
			if !errors.Is(err, ErrBodyTooLarge) || !strings.Contains(err.Error(), strconv.Itoa(limit)) {
				t.Fatalf("err = %v, want ErrBodyTooLarge naming the limit", err)
			}
			if len(body) > limit {
				t.Fatalf("read %d bytes past the limit", len(body))
			}
		})
	}
}

// A body reader that returns (0, nil) or fails right at the limit must not
// turn into a clean, silently truncated end.
func TestBodyCapEdgeReads(t *testing.T) {
	boom := errors.New("connection reset")
	tests := []struct {
		name string
		src  io.Reader
		want error
	}{
		{"exactly the limit", strings.NewReader("abcd"), nil},
		{"one more", strings.NewReader("abcde"), ErrBodyTooLarge},
		{"(0, nil) then more", io.MultiReader(strings.NewReader("abcd"), &zeroReader{}, strings.NewReader("e")), ErrBodyTooLarge},
		{"error at the limit", io.MultiReader(strings.NewReader("abcd"), errReader{boom}), boom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &limitedBody{rc: io.NopCloser(tt.src), left: 4, limit: 4}
			got, err := io.ReadAll(b)
			if !errors.Is(err, tt.want) || string(got) != "abcd" {
				t.Fatalf("got %q, %v; want \"abcd\", %v", got, err, tt.want)
			}
			if _, again := b.Read(make([]byte, 8)); !errors.Is(again, tt.want) && !(tt.want == nil && again == io.EOF) {
				t.Fatalf("the error is not sticky: %v", again)
			}
		})
	}
}

// zeroReader returns (0, nil) once, as io.Reader allows, then io.EOF.
type zeroReader struct{ done bool }

func (z *zeroReader) Read([]byte) (int, error) {
	if z.done {
		return 0, io.EOF
	}
	z.done = true
	return 0, nil
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

func TestUserAgent(t *testing.T) {
	var ua atomic.Value
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "/final", http.StatusFound)
			return
		}
		ua.Store(r.Header.Get("User-Agent"))
	})
	tests := []struct {
		name, option, onRequest, path, want string
	}{
		{"default", "", "", "/", DefaultUserAgent},
		{"default after a redirect", "", "", "/redirect", DefaultUserAgent},
		{"option", "Custom/2", "", "/", "Custom/2"},
		{"the caller's own", "", "Caller/3", "/", "Caller/3"},
		{"the caller's own after a redirect", "", "Caller/3", "/redirect", "Caller/3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := New(Options{Policy: mustPolicy(t, srv.hostPort()), UserAgent: tt.option})
			req := mustRequest(srv.URL + tt.path)
			if tt.onRequest != "" {
				req.Header.Set("User-Agent", tt.onRequest)
			}
			if _, _, err := do(client, req); err != nil {
				t.Fatal(err)
			}
			if got, _ := ua.Load().(string); got != tt.want {
				t.Fatalf("User-Agent %q, want %q", got, tt.want)
			}
			if tt.onRequest == "" && req.Header.Get("User-Agent") != "" {
				t.Fatal("the caller's request was modified")
			}
		})
	}
}

// HTTP_PROXY & co. are ignored. The target is a name, not 127.0.0.1 or
// localhost, because Go never proxies those and the test would prove
// nothing.
func TestNoProxyFromEnvironment(t *testing.T) {
	proxy := newListener(t)
	srv := newServer(t, func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "direct") })
	proxyURL := "http://127.0.0.1:" + proxy.port()
	for _, k := range []string{"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"} {
		t.Setenv(k, proxyURL)
	}
	t.Setenv("NO_PROXY", "")
	t.Setenv("no_proxy", "")
	url := "http://site.example.test:" + srv.port() + "/"
	// Control: the standard library would use the proxy for this URL.
	if u, err := http.ProxyFromEnvironment(mustRequest(url)); err != nil || u == nil {
		t.Fatalf("control: ProxyFromEnvironment = %v, %v; the test would prove nothing", u, err)
	}
	client := New(Options{Policy: mustPolicy(t, srv.hostPort()), Resolver: newResolver(map[string][]string{"site.example.test": {"127.0.0.1"}})})
	if client.Transport.(*transport).base.Proxy != nil {
		t.Fatal("Transport.Proxy is set")
	}
	if _, body, err := get(client, url); err != nil || string(body) != "direct" {
		t.Fatalf("got %q, %v", body, err)
	}
	if n := proxy.accepts.Load(); n != 0 {
		t.Fatalf("the environment's proxy got %d connections", n)
	}
}

func TestTimeoutsAndTLSErrors(t *testing.T) {
	release := make(chan struct{})
	slow := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow-body" {
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	t.Cleanup(func() { close(release) }) // before slow.Close, which waits for handlers
	selfSigned := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(selfSigned.Close)
	oldTLS := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	oldTLS.TLS = &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}
	oldTLS.StartTLS()
	t.Cleanup(oldTLS.Close)
	hanging := resolverFunc(func(ctx context.Context, _ string) ([]net.IPAddr, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})
	allow := mustPolicy(t, "true")

	tests := []struct {
		name      string
		opts      Options
		trust     *httptest.Server
		url       string
		timeout   bool
		tlsFailed bool
	}{
		{"response headers", Options{Policy: allow, ResponseHeaderTimeout: 100 * time.Millisecond}, nil, slow.URL, true, false},
		{"whole exchange", Options{Policy: allow, Timeout: 150 * time.Millisecond}, nil, slow.URL, true, false},
		{"reading the body", Options{Policy: allow, Timeout: 150 * time.Millisecond}, nil, slow.URL + "/slow-body", true, false},
		{"resolving", Options{Policy: allow, DialTimeout: 100 * time.Millisecond, Resolver: hanging}, nil, "http://hang.example.test/", true, false},
		{"self-signed certificate", Options{Policy: allow}, nil, selfSigned.URL, false, true},
		{"certificate for another name", Options{Policy: allow, Resolver: newResolver(map[string][]string{"other.example.test": {"127.0.0.1"}})},
			selfSigned, "https://other.example.test:" + selfSigned.URL[strings.LastIndex(selfSigned.URL, ":")+1:], false, true},
		{"TLS 1.1 only", Options{Policy: allow}, oldTLS, oldTLS.URL, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := New(tt.opts)
			if tt.trust != nil {
				trust(client, tt.trust)
			}
			start := time.Now()
			_, _, err := get(client, tt.url)
			if err == nil {
				t.Fatal("no error")
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v", d)
			}
			if IsTimeout(err) != tt.timeout || IsTLS(err) != tt.tlsFailed {
				t.Fatalf("IsTimeout=%v IsTLS=%v for %v; want %v %v", IsTimeout(err), IsTLS(err), err, tt.timeout, tt.tlsFailed)
			}
		})
	}
	// And the trusted server works, so the failures above are the ones named.
	client := New(Options{Policy: allow})
	trust(client, selfSigned)
	if _, _, err := get(client, selfSigned.URL); err != nil {
		t.Fatalf("trusted TLS server: %v", err)
	}
}

func TestErrorClassifiers(t *testing.T) {
	tests := []struct {
		name           string
		err            error
		timeout, isTLS bool
	}{
		{"nil", nil, false, false},
		{"plain", errors.New("boom"), false, false},
		{"blocked", &BlockedError{IP: "127.0.0.1", Port: 80}, false, false},
		{"context deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), true, false},
		{"canceled", context.Canceled, false, false},
		{"wrapped deeper than url.Error looks", &net.OpError{Op: "dial", Err: fmt.Errorf("resolve: %w", &net.DNSError{IsTimeout: true})}, true, false},
		{"joined", errors.Join(errors.New("a"), &net.DNSError{IsTimeout: true}), true, false},
		{"unknown authority", fmt.Errorf("x: %w", x509.UnknownAuthorityError{}), false, true},
		{"hostname", &tls.CertificateVerificationError{Err: x509.HostnameError{}}, false, true},
		{"record header", tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}, false, true},
		{"body too large", &bodyTooLargeError{limit: 1}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if IsTimeout(tt.err) != tt.timeout || IsTLS(tt.err) != tt.isTLS {
				t.Fatalf("IsTimeout=%v IsTLS=%v, want %v %v", IsTimeout(tt.err), IsTLS(tt.err), tt.timeout, tt.isTLS)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	c := New(Options{})
	tr := c.Transport.(*transport)
	checks := []struct {
		name string
		ok   bool
	}{
		{"no proxy from the environment", tr.base.Proxy == nil},
		{"TLS 1.2 at least", tr.base.TLSClientConfig.MinVersion == tls.VersionTLS12},
		{"pool of 8 per host", tr.base.MaxIdleConnsPerHost == 8},
		{"HTTP/2 kept", tr.base.ForceAttemptHTTP2},
		{"response header timeout 15s", tr.base.ResponseHeaderTimeout == 15*time.Second},
		{"overall timeout 30s", c.Timeout == 30*time.Second},
		{"dial timeout 5s", tr.dialer.timeout == 5*time.Second},
		{"body cap 10 MiB", tr.maxBody == 10<<20},
		{"user agent", tr.userAgent == DefaultUserAgent},
		{"strict policy", !tr.dialer.policy.AllowAll && len(tr.dialer.policy.Prefixes)+len(tr.dialer.policy.AddrPorts) == 0},
		{"default resolver", tr.dialer.resolver == net.DefaultResolver},
		{"no cookie jar", c.Jar == nil},
	}
	for _, tt := range checks {
		t.Run(tt.name, func(t *testing.T) {
			if !tt.ok {
				t.Fatal("not so")
			}
		})
	}
}

// One client, many goroutines: allowed and refused requests side by side.
func TestConcurrentUse(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })
	client := New(Options{Policy: mustPolicy(t, srv.hostPort())})
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 40 {
		wg.Go(func() {
			if i%2 == 0 {
				if _, body, err := get(client, srv.URL); err != nil || string(body) != "ok" {
					errs <- fmt.Errorf("allowed: %q, %v", body, err)
				}
			} else if _, _, err := get(client, "http://10.0.0.1/"); !errors.As(err, new(*BlockedError)) {
				errs <- fmt.Errorf("refused: %v", err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		panic(err)
	}
	return n
}
