package sqsqueue

import (
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
		url, dlq, err := CreateQueues(awstest.Context(t), client, name, o.VisibilityTimeout, o.MaxReceives)
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
