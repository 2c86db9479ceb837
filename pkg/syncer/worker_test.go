package syncer_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/integration"
	"github.com/joinery/joinery/pkg/sqsworker"
	"github.com/joinery/joinery/pkg/syncer"
)

// sqsEvent is a batch of one message per body, each on its receive.
func sqsEvent(receive int, bodies ...string) events.SQSEvent {
	var ev events.SQSEvent
	for i, b := range bodies {
		ev.Records = append(ev.Records, events.SQSMessage{MessageId: fmt.Sprintf("m%d", i), ReceiptHandle: fmt.Sprintf("r%d", i), Body: b,
			Attributes: map[string]string{"ApproximateReceiveCount": strconv.Itoa(receive)}})
	}
	return ev
}

func TestEveryJobOfABatchStartsAtOnce(t *testing.T) {
	h := newDirectHarness(t, newPlatform(10*sqsworker.BatchSize+10))
	if _, _, err := h.engine.Start(context.Background(), h.actor, h.it.ID, pull); err != nil {
		t.Fatal(err)
	}
	plan, _ := h.mem.pop()
	var job syncer.Job
	_ = json.Unmarshal([]byte(plan.body), &job)
	if err := h.engine.Handle(context.Background(), job, 1); err != nil {
		t.Fatal(err)
	}
	var bodies []string
	for d, ok := h.mem.pop(); ok; d, ok = h.mem.pop() {
		bodies = append(bodies, d.body)
	}
	if len(bodies) != sqsworker.BatchSize {
		t.Fatalf("%d page jobs, want a batch of %d", len(bodies), sqsworker.BatchSize)
	}
	// Each job waits until every job of the batch has started: a worker
	// running fewer at once never gets there.
	var mu sync.Mutex
	started := 0
	all := make(chan struct{})
	h.platform.fail = func(string, int) error {
		mu.Lock()
		if started++; started == len(bodies) {
			close(all)
		}
		mu.Unlock()
		select {
		case <-all:
			return nil
		case <-time.After(10 * time.Second):
			return errors.New("the batch's other jobs never started")
		}
	}
	w := &sqsworker.Worker{Engine: h.engine}
	resp, err := w.Handle(context.Background(), sqsEvent(1, bodies...))
	if err != nil || len(resp.BatchItemFailures) > 0 {
		t.Fatalf("%d of %d jobs failed: %v", len(resp.BatchItemFailures), len(bodies), err)
	}
}

func TestAJobShortOfTimeIsSentAgainAndKeepsItsAttempts(t *testing.T) {
	h := newDirectHarness(t, newPlatform(5))
	h.engine.MaxReceives = 5
	h.platform.fail = func(string, int) error {
		return &connector.Error{Kind: connector.ErrUnavailable, Status: 503, Message: "the site is down"}
	}
	clock := time.Now()
	w := &sqsworker.Worker{Engine: h.engine, Now: func() time.Time { return clock }}
	// deliver hands the worker one message on its receive with left
	// before the invocation's deadline, and says whether it was acked.
	deliver := func(body string, receive int, left time.Duration) bool {
		t.Helper()
		ctx, cancel := context.WithDeadline(context.Background(), clock.Add(left))
		defer cancel()
		resp, err := w.Handle(ctx, sqsEvent(receive, body))
		if err != nil {
			t.Fatal(err)
		}
		return len(resp.BatchItemFailures) == 0
	}
	run, _, err := h.engine.Start(context.Background(), h.actor, h.it.ID, pull)
	if err != nil {
		t.Fatal(err)
	}
	plan, _ := h.mem.pop()
	for receive := 1; receive <= 2; receive++ {
		if deliver(plan.body, receive, time.Minute) {
			t.Fatalf("delivery %d of a failing job was acked", receive)
		}
	}
	calls := h.platform.calls["0"]
	if !deliver(plan.body, 3, 10*time.Second) {
		t.Fatal("a job with 10 s left was not acked")
	}
	if got := h.platform.calls["0"]; got != calls {
		t.Fatalf("a job with 10 s left called the platform (%d calls, want %d)", got, calls)
	}
	again, ok := h.mem.pop()
	if !ok {
		t.Fatal("the job short of time was not sent again")
	}
	var job syncer.Job
	if err := json.Unmarshal([]byte(again.body), &job); err != nil || job.Received != 2 || job.JobID != "plan" {
		t.Fatalf("sent again as %s (%v), want the plan job with 2 deliveries used", again.body, err)
	}
	// The new message's third receive is the job's fifth attempt: its last.
	for receive := 1; receive <= 3; receive++ {
		deliver(again.body, receive, time.Minute)
	}
	got, err := h.store.GetRun(context.Background(), h.it.ID, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != integration.RunError || !strings.Contains(got.Error, "failed 5 times") || h.platform.calls["0"] != 5 {
		t.Fatalf("after 5 attempts over two messages: run %s %q, %d platform calls", got.Status, got.Error, h.platform.calls["0"])
	}
}
