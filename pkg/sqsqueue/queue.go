// Package sqsqueue sends work to SQS and, for the local runner and tests,
// consumes it the way Lambda's SQS event source mapping does.
package sqsqueue

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/joinery/joinery/pkg/integration"
)

const (
	maxMessageBytes = 256 * 1024
	maxBatch        = 10
	maxDelay        = 15 * time.Minute
)

// Queue is an SQS queue and its dead-letter queue.
type Queue struct {
	sqs      *sqs.Client
	url, dlq string
	// arn is read once, by the first of the queue's consumers (several
	// consume one queue at once).
	arnMu sync.Mutex
	arn   string
	// WaitTime is the long-poll wait of Consume; 0 polls briefly and sleeps
	// PollInterval when empty (moto serves one request at a time).
	WaitTime     time.Duration
	PollInterval time.Duration
}

var _ integration.Queue = (*Queue)(nil)

// New returns a queue for the given URLs.
func New(client *sqs.Client, queueURL, dlqURL string) *Queue {
	return &Queue{sqs: client, url: queueURL, dlq: dlqURL, PollInterval: 100 * time.Millisecond}
}

// Send enqueues messages with SendMessageBatch, ten at a time, each with
// its group as MessageGroupId. Entries SQS reports as failed are retried
// once; then Send fails.
func (q *Queue) Send(ctx context.Context, msgs []integration.Message) error {
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
	for start := 0; start < len(msgs); start += maxBatch {
		chunk := msgs[start:min(start+maxBatch, len(msgs))]
		entries := make([]types.SendMessageBatchRequestEntry, len(chunk))
		for i, m := range chunk {
			entries[i] = types.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), MessageBody: aws.String(m.Body), DelaySeconds: int32(m.Delay / time.Second)}
			if m.Group != "" {
				// On a standard queue the group makes it a fair queue:
				// the group is the tenant.
				entries[i].MessageGroupId = aws.String(m.Group)
			}
		}
		for attempt := 0; len(entries) > 0; attempt++ {
			out, err := q.sqs.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: &q.url, Entries: entries})
			if err != nil {
				return fmt.Errorf("send %d messages: %w", len(entries), err)
			}
			if len(out.Failed) == 0 {
				break
			}
			if attempt == 1 {
				return fmt.Errorf("send: %d messages failed (%s)", len(out.Failed), aws.ToString(out.Failed[0].Code))
			}
			failed := map[string]bool{}
			for _, f := range out.Failed {
				failed[aws.ToString(f.Id)] = true
			}
			retry := entries[:0]
			for _, e := range entries {
				if failed[aws.ToString(e.Id)] {
					retry = append(retry, e)
				}
			}
			entries = retry
		}
	}
	return nil
}

// Consume receives batches and hands them to h as Lambda would: messages
// h reports in BatchItemFailures (or all, when h fails) are left to come
// back after the visibility timeout; the rest are deleted.
func (q *Queue) Consume(ctx context.Context, h func(context.Context, events.SQSEvent) (events.SQSEventResponse, error)) error {
	arn, err := q.queueARN(ctx)
	if err != nil {
		return err
	}
	for ctx.Err() == nil {
		out, err := q.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: &q.url, MaxNumberOfMessages: maxBatch, WaitTimeSeconds: int32(q.WaitTime / time.Second),
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
		})
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return fmt.Errorf("receive: %w", err)
		}
		if len(out.Messages) == 0 {
			select {
			case <-ctx.Done():
			case <-time.After(q.PollInterval):
			}
			continue
		}
		ev := events.SQSEvent{Records: make([]events.SQSMessage, len(out.Messages))}
		for i, m := range out.Messages {
			ev.Records[i] = events.SQSMessage{
				MessageId: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle), Body: aws.ToString(m.Body),
				Md5OfBody: aws.ToString(m.MD5OfBody), Attributes: m.Attributes, MessageAttributes: map[string]events.SQSMessageAttribute{},
				EventSource: "aws:sqs", EventSourceARN: arn, AWSRegion: regionOf(arn),
			}
		}
		resp, err := h(ctx, ev)
		if err != nil {
			continue
		}
		failed := map[string]bool{}
		for _, f := range resp.BatchItemFailures {
			failed[f.ItemIdentifier] = true
		}
		var del []types.DeleteMessageBatchRequestEntry
		for i, r := range ev.Records {
			if !failed[r.MessageId] {
				del = append(del, types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(r.ReceiptHandle)})
			}
		}
		if len(del) > 0 {
			if _, err := q.sqs.DeleteMessageBatch(context.WithoutCancel(ctx), &sqs.DeleteMessageBatchInput{QueueUrl: &q.url, Entries: del}); err != nil {
				return fmt.Errorf("delete: %w", err)
			}
		}
	}
	return nil
}

// ChangeVisibility makes an in-flight message visible again after d.
func (q *Queue) ChangeVisibility(ctx context.Context, receiptHandle string, d time.Duration) error {
	_, err := q.sqs.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: &q.url, ReceiptHandle: &receiptHandle, VisibilityTimeout: int32(d / time.Second)})
	if err != nil {
		return fmt.Errorf("change visibility: %w", err)
	}
	return nil
}

// DeadLetters removes and returns what is in the dead-letter queue.
func (q *Queue) DeadLetters(ctx context.Context) ([]string, error) {
	out, err := q.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &q.dlq, MaxNumberOfMessages: maxBatch})
	if err != nil {
		return nil, fmt.Errorf("receive dead letters: %w", err)
	}
	bodies := make([]string, 0, len(out.Messages))
	for _, m := range out.Messages {
		bodies = append(bodies, aws.ToString(m.Body))
		if _, err := q.sqs.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &q.dlq, ReceiptHandle: m.ReceiptHandle}); err != nil {
			return nil, fmt.Errorf("delete dead letter: %w", err)
		}
	}
	return bodies, nil
}

func regionOf(arn string) string {
	// arn:aws:sqs:<region>:<account>:<name>
	parts := 0
	for i, c := range arn {
		if c == ':' {
			parts++
			if parts == 3 {
				rest := arn[i+1:]
				for j, d := range rest {
					if d == ':' {
						return rest[:j]
					}
				}
			}
		}
	}
	return ""
}

// CreateQueues creates the queue and its dead-letter queue (as template.yaml
// declares them), if missing, and returns their URLs.
func CreateQueues(ctx context.Context, client *sqs.Client, name string, visibility time.Duration, maxReceives int) (queueURL, dlqURL string, err error) {
	dlq, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name + "-dlq"),
		Attributes: map[string]string{"MessageRetentionPeriod": "1209600"}})
	if err != nil {
		return "", "", fmt.Errorf("create queue %s-dlq: %w", name, err)
	}
	attrs, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: dlq.QueueUrl, AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn}})
	if err != nil {
		return "", "", fmt.Errorf("queue %s-dlq attributes: %w", name, err)
	}
	redrive, _ := json.Marshal(map[string]string{"deadLetterTargetArn": attrs.Attributes["QueueArn"], "maxReceiveCount": strconv.Itoa(maxReceives)})
	q, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: map[string]string{
		"VisibilityTimeout": strconv.Itoa(int(visibility / time.Second)), "RedrivePolicy": string(redrive),
	}})
	if err != nil {
		return "", "", fmt.Errorf("create queue %s: %w", name, err)
	}
	return aws.ToString(q.QueueUrl), aws.ToString(dlq.QueueUrl), nil
}

// queueARN is the queue's ARN, asked of SQS the first time.
func (q *Queue) queueARN(ctx context.Context) (string, error) {
	q.arnMu.Lock()
	defer q.arnMu.Unlock()
	if q.arn == "" {
		out, err := q.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: &q.url, AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn}})
		if err != nil {
			return "", fmt.Errorf("queue attributes: %w", err)
		}
		q.arn = out.Attributes[string(types.QueueAttributeNameQueueArn)]
	}
	return q.arn, nil
}
