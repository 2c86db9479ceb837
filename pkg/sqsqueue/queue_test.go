package sqsqueue

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/joinery/joinery/pkg/awstest"
	"github.com/joinery/joinery/pkg/conformance"
)

func TestMain(m *testing.M) { awstest.Main(m) }

var n atomic.Int64

func TestQueueConformance(t *testing.T) {
	client := sqs.NewFromConfig(awstest.Config(awstest.Moto(t)))
	conformance.TestQueue(t, func(t *testing.T, o conformance.QueueOptions) conformance.Queue {
		name := fmt.Sprintf("joinery-test-%d-%d", time.Now().UnixNano(), n.Add(1))
		// moto now and then leaves one call unanswered: each try gets 20 s,
		// and creating a queue that exists returns it.
		var url, dlq string
		var err error
		for try := 1; try <= 3; try++ {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			url, dlq, err = CreateQueues(ctx, client, name, o.VisibilityTimeout, o.MaxReceives)
			cancel()
			if err == nil {
				break
			}
			t.Logf("create queues, try %d: %v", try, err)
		}
		if err != nil {
			t.Fatal(err)
		}
		return New(client, url, dlq)
	})
}

func TestRegionOf(t *testing.T) {
	if got := regionOf("arn:aws:sqs:eu-west-1:123456789012:q"); got != "eu-west-1" {
		t.Fatalf("region %q", got)
	}
}
