package embedded

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/joinery/joinery/pkg/integration"
)

// Limits SQS has, kept here so local runs fail where AWS would.
const (
	maxMessageBytes = 256 * 1024
	maxDelay        = 15 * time.Minute
	maxBatch        = 10
)

// QueueOptions configure an in-process queue.
type QueueOptions struct {
	VisibilityTimeout time.Duration // default 30s
	MaxReceives       int           // deliveries before the dead-letter queue; default 5
	ARN               string
}

// Fairness between groups (tenants), as SQS fair queues have it: a group
// with at least noisyMin messages in flight and more than noisyShare of
// all those in flight is noisy, and a receive takes the visible messages
// of quiet groups first, then the noisy ones'.
const (
	noisyMin   = 30
	noisyShare = 0.10
)

// Queue is an in-process stand-in for an SQS fair queue, its redrive
// policy and Lambda's event source mapping. It lives in memory: queued
// work is lost when the process stops, which is acceptable for local
// development.
type Queue struct {
	opts    QueueOptions
	mu      sync.Mutex
	msgs    []*message // in send order
	dead    []string
	changed chan struct{} // closed and replaced whenever messages change
}

type message struct {
	id, body, md5, receipt string
	group                  string
	sentAt, firstRecv      time.Time
	visibleAt              time.Time
	receives               int
}

// NewQueue returns an empty queue.
func NewQueue(opts QueueOptions) *Queue {
	if opts.VisibilityTimeout <= 0 {
		opts.VisibilityTimeout = 30 * time.Second
	}
	if opts.MaxReceives <= 0 {
		opts.MaxReceives = 5
	}
	if opts.ARN == "" {
		opts.ARN = "arn:aws:sqs:local:000000000000:joinery"
	}
	return &Queue{opts: opts, changed: make(chan struct{})}
}

func randomID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// signal wakes every waiting consumer. Callers hold mu.
func (q *Queue) signal() {
	close(q.changed)
	q.changed = make(chan struct{})
}

// Send enqueues messages, all or none.
func (q *Queue) Send(_ context.Context, msgs []integration.Message) error {
	for i, m := range msgs {
		if len(m.Body) > maxMessageBytes {
			return fmt.Errorf("message %d is %d bytes; the limit is %d", i, len(m.Body), maxMessageBytes)
		}
		if m.Delay < 0 || m.Delay > maxDelay {
			return fmt.Errorf("message %d: delay %v is outside 0-15m", i, m.Delay)
		}
		if !integration.ValidGroup(m.Group) {
			return fmt.Errorf("message %d: group %q is not up to 128 printable ASCII characters", i, m.Group)
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	now := time.Now()
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, m := range msgs {
		sum := md5.Sum([]byte(m.Body))
		q.msgs = append(q.msgs, &message{id: randomID(), body: m.Body, md5: hex.EncodeToString(sum[:]), group: m.Group, sentAt: now, visibleAt: now.Add(m.Delay)})
	}
	q.signal()
	return nil
}

// take marks up to ten visible messages in flight and returns them as an
// SQS event, or, when none is visible, when to look again. Quiet groups'
// messages go first, each in send order; noisy groups' fill the rest.
func (q *Queue) take(now time.Time) (events.SQSEvent, time.Time, <-chan struct{}) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.movePoison(now) // the redrive policy moves them
	var next time.Time
	inFlight, total := map[string]int{}, 0
	for _, m := range q.msgs {
		if !m.visibleAt.After(now) {
			continue
		}
		if next.IsZero() || m.visibleAt.Before(next) {
			next = m.visibleAt
		}
		if m.receives > 0 {
			inFlight[m.group]++
			total++
		}
	}
	noisy := func(group string) bool {
		n := inFlight[group]
		return group != "" && n >= noisyMin && float64(n) > noisyShare*float64(total)
	}
	var batch []*message
	for _, late := range []bool{false, true} {
		for _, m := range q.msgs {
			if len(batch) == maxBatch {
				break
			}
			if !m.visibleAt.After(now) && noisy(m.group) == late {
				batch = append(batch, m)
			}
		}
	}
	var ev events.SQSEvent
	for _, m := range batch {
		m.receives++
		if m.firstRecv.IsZero() {
			m.firstRecv = now
		}
		m.receipt = randomID()
		m.visibleAt = now.Add(q.opts.VisibilityTimeout)
		attrs := map[string]string{
			"ApproximateReceiveCount":          strconv.Itoa(m.receives),
			"SentTimestamp":                    strconv.FormatInt(m.sentAt.UnixMilli(), 10),
			"ApproximateFirstReceiveTimestamp": strconv.FormatInt(m.firstRecv.UnixMilli(), 10),
			"SenderId":                         "local",
		}
		if m.group != "" {
			attrs["MessageGroupId"] = m.group
		}
		ev.Records = append(ev.Records, events.SQSMessage{
			MessageId: m.id, ReceiptHandle: m.receipt, Body: m.body, Md5OfBody: m.md5,
			Attributes: attrs, MessageAttributes: map[string]events.SQSMessageAttribute{},
			EventSource: "aws:sqs", EventSourceARN: q.opts.ARN, AWSRegion: "local",
		})
	}
	return ev, next, q.changed
}

// ack removes the delivered messages that succeeded.
func (q *Queue) ack(ev events.SQSEvent, failed map[string]bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	done := map[string]bool{}
	for _, r := range ev.Records {
		if !failed[r.MessageId] {
			done[r.ReceiptHandle] = true
		}
	}
	kept := q.msgs[:0]
	for _, m := range q.msgs {
		if !done[m.receipt] {
			kept = append(kept, m)
		}
	}
	q.msgs = kept
}

// Consume delivers batches to h until ctx ends, as Lambda's SQS event
// source mapping does with ReportBatchItemFailures.
func (q *Queue) Consume(ctx context.Context, h func(context.Context, events.SQSEvent) (events.SQSEventResponse, error)) error {
	for {
		ev, next, changed := q.take(time.Now())
		if len(ev.Records) == 0 {
			var timer <-chan time.Time
			if !next.IsZero() {
				t := time.NewTimer(time.Until(next))
				timer = t.C
				defer t.Stop()
			}
			select {
			case <-ctx.Done():
				return nil
			case <-changed:
			case <-timer:
			}
			continue
		}
		resp, err := h(ctx, ev)
		if err != nil {
			continue // the whole batch comes back after the visibility timeout
		}
		failed := map[string]bool{}
		for _, f := range resp.BatchItemFailures {
			failed[f.ItemIdentifier] = true
		}
		q.ack(ev, failed)
		if ctx.Err() != nil {
			return nil
		}
	}
}

// ChangeVisibility makes an in-flight message visible again after d, like
// SQS ChangeMessageVisibility; a worker uses it to back off.
func (q *Queue) ChangeVisibility(_ context.Context, receiptHandle string, d time.Duration) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, m := range q.msgs {
		if m.receipt == receiptHandle {
			m.visibleAt = time.Now().Add(d)
			q.signal()
			return nil
		}
	}
	return fmt.Errorf("receipt handle is not in flight")
}

// DeadLetters removes and returns the bodies in the dead-letter queue.
func (q *Queue) DeadLetters(context.Context) ([]string, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.movePoison(time.Now())
	out := q.dead
	q.dead = nil
	return out, nil
}

// movePoison moves visible messages that have used all their receives, as
// SQS does on the next receive attempt. Callers hold mu.
func (q *Queue) movePoison(now time.Time) {
	kept := q.msgs[:0]
	for _, m := range q.msgs {
		if !m.visibleAt.After(now) && m.receives >= q.opts.MaxReceives {
			q.dead = append(q.dead, m.body)
			continue
		}
		kept = append(kept, m)
	}
	q.msgs = kept
}

// Stats counts messages: visible, in flight or delayed, and dead.
func (q *Queue) Stats() (visible, waiting, dead int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := time.Now()
	for _, m := range q.msgs {
		if m.visibleAt.After(now) {
			waiting++
		} else {
			visible++
		}
	}
	return visible, waiting, len(q.dead)
}
