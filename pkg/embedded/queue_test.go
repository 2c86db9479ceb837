package embedded

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/joinery/joinery/pkg/integration"
)

func sendGroup(t *testing.T, q *Queue, group string, n int) {
	t.Helper()
	msgs := make([]integration.Message, n)
	for i := range msgs {
		msgs[i] = integration.Message{Body: fmt.Sprintf("%s-%04d", group, i), Group: group}
	}
	if err := q.Send(context.Background(), msgs); err != nil {
		t.Fatal(err)
	}
}

// batchGroups says whose messages a batch holds, as "a×10" or "a×7 b×3".
func batchGroups(ev events.SQSEvent) string {
	var out []string
	for i := 0; i < len(ev.Records); {
		g := ev.Records[i].Attributes["MessageGroupId"]
		j := i
		for j < len(ev.Records) && ev.Records[j].Attributes["MessageGroupId"] == g {
			j++
		}
		out = append(out, fmt.Sprintf("%s×%d", g, j-i))
		i = j
	}
	return strings.Join(out, " ")
}

// Receives are made at one instant and nothing is acknowledged, so what is
// in flight only grows: each step's batch shows who was noisy.
func TestNoisyGroups(t *testing.T) {
	type step struct {
		send  map[string]int // sent before this step's receive, in name order
		takes int            // receives made
		want  []string       // their batches
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"below 30 in flight a group is quiet, from 30 noisy", []step{
			{send: map[string]int{"a": 60}, takes: 2, want: []string{"a×10", "a×10"}},
			{send: map[string]int{"b": 10}, takes: 1, want: []string{"a×10"}}, // a: 20 in flight, quiet, sent first
			{takes: 2, want: []string{"b×10", "a×10"}},                        // a: 30, noisy; served when no one else waits
		}},
		{"30 in flight is not noisy while it is at most 10% of all in flight", []step{
			{send: map[string]int{"c": 300}, takes: 30},
			{send: map[string]int{"a": 60}, takes: 3, want: []string{"a×10", "a×10", "a×10"}},
			{send: map[string]int{"b": 10}, takes: 1, want: []string{"a×10"}}, // a: 30 of 330
			{takes: 2, want: []string{"b×10", "a×10"}},                        // a: 40 of 340
		}},
		{"a batch is filled with noisy messages after the quiet ones", []step{
			{send: map[string]int{"a": 60}, takes: 3},
			{send: map[string]int{"b": 4}, takes: 1, want: []string{"b×4 a×6"}},
		}},
		{"messages without a group are never noisy", []step{
			{send: map[string]int{"": 60}, takes: 3},
			{send: map[string]int{"b": 10}, takes: 1, want: []string{"×10"}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := NewQueue(QueueOptions{VisibilityTimeout: time.Hour})
			for i, s := range tt.steps {
				for _, g := range []string{"", "a", "b", "c"} {
					if n := s.send[g]; n > 0 {
						sendGroup(t, q, g, n)
					}
				}
				now := time.Now()
				for k := range s.takes {
					ev, _, _ := q.take(now)
					if s.want == nil {
						continue
					}
					if got := batchGroups(ev); got != s.want[k] {
						t.Fatalf("step %d, receive %d: batch %q, want %q", i+1, k+1, got, s.want[k])
					}
				}
			}
		})
	}
}

// Four consumers work through tenant A's 1,000 jobs; tenant B queues 10.
// Time is the consumers' work: every consumer is busy with a batch, and
// the oldest batch finishes before the next is taken, so "A finished n
// jobs" is a clock that needs no sleeps. B's jobs must all finish before A
// finishes another 10% of its own.
func TestAQuietTenantIsServedBeforeANoisyTenantsBacklog(t *testing.T) {
	const consumers, aJobs, bJobs = 4, 1000, 10
	for _, tt := range []struct {
		name   string
		bAfter int // A's jobs finished when B queues
	}{
		{"B queues right after A", 0},
		{"B queues while A's backlog is being worked", 200},
	} {
		t.Run(tt.name, func(t *testing.T) {
			q := NewQueue(QueueOptions{VisibilityTimeout: time.Hour}) // nothing comes back by timeout
			type batch struct {
				groups  []string
				release chan struct{}
			}
			started := make(chan batch)
			h := func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
				b := batch{release: make(chan struct{})}
				for _, m := range ev.Records {
					b.groups = append(b.groups, m.Attributes["MessageGroupId"])
				}
				select {
				case started <- b:
				case <-ctx.Done():
					return events.SQSEventResponse{}, nil
				}
				select {
				case <-b.release:
				case <-ctx.Done():
				}
				return events.SQSEventResponse{}, nil
			}
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			for range consumers {
				wg.Add(1)
				go func() { defer wg.Done(); _ = q.Consume(ctx, h) }()
			}
			defer func() { cancel(); wg.Wait() }()

			sendGroup(t, q, "acct-a", aJobs)
			sent, taken := aJobs, 0
			done := map[string]int{}
			bSentAt := -1
			var running []batch
			for done["acct-b"] < bJobs {
				if bSentAt < 0 && done["acct-a"] >= tt.bAfter {
					sendGroup(t, q, "acct-b", bJobs)
					sent += bJobs
					bSentAt = done["acct-a"]
				}
				for len(running) < consumers && taken < sent {
					select {
					case b := <-started:
						running = append(running, b)
						taken += len(b.groups)
					case <-time.After(5 * time.Second):
						t.Fatalf("%d consumers busy, %d of %d jobs taken, and no batch comes", len(running), taken, sent)
					}
				}
				if len(running) == 0 {
					t.Fatalf("nothing to run; finished %v", done)
				}
				b := running[0]
				running = running[1:]
				for _, g := range b.groups {
					done[g]++
				}
				close(b.release)
			}
			if extra := done["acct-a"] - bSentAt; extra >= aJobs/10 {
				t.Fatalf("A finished %d more jobs before B's %d were done; want fewer than %d", extra, bJobs, aJobs/10)
			} else {
				t.Logf("B queued after A's job %d; all of B done after A's %d (%d more)", bSentAt, done["acct-a"], extra)
			}
		})
	}
}
