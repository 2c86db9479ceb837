package integration

import (
	"context"
	"time"
)

// Message is one unit of background work.
type Message struct {
	Body  string
	Delay time.Duration // at most 15 minutes, as SQS allows
	// Group is the tenant the work belongs to (an account id), up to 128
	// printable ASCII characters: on a fair queue one tenant's flood does
	// not hold up the others' messages. Empty: no tenant.
	Group string
}

// Queue sends background work to the workers.
type Queue interface {
	Send(ctx context.Context, msgs []Message) error
}

// ValidGroup reports whether g can be a Message's Group (SQS's rule for a
// MessageGroupId): up to 128 printable ASCII characters, no spaces. Empty
// is no group.
func ValidGroup(g string) bool {
	if len(g) > 128 {
		return false
	}
	for i := 0; i < len(g); i++ {
		if g[i] <= ' ' || g[i] > '~' {
			return false
		}
	}
	return true
}
