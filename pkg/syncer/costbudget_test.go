package syncer

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/embedded"
	"github.com/joinery/joinery/pkg/integration"
)

// Two workers of a Shopify integration draw on one budget of points in
// the store: together they wait for what the bucket lacks, a hold stops
// both, and a wait beyond the maximum sends the job back to the queue.
func TestCostBudgetIsSharedByWorkers(t *testing.T) {
	store, err := embedded.OpenStore(filepath.Join(t.TempDir(), "joinery.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	clock := &virtualClock{t: time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)}
	var engines [2]*Engine
	for i := range engines {
		engines[i] = &Engine{Store: store, Now: clock.Now, Rates: &Rates{Sleep: clock.Sleep}}
	}
	shop := &integration.Integration{ID: "int-1", Platform: "shopify"}
	if b := engines[0].costBudget(&integration.Integration{ID: "int-2", Platform: "wordpress"}); b != nil {
		t.Fatal("a request-rate platform got a cost budget")
	}
	ctx := context.Background()
	start := clock.Now()
	// A bucket of 1000 points restored at 100 a second: 3 × 600 points
	// is 800 beyond it, 8 seconds of waiting between the two workers.
	for i := range 3 {
		if err := engines[i%2].costBudget(shop).Take(ctx, 600, 100, 1000); err != nil {
			t.Fatal(err)
		}
	}
	if waited := clock.Now().Sub(start); waited != 8*time.Second {
		t.Errorf("waited %v, want 8s", waited)
	}
	// A throttle's hold, set by one worker, stops the other.
	held := clock.Now().Add(30 * time.Second)
	if err := engines[0].costBudget(shop).Hold(ctx, held); err != nil {
		t.Fatal(err)
	}
	engines[1].Rates.MaxWait = 60 * time.Second
	if err := engines[1].costBudget(shop).Take(ctx, 1, 100, 1000); err != nil {
		t.Fatal(err)
	}
	if clock.Now().Before(held) {
		t.Errorf("took points at %v, before the hold's end %v", clock.Now(), held)
	}
	// Beyond the worker's maximum wait: back to the queue, after the wait.
	engines[0].Rates.MaxWait = time.Second
	if err := engines[0].costBudget(shop).Hold(ctx, clock.Now().Add(20*time.Second)); err != nil {
		t.Fatal(err)
	}
	err = engines[0].costBudget(shop).Take(ctx, 1, 100, 1000)
	var ce *connector.Error
	if !errors.As(err, &ce) || ce.Kind != connector.ErrRateLimited || ce.RetryAfter < 19*time.Second {
		t.Errorf("err = %v", err)
	}
}
