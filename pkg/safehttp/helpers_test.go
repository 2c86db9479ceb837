package safehttp

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
)

// server is a 127.0.0.1 test server that counts the connections it accepts.
type server struct {
	*httptest.Server
	conns atomic.Int32
}

func newServer(t *testing.T, h http.HandlerFunc) *server {
	t.Helper()
	s := &server{Server: httptest.NewUnstartedServer(h)}
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

func (s *server) port() string {
	return strconv.Itoa(int(s.Listener.Addr().(*net.TCPAddr).Port))
}

// hostPort is the server's 127.0.0.1:port, as a policy entry.
func (s *server) hostPort() string { return s.Listener.Addr().String() }

// listener is a raw 127.0.0.1 listener that counts accepted connections
// and closes them at once: if anything ever reaches it, the count says so.
type listener struct {
	net.Listener
	accepts atomic.Int32
}

func newListener(t *testing.T) *listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &listener{Listener: ln}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			l.accepts.Add(1)
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return l
}

func (l *listener) port() string { return strconv.Itoa(l.Addr().(*net.TCPAddr).Port) }

// resolver maps names to addresses without DNS and counts lookups.
type resolver struct {
	names   map[string][]string
	lookups atomic.Int32
}

func newResolver(names map[string][]string) *resolver { return &resolver{names: names} }

func (r *resolver) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	r.lookups.Add(1)
	addrs, ok := r.names[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	var out []net.IPAddr
	for _, a := range addrs {
		out = append(out, net.IPAddr{IP: net.ParseIP(a)})
	}
	return out, nil
}

// dials records every address the client actually connects to.
type dials struct {
	mu    sync.Mutex
	addrs []string
}

func (d *dials) list() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.addrs...)
}

var errNoNetwork = errors.New("test: no network beyond 127.0.0.1")

// spy makes c record its dials. With passThrough, loopback dials are
// made for real; every other address fails with errNoNetwork, so no test
// ever leaves the machine.
func spy(c *http.Client, passThrough bool) *dials {
	d := &dials{}
	dl := c.Transport.(*transport).dialer
	orig := dl.connect
	dl.connect = func(ctx context.Context, network, address string) (net.Conn, error) {
		d.mu.Lock()
		d.addrs = append(d.addrs, address)
		d.mu.Unlock()
		if host, _, _ := net.SplitHostPort(address); passThrough && host == "127.0.0.1" {
			return orig(ctx, network, address)
		}
		return nil, errNoNetwork
	}
	return d
}

// get fetches url and reads the whole body.
func get(c *http.Client, url string) (*http.Response, []byte, error) {
	return do(c, mustRequest(url))
}

func do(c *http.Client, req *http.Request) (*http.Response, []byte, error) {
	resp, err := c.Do(req)
	if err != nil {
		return resp, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

func mustRequest(url string) *http.Request {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		panic(err)
	}
	return req
}

func mustPolicy(t *testing.T, s string) Policy {
	t.Helper()
	p, err := ParsePolicy(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
