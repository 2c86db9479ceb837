package syncer

import (
	"io"
	"net/http"
	"sync"
)

// Limits bounds the requests in flight to each integration's platform
// from this process, so a small WordPress host is not hammered by the
// parallel jobs of a run. It holds within one worker process (one Lambda
// instance handles one batch at a time); across instances the queue's
// event source concurrency bounds the total.
type Limits struct {
	mu   sync.Mutex
	sems map[string]chan struct{}
}

// Client returns a client that lets at most n requests of integration id
// be in flight at once.
func (l *Limits) Client(id string, base *http.Client, n int) *http.Client {
	l.mu.Lock()
	if l.sems == nil {
		l.sems = map[string]chan struct{}{}
	}
	sem, ok := l.sems[id]
	if !ok || cap(sem) != n {
		sem = make(chan struct{}, n)
		l.sems[id] = sem
	}
	l.mu.Unlock()
	if base == nil {
		base = &http.Client{}
	}
	c := *base
	next := base.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	c.Transport = limited{next: next, sem: sem}
	return &c
}

type limited struct {
	next http.RoundTripper
	sem  chan struct{}
}

func (l limited) RoundTrip(req *http.Request) (*http.Response, error) {
	select {
	case l.sem <- struct{}{}:
	case <-req.Context().Done():
		return nil, req.Context().Err()
	}
	resp, err := l.next.RoundTrip(req)
	if err != nil {
		<-l.sem
		return nil, err
	}
	// The slot is held until the body is read and closed.
	resp.Body = &releaseBody{ReadCloser: resp.Body, release: func() { <-l.sem }}
	return resp, nil
}

// releaseBody gives the request slot back when the body is closed.
type releaseBody struct {
	io.ReadCloser
	once    sync.Once
	release func()
}

func (b *releaseBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.release)
	return err
}
