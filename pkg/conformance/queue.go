package conformance

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/joinery/joinery/pkg/integration"
)

// BatchHandler is what an SQS-triggered Lambda is: it gets a batch and
// reports the messages that failed.
type BatchHandler = func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error)

// Queue is a queue under test: the domain's sending side, plus the consuming
// side that Lambda's event source mapping (or the local runner) provides.
type Queue interface {
	integration.Queue
	// Consume delivers batches of at most 10 messages to h until ctx ends.
	// Messages h reports in BatchItemFailures, or all of a batch when h
	// returns an error, come back after the visibility timeout; after
	// MaxReceives deliveries a message moves to the dead-letter queue. A
	// message's group comes as its MessageGroupId attribute.
	Consume(ctx context.Context, h BatchHandler) error
	// DeadLetters removes and returns the bodies in the dead-letter queue.
	DeadLetters(ctx context.Context) ([]string, error)
	// ChangeVisibility sets when a received message comes back, as SQS's
	// ChangeMessageVisibility: the sync worker's backoff.
	ChangeVisibility(ctx context.Context, receiptHandle string, d time.Duration) error
}

// QueueOptions configure a fresh queue for one subtest.
type QueueOptions struct {
	VisibilityTimeout time.Duration // whole seconds
	MaxReceives       int
}

type delivery struct {
	body     string
	receives int
	at       time.Time
}

type recorder struct {
	mu   sync.Mutex
	got  []delivery
	fail func(body string, receives int) bool
	err  func(body string, receives int) bool
}

func (r *recorder) handle(_ context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	var resp events.SQSEventResponse
	if len(ev.Records) == 0 || len(ev.Records) > 10 {
		return resp, fmt.Errorf("batch of %d records", len(ev.Records))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	batchErr := false
	for _, m := range ev.Records {
		n, _ := strconv.Atoi(m.Attributes["ApproximateReceiveCount"])
		r.got = append(r.got, delivery{body: m.Body, receives: n, at: time.Now()})
		if m.MessageId == "" {
			return resp, fmt.Errorf("message without id")
		}
		if r.err != nil && r.err(m.Body, n) {
			batchErr = true
		}
		if r.fail != nil && r.fail(m.Body, n) {
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
		}
	}
	if batchErr {
		return events.SQSEventResponse{}, fmt.Errorf("handler failed")
	}
	return resp, nil
}

func (r *recorder) deliveries(body string) []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []delivery
	for _, d := range r.got {
		if d.body == body {
			out = append(out, d)
		}
	}
	return out
}

func (r *recorder) distinct() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := map[string]bool{}
	for _, d := range r.got {
		seen[d.body] = true
	}
	return len(seen)
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func consume(t *testing.T, q Queue, r *recorder) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- q.Consume(ctx, r.handle) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && err != context.Canceled {
			t.Errorf("consume: %v", err)
		}
	})
}

func messages(prefix string, n int) []integration.Message {
	out := make([]integration.Message, n)
	for i := range out {
		out[i] = integration.Message{Body: fmt.Sprintf("%s-%02d", prefix, i)}
	}
	return out
}

// TestQueue runs the Queue conformance suite. newQueue makes a fresh, empty
// queue (and dead-letter queue) with the given options.
func TestQueue(t *testing.T, newQueue func(t *testing.T, o QueueOptions) Queue) {
	ctx := context.Background()
	opts := QueueOptions{VisibilityTimeout: time.Second, MaxReceives: 3}
	t.Run("delivers every message in batches of at most ten", func(t *testing.T) {
		q := newQueue(t, opts)
		if err := q.Send(ctx, messages("m", 25)); err != nil {
			t.Fatal(err)
		}
		if err := q.Send(ctx, nil); err != nil {
			t.Fatalf("empty send: %v", err)
		}
		r := &recorder{}
		consume(t, q, r)
		waitFor(t, 15*time.Second, "25 messages", func() bool { return r.distinct() == 25 })
		time.Sleep(1500 * time.Millisecond) // past the visibility timeout: nothing comes back
		r.mu.Lock()
		defer r.mu.Unlock()
		if len(r.got) != 25 {
			t.Fatalf("%d deliveries of 25 messages (acknowledged messages came back)", len(r.got))
		}
		for _, d := range r.got {
			if d.receives != 1 {
				t.Fatalf("receive count %d on first delivery", d.receives)
			}
		}
	})
	t.Run("reported item failures alone come back", func(t *testing.T) {
		q := newQueue(t, opts)
		if err := q.Send(ctx, messages("p", 5)); err != nil {
			t.Fatal(err)
		}
		r := &recorder{fail: func(body string, n int) bool { return body == "p-02" && n == 1 }}
		consume(t, q, r)
		waitFor(t, 15*time.Second, "redelivery of p-02", func() bool { return len(r.deliveries("p-02")) == 2 })
		time.Sleep(1500 * time.Millisecond)
		if d := r.deliveries("p-02"); len(d) != 2 || d[1].receives != 2 {
			t.Fatalf("p-02 deliveries %+v", d)
		}
		if d := r.deliveries("p-02"); d[1].at.Sub(d[0].at) < 900*time.Millisecond {
			t.Fatalf("redelivered after %v, before the visibility timeout", d[1].at.Sub(d[0].at))
		}
		for _, b := range []string{"p-00", "p-01", "p-03", "p-04"} {
			if n := len(r.deliveries(b)); n != 1 {
				t.Fatalf("%s delivered %d times", b, n)
			}
		}
	})
	t.Run("a changed visibility decides when a failed message comes back", func(t *testing.T) {
		q := newQueue(t, opts)
		if err := q.Send(ctx, []integration.Message{{Body: "later"}, {Body: "now"}}); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		seen := map[string][]time.Time{}
		h := func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
			var resp events.SQSEventResponse
			for _, m := range ev.Records {
				mu.Lock()
				seen[m.Body] = append(seen[m.Body], time.Now())
				first := len(seen[m.Body]) == 1
				mu.Unlock()
				if !first {
					continue
				}
				d := 3 * time.Second
				if m.Body == "now" {
					d = 0
				}
				if err := q.ChangeVisibility(ctx, m.ReceiptHandle, d); err != nil {
					t.Error(err)
				}
				resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
			}
			return resp, nil
		}
		cctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- q.Consume(cctx, h) }()
		defer func() { cancel(); <-done }()
		waitFor(t, 20*time.Second, "both redelivered", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(seen["later"]) == 2 && len(seen["now"]) == 2
		})
		mu.Lock()
		defer mu.Unlock()
		if gap := seen["later"][1].Sub(seen["later"][0]); gap < 2800*time.Millisecond {
			t.Fatalf("visibility 3s: back after %v", gap)
		}
		if gap := seen["now"][1].Sub(seen["now"][0]); gap > 900*time.Millisecond {
			t.Fatalf("visibility 0: back after %v, not at once", gap)
		}
	})
	t.Run("a failed batch comes back whole", func(t *testing.T) {
		q := newQueue(t, opts)
		if err := q.Send(ctx, []integration.Message{{Body: "only"}}); err != nil {
			t.Fatal(err)
		}
		r := &recorder{err: func(_ string, receives int) bool { return receives == 1 }}
		consume(t, q, r)
		waitFor(t, 15*time.Second, "redelivery after a batch error", func() bool { return len(r.deliveries("only")) == 2 })
	})
	t.Run("poison message lands in the dead-letter queue", func(t *testing.T) {
		q := newQueue(t, opts)
		if err := q.Send(ctx, []integration.Message{{Body: "poison"}, {Body: "fine"}}); err != nil {
			t.Fatal(err)
		}
		r := &recorder{fail: func(body string, _ int) bool { return body == "poison" }}
		consume(t, q, r)
		var dead []string
		waitFor(t, 20*time.Second, "the dead-letter queue", func() bool {
			got, err := q.DeadLetters(ctx)
			if err != nil {
				t.Fatal(err)
			}
			dead = append(dead, got...)
			return len(dead) > 0
		})
		if len(dead) != 1 || dead[0] != "poison" {
			t.Fatalf("dead letters %v", dead)
		}
		if n := len(r.deliveries("poison")); n != opts.MaxReceives {
			t.Fatalf("poison delivered %d times, want %d", n, opts.MaxReceives)
		}
		if n := len(r.deliveries("fine")); n != 1 {
			t.Fatalf("fine delivered %d times", n)
		}
	})
	t.Run("delay is honoured", func(t *testing.T) {
		q := newQueue(t, opts)
		sent := time.Now()
		if err := q.Send(ctx, []integration.Message{{Body: "later", Delay: 2 * time.Second}, {Body: "now"}}); err != nil {
			t.Fatal(err)
		}
		r := &recorder{}
		consume(t, q, r)
		waitFor(t, 15*time.Second, "the delayed message", func() bool { return len(r.deliveries("later")) == 1 })
		if d := r.deliveries("later")[0].at.Sub(sent); d < 1800*time.Millisecond {
			t.Fatalf("delayed message delivered after %v", d)
		}
		if d := r.deliveries("now"); len(d) != 1 || d[0].at.Sub(sent) > 1500*time.Millisecond {
			t.Fatalf("undelayed message: %+v", d)
		}
	})
	t.Run("a message's group comes back as its MessageGroupId", func(t *testing.T) {
		q := newQueue(t, opts)
		if err := q.Send(ctx, []integration.Message{{Body: "a", Group: "acct-a"}, {Body: "b", Group: "acct-b"}, {Body: "none"}}); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		got := map[string]string{}
		h := func(_ context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
			mu.Lock()
			defer mu.Unlock()
			for _, m := range ev.Records {
				got[m.Body] = m.Attributes["MessageGroupId"]
			}
			return events.SQSEventResponse{}, nil
		}
		cctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- q.Consume(cctx, h) }()
		defer func() { cancel(); <-done }()
		waitFor(t, 15*time.Second, "three messages", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(got) == 3
		})
		mu.Lock()
		defer mu.Unlock()
		for body, want := range map[string]string{"a": "acct-a", "b": "acct-b", "none": ""} {
			if got[body] != want {
				t.Errorf("%s: MessageGroupId %q, want %q", body, got[body], want)
			}
		}
	})
	t.Run("a group SQS would refuse is refused", func(t *testing.T) {
		q := newQueue(t, opts)
		for _, g := range []string{strings.Repeat("g", 129), "a b", "tenant\n"} {
			if err := q.Send(ctx, []integration.Message{{Body: "x", Group: g}}); err == nil {
				t.Errorf("group %q was accepted", g)
			}
		}
	})
	t.Run("oversized message is refused", func(t *testing.T) {
		q := newQueue(t, opts)
		err := q.Send(ctx, []integration.Message{{Body: strings.Repeat("x", 256*1024+1)}})
		if err == nil {
			t.Fatal("a message over 256 KiB was accepted")
		}
	})
}
