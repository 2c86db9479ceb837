package eventbus

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/joinery/joinery/pkg/awstest"
	"github.com/joinery/joinery/pkg/notify"
)

func TestPutEventsOnMoto(t *testing.T) {
	client := eventbridge.NewFromConfig(awstest.Config(awstest.Moto(t)))
	ctx := awstest.Context(t)
	name := fmt.Sprintf("joinery-bus-%d", time.Now().UnixNano())
	if _, err := client.CreateEventBus(ctx, &eventbridge.CreateEventBusInput{Name: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
	b := New(client, name)
	b.Sleep = func(time.Duration) {}
	var evs []notify.BusEvent
	for i := range 10 {
		evs = append(evs, notify.BusEvent{Type: "record.created", Detail: fmt.Sprintf(`{"id":"evt_%d"}`, i)})
	}
	if failed, err := b.PutEvents(ctx, evs); err != nil || failed != 0 {
		t.Fatalf("put: %d failed, %v", failed, err)
	}
	// A bus that is not there: every event fails, and says so.
	gone := New(client, name+"-gone")
	gone.Sleep = func(time.Duration) {}
	if failed, err := gone.PutEvents(context.Background(), evs[:2]); failed != 2 || err == nil {
		t.Fatalf("missing bus: %d failed, %v", failed, err)
	}
}
