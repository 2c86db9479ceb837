package integration

import (
	"context"
	"time"
)

// Message is one unit of background work.
type Message struct {
	Body  string
	Delay time.Duration // at most 15 minutes, as SQS allows
}

// Queue sends background work to the workers.
type Queue interface {
	Send(ctx context.Context, msgs []Message) error
}
