package syncer_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/integration"
	"github.com/joinery/joinery/pkg/sqsworker"
	"github.com/joinery/joinery/pkg/syncer"
)

// leaseOutage fails every LeaseMapping while down: a push job fails on
// each delivery, as under a store outage, and is dead-lettered.
type leaseOutage struct {
	integration.SyncStore
	down atomic.Bool
}

func (l *leaseOutage) LeaseMapping(ctx context.Context, integrationID, model, localID, owner string, until time.Time) (*integration.Mapping, bool, error) {
	if l.down.Load() {
		return nil, false, errors.New("store unavailable")
	}
	return l.SyncStore.LeaseMapping(ctx, integrationID, model, localID, owner, until)
}

// handClock is a clock a test moves by hand.
type handClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *handClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *handClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// consumeDLQ waits for the queue to dead-letter n messages and hands them
// to the dead-letter consumer, as the DLQ's event source does.
func consumeDLQ(t *testing.T, h *harness, n int) events.SQSEvent {
	t.Helper()
	var ev events.SQSEvent
	for deadline := time.Now().Add(10 * time.Second); len(ev.Records) < n && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		bodies, err := h.queue.DeadLetters(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range bodies {
			ev.Records = append(ev.Records, events.SQSMessage{MessageId: fmt.Sprint("dlq-msg-", len(ev.Records)), Body: b,
				Attributes: map[string]string{"ApproximateReceiveCount": "3"}})
		}
	}
	if len(ev.Records) != n {
		t.Fatalf("%d dead letters, want %d", len(ev.Records), n)
	}
	resp, err := (&sqsworker.DeadLetters{Engine: h.engine}).Handle(context.Background(), ev)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("dead-letter consumer: %+v %v", resp, err)
	}
	return ev
}

func (h *harness) health() syncer.Health {
	h.t.Helper()
	got, err := h.engine.Health(context.Background(), h.actor, h.it.ID)
	if err != nil {
		h.t.Fatal(err)
	}
	return got
}

// A push job that fails on every delivery is dead-lettered, kept against
// its integration, counted in sync_health, replayed once (a second replay
// sends nothing) and then succeeds. Its count leaves sync_health 24 hours
// on.
func TestDeadLetterReplay(t *testing.T) {
	h := newHarness(t, newPlatform(0))
	clock := &handClock{t: time.Now().UTC()}
	h.engine.Now = clock.Now
	outage := &leaseOutage{SyncStore: h.store}
	outage.down.Store(true)
	h.engine.Store = outage

	p := h.push("article-1", "Hello")
	done := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	w := &sqsworker.Worker{Engine: h.engine, Visibility: h.queue}
	go func() { defer close(done); _ = h.queue.Consume(ctx, w.Handle) }()
	ev := consumeDLQ(t, h, 1)
	cancel()
	<-done
	if !strings.Contains(ev.Records[0].Body, `"kind":"push"`) {
		t.Fatalf("dead letter: %s", ev.Records[0].Body)
	}
	// The DLQ delivers at least once: the same message again is kept once.
	if resp, err := (&sqsworker.DeadLetters{Engine: h.engine}).Handle(context.Background(), ev); err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("again: %+v %v", resp, err)
	}
	hl := h.health()
	if hl.DeadLetters24h != 1 || hl.PendingPushes != 1 {
		t.Fatalf("health after the dead letter: %d dead letters, %d pending (want 1, 1)", hl.DeadLetters24h, hl.PendingPushes)
	}
	page, err := h.engine.Events(context.Background(), h.actor, h.it.ID, "error", "dead_letter", 10, "")
	if err != nil || len(page.Items) != 1 || page.Items[0].Details["local_id"] != "article-1" {
		t.Fatalf("dead_letter events: %+v %v", page.Items, err)
	}

	viewer := h.actor
	viewer.Role = integration.RoleViewer
	if _, err := h.engine.ReplayDeadLetters(context.Background(), viewer, h.it.ID); integration.ErrorCode(err) != integration.EFORBIDDEN {
		t.Fatalf("a viewer replays: %v", err)
	}
	other := h.actor
	other.AccountID = "acct-2"
	if _, err := h.engine.ReplayDeadLetters(context.Background(), other, h.it.ID); integration.ErrorCode(err) != integration.ENOTFOUND {
		t.Fatalf("another account replays: %v", err)
	}

	outage.down.Store(false)
	if n, err := h.engine.ReplayDeadLetters(context.Background(), h.actor, h.it.ID); err != nil || n != 1 {
		t.Fatalf("replay: %d %v, want 1", n, err)
	}
	if n, err := h.engine.ReplayDeadLetters(context.Background(), h.actor, h.it.ID); err != nil || n != 0 {
		t.Fatalf("second replay: %d %v, want 0", n, err)
	}
	got := h.drain(p.ID)
	if got[p.ID].Status != integration.PushDone || h.platform.creates != 1 {
		t.Fatalf("replayed push: %+v, %d items created", got[p.ID], h.platform.creates)
	}
	hl = h.health()
	if hl.PendingPushes != 0 || hl.DeadLetters24h != 1 {
		t.Fatalf("health after the replay: %d pending, %d dead letters", hl.PendingPushes, hl.DeadLetters24h)
	}
	clock.Add(23 * time.Hour)
	if hl := h.health(); hl.DeadLetters24h != 1 {
		t.Fatalf("23 hours on: %d dead letters, want 1", hl.DeadLetters24h)
	}
	clock.Add(2 * time.Hour)
	if hl := h.health(); hl.DeadLetters24h != 0 {
		t.Fatalf("25 hours on: %d dead letters, want 0", hl.DeadLetters24h)
	}
}

// sync_health counts failed items and runs, failed and conflicting
// pushes in the last 24 hours (hourly buckets on the engine's clock), and
// the pending pushes exactly.
func TestHealthCounts(t *testing.T) {
	h := newHarness(t, newPlatform(12))
	clock := &handClock{t: time.Now().UTC()}
	h.engine.Now = clock.Now
	h.platform.broken = 7
	h.sync(pull)

	done := h.push("a", "first").ID
	h.drain(done)
	h.platform.touch(1001) // edited on the platform since Joinery wrote it
	conflict := h.push("a", "second").ID
	h.drain(conflict)
	b := h.push("b", "first").ID
	h.drain(b)
	h.platform.rejectUpdates = true
	failed := h.push("b", "second").ID
	got := h.drain(failed)
	if got[failed].Status != integration.PushFailed {
		t.Fatalf("push: %+v", got[failed])
	}

	clock.Add(2 * time.Hour)
	h.platform.fail = func(string, int) error {
		return &connector.Error{Kind: connector.ErrAuth, Status: 401, Message: "WordPress rejected the Application Password."}
	}
	if run := h.sync(syncer.StartInput{Direction: integration.DirectionFromExternal, Full: true}); run.Status != integration.RunError {
		t.Fatalf("run: %s", run.Status)
	}
	hl := h.health()
	want := fmt.Sprint(1, 1, 1, 1, 0)
	if got := fmt.Sprint(hl.FailedItems24h, hl.FailedRuns24h, hl.FailedPushes24h, hl.ConflictPushes24h, hl.PendingPushes); got != want {
		t.Fatalf("items, runs, pushes failed, conflicts, pending = %s, want %s", got, want)
	}
	clock.Add(22 * time.Hour) // the first failures are 24 hours old, the run's 22
	hl = h.health()
	if got := fmt.Sprint(hl.FailedItems24h, hl.FailedRuns24h, hl.FailedPushes24h, hl.ConflictPushes24h); got != "0 1 0 0" {
		t.Fatalf("a day on: items, runs, pushes failed, conflicts = %s, want 0 1 0 0", got)
	}
	clock.Add(2 * time.Hour)
	if hl := h.health(); hl.FailedRuns24h != 0 {
		t.Fatalf("the run's failure is %d hours old and still counted", 24)
	}
}

// failingQueue refuses every send.
type failingQueue struct{}

func (failingQueue) Send(context.Context, []integration.Message) error {
	return errors.New("queue unavailable")
}

// A replay whose send fails keeps its dead letters, counted once, for the
// next replay.
func TestDeadLetterReplaySendFails(t *testing.T) {
	h := newHarness(t, newPlatform(0))
	ev := events.SQSEvent{Records: []events.SQSMessage{{MessageId: "m1",
		Body: `{"kind":"push","account_id":"acct-1","integration_id":"` + h.it.ID + `","run_id":"push","job_id":"p","model":"post","page":"x"}`}}}
	if _, err := (&sqsworker.DeadLetters{Engine: h.engine}).Handle(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	h.engine.Queue = failingQueue{}
	if n, err := h.engine.ReplayDeadLetters(context.Background(), h.actor, h.it.ID); err == nil || n != 0 {
		t.Fatalf("replay with the queue down: %d %v", n, err)
	}
	if hl := h.health(); hl.DeadLetters24h != 1 {
		t.Fatalf("dead letters counted %d times", hl.DeadLetters24h)
	}
	h.engine.Queue = h.queue
	if n, err := h.engine.ReplayDeadLetters(context.Background(), h.actor, h.it.ID); err != nil || n != 1 {
		t.Fatalf("replay once the queue is back: %d %v", n, err)
	}
}
