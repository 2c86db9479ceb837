// Package runtimeapi is a minimal Lambda Runtime API emulator: enough for a
// bootstrap built with aws-lambda-go to start, take invocations and answer,
// so cold starts can be measured and entry points smoke-tested locally.
package runtimeapi

import (
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Server serves /2018-06-01/runtime/... on 127.0.0.1.
type Server struct {
	Addr string // host:port, for AWS_LAMBDA_RUNTIME_API

	srv       *http.Server
	ln        net.Listener
	events    chan invocation
	mu        sync.Mutex
	firstNext time.Time
	nextSeen  chan struct{}
	results   map[string]chan Result
	seq       int
}

type invocation struct {
	id   string
	body []byte
}

// Result is a function's answer to one invocation.
type Result struct {
	Body  []byte
	Error bool
}

// Start listens on a free loopback port.
func Start() (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{Addr: ln.Addr().String(), ln: ln, events: make(chan invocation, 16), nextSeen: make(chan struct{}), results: map[string]chan Result{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /2018-06-01/runtime/invocation/next", s.next)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/response", func(w http.ResponseWriter, r *http.Request) { s.answer(w, r, false) })
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/error", func(w http.ResponseWriter, r *http.Request) { s.answer(w, r, true) })
	mux.HandleFunc("POST /2018-06-01/runtime/init/error", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusAccepted) })
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// Close stops the server.
func (s *Server) Close() error { return s.srv.Close() }

// Ready is closed when the function first asks for an invocation: the end of
// its cold start.
func (s *Server) Ready() <-chan struct{} { return s.nextSeen }

// FirstNext is when the function first asked for an invocation.
func (s *Server) FirstNext() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.firstNext
}

func (s *Server) next(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.firstNext.IsZero() {
		s.firstNext = time.Now()
		close(s.nextSeen)
	}
	s.mu.Unlock()
	select {
	case inv := <-s.events:
		h := w.Header()
		h.Set("Lambda-Runtime-Aws-Request-Id", inv.id)
		h.Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(time.Now().Add(30*time.Second).UnixMilli(), 10))
		h.Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:000000000000:function:local")
		h.Set("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
		_, _ = w.Write(inv.body)
	case <-r.Context().Done():
	}
}

func (s *Server) answer(w http.ResponseWriter, r *http.Request, isErr bool) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	ch := s.results[r.PathValue("id")]
	s.mu.Unlock()
	if ch != nil {
		ch <- Result{Body: body, Error: isErr}
	}
	w.WriteHeader(http.StatusAccepted)
}

// Invoke queues an event and waits for the function's answer.
func (s *Server) Invoke(event []byte, timeout time.Duration) (Result, bool) {
	s.mu.Lock()
	s.seq++
	id := "req-" + strconv.Itoa(s.seq) + "-" + strings.Repeat("0", 4)
	ch := make(chan Result, 1)
	s.results[id] = ch
	s.mu.Unlock()
	s.events <- invocation{id: id, body: event}
	select {
	case res := <-ch:
		return res, true
	case <-time.After(timeout):
		return Result{}, false
	}
}
