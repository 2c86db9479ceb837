// Package eventbus puts Joinery's events on an EventBridge bus.
package eventbus

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/joinery/joinery/pkg/notify"
)

// Source is the source of every event Joinery puts.
const Source = "joinery"

// Bus puts events on one bus.
type Bus struct {
	client *eventbridge.Client
	name   string
	// Sleep waits between tries; tests make it instant.
	Sleep func(time.Duration)
}

var _ notify.Bus = (*Bus)(nil)

// New returns the bus named name (or its ARN).
func New(client *eventbridge.Client, name string) *Bus {
	return &Bus{client: client, name: name, Sleep: time.Sleep}
}

// tries is how often an entry the bus refused is put again.
const tries = 3

// PutEvents implements notify.Bus: one PutEvents call for up to 10
// events, then again for the entries that failed, a few times.
func (b *Bus) PutEvents(ctx context.Context, evs []notify.BusEvent) (int, error) {
	entries := make([]types.PutEventsRequestEntry, len(evs))
	for i, ev := range evs {
		entries[i] = types.PutEventsRequestEntry{EventBusName: aws.String(b.name), Source: aws.String(Source),
			DetailType: aws.String(ev.Type), Detail: aws.String(ev.Detail)}
	}
	var lastErr error
	for try := 0; try < tries && len(entries) > 0; try++ {
		if try > 0 {
			b.Sleep(time.Duration(try) * 200 * time.Millisecond)
		}
		out, err := b.client.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: entries})
		if err != nil {
			lastErr = fmt.Errorf("put events on %s: %w", b.name, err)
			continue
		}
		lastErr = nil
		var again []types.PutEventsRequestEntry
		for i, r := range out.Entries {
			if r.ErrorCode != nil && i < len(entries) {
				again = append(again, entries[i])
				lastErr = fmt.Errorf("put events on %s: %s", b.name, aws.ToString(r.ErrorCode))
			}
		}
		entries = again
	}
	return len(entries), lastErr
}
