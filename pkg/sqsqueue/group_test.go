package sqsqueue

import (
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/joinery/joinery/pkg/awstest"
	"github.com/joinery/joinery/pkg/integration"
)

// A message's group goes to SQS as its MessageGroupId (a fair queue, on a
// standard queue) and comes back as a system attribute. moto keeps and
// returns it but does not reorder by it: it delivers in arrival order.
func TestGroupIsSentAsMessageGroupID(t *testing.T) {
	client := sqs.NewFromConfig(awstest.Config(awstest.Moto(t)))
	ctx := awstest.Context(t)
	url, dlq, err := CreateQueues(ctx, client, fmt.Sprintf("joinery-group-%d-%d", time.Now().UnixNano(), n.Add(1)), 30*time.Second, 3)
	if err != nil {
		t.Fatal(err)
	}
	q := New(client, url, dlq)
	sent := map[string]string{"a-1": "acct-a", "b-1": "acct-b", "none": ""}
	// More than one SendMessageBatch, so every chunk carries groups.
	var msgs []integration.Message
	for i := range 12 {
		body := fmt.Sprintf("a-%d", i+2)
		sent[body] = "acct-a"
		msgs = append(msgs, integration.Message{Body: body, Group: "acct-a"})
	}
	msgs = append(msgs, integration.Message{Body: "a-1", Group: "acct-a"}, integration.Message{Body: "b-1", Group: "acct-b"}, integration.Message{Body: "none"})
	if err := q.Send(ctx, msgs); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for len(got) < len(sent) {
		out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: 10,
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameMessageGroupId}})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) == 0 {
			t.Fatalf("received %d of %d messages, then none", len(got), len(sent))
		}
		for _, m := range out.Messages {
			got[aws.ToString(m.Body)] = m.Attributes[string(types.MessageSystemAttributeNameMessageGroupId)]
		}
	}
	for body, want := range sent {
		if got[body] != want {
			t.Errorf("%s: MessageGroupId %q, want %q", body, got[body], want)
		}
	}
}
