package syncer_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/integration"
)

// virtualClock is a test's clock; each reading moves it on by step.
type virtualClock struct {
	mu   sync.Mutex
	now  time.Time
	step time.Duration
}

func (c *virtualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.now
	c.now = c.now.Add(c.step)
	return t
}

func (c *virtualClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func (c *virtualClock) setStep(d time.Duration) {
	c.mu.Lock()
	c.step = d
	c.mu.Unlock()
}

// scheduled gives the harness n more integrations syncing every 15
// minutes, all due once the clock has moved on 16 minutes.
func (h *harness) scheduled(n int) (*virtualClock, []*integration.Integration) {
	h.t.Helper()
	clock := &virtualClock{now: time.Now().UTC()}
	h.service.Now, h.engine.Now = clock.Now, clock.Now
	enabled, interval := true, 15
	var its []*integration.Integration
	for i := range n {
		it, err := h.service.Create(context.Background(), h.actor, integration.CreateInput{SiteID: fmt.Sprintf("sched-%d", i), Platform: "wordpress",
			ExternalSiteURL: "https://blog.example.com", Credentials: map[string]string{"username": "u", "app_password": "secret pass"},
			SyncEnabled: &enabled, SyncIntervalMinutes: &interval})
		if err != nil {
			h.t.Fatal(err)
		}
		its = append(its, it)
	}
	clock.advance(16 * time.Minute)
	return clock, its
}

// runsOf counts each integration's runs.
func (h *harness) runsOf(its []*integration.Integration) map[string]int {
	h.t.Helper()
	out := map[string]int{}
	for _, it := range its {
		runs, _, err := h.store.ListRuns(context.Background(), it.ID, 10, "")
		if err != nil {
			h.t.Fatal(err)
		}
		out[it.ID] = len(runs)
	}
	return out
}

func TestATickStartsEverythingDuePageAfterPage(t *testing.T) {
	h := newDirectHarness(t, newPlatform(0))
	_, its := h.scheduled(230) // more than a page of the index, and than one tick used to take
	if n, err := h.engine.Tick(context.Background()); err != nil || n != len(its) {
		t.Fatalf("one tick started %d of %d due syncs (%v)", n, len(its), err)
	}
	for id, n := range h.runsOf(its) {
		if n != 1 {
			t.Fatalf("%s has %d runs, want 1", id, n)
		}
	}
}

func TestATickStopsAtItsBudgetAndTheNextGoesOn(t *testing.T) {
	h := newDirectHarness(t, newPlatform(0))
	clock, its := h.scheduled(30)
	h.engine.SchedulerBudget = 20 * time.Second
	clock.setStep(time.Second) // every reading of the clock takes a second
	res, err := h.engine.Schedule(context.Background())
	if err != nil || res.Started == 0 || res.Started >= len(its) || !res.More {
		t.Fatalf("the first tick: %+v %v; want some started, and more left", res, err)
	}
	started := res.Started
	for tick := 0; started < len(its); tick++ {
		if tick > 30 {
			t.Fatalf("%d of %d started after 30 ticks", started, len(its))
		}
		res, err := h.engine.Schedule(context.Background())
		if err != nil || len(res.Failures) > 0 {
			t.Fatalf("tick: %+v %v", res, err)
		}
		started += res.Started
	}
	for id, n := range h.runsOf(its) {
		if n != 1 {
			t.Fatalf("%s has %d runs, want 1", id, n)
		}
	}
}

// staleIndex answers the scheduler's index as it stood at snapshot time.
type staleIndex struct {
	integration.Store
	snapshot []*integration.Integration
}

func (s staleIndex) DueIntegrations(context.Context, time.Time, int) ([]*integration.Integration, error) {
	return s.snapshot, nil
}
func (s staleIndex) DueShards() []string { return []string{"stale"} }
func (s staleIndex) DuePage(context.Context, string, time.Time, int, string) ([]*integration.Integration, string, error) {
	return s.snapshot, "", nil
}

func TestTheSchedulerReadsAnIntegrationAgainBeforeStartingIt(t *testing.T) {
	h := newDirectHarness(t, newPlatform(0))
	_, its := h.scheduled(2)
	snapshot, err := h.service.Store.DueIntegrations(context.Background(), h.engine.Now(), 10)
	if err != nil || len(snapshot) != 2 {
		t.Fatalf("due: %d %v", len(snapshot), err)
	}
	// One made inactive, the other started meanwhile: the index lags.
	inactive := false
	if _, err := h.service.Update(context.Background(), h.actor, its[0].ID, integration.PatchInput{IsActive: &inactive}); err != nil {
		t.Fatal(err)
	}
	if n, err := h.engine.Tick(context.Background()); err != nil || n != 1 {
		t.Fatalf("the first tick started %d (%v)", n, err)
	}
	h.service.Store = staleIndex{Store: h.service.Store, snapshot: snapshot}
	if n, err := h.engine.Tick(context.Background()); err != nil || n != 0 {
		t.Fatalf("a tick on the stale index started %d (%v); want none", n, err)
	}
	if got := h.runsOf(its); got[its[0].ID] != 0 || got[its[1].ID] != 1 {
		t.Fatalf("runs: %v", got)
	}
}

// failingReschedule fails every update of one integration.
type failingReschedule struct {
	integration.Store
	id string
}

func (s failingReschedule) UpdateIntegration(ctx context.Context, in *integration.Integration, prev int64) error {
	if in.ID == s.id {
		return errors.New("the table is throttling")
	}
	return s.Store.UpdateIntegration(ctx, in, prev)
}

// brokenIndex fails every read of the scheduler's index.
type brokenIndex struct{ integration.Store }

func (brokenIndex) DuePage(context.Context, string, time.Time, int, string) ([]*integration.Integration, string, error) {
	return nil, "", errors.New("the index is unavailable")
}

func TestATickGoesOnPastWhatFails(t *testing.T) {
	h := newDirectHarness(t, newPlatform(0))
	_, its := h.scheduled(3)
	store := h.service.Store
	h.service.Store = failingReschedule{Store: store, id: its[1].ID}
	res, err := h.engine.Schedule(context.Background())
	if err != nil || len(res.Failures) != 1 || !strings.Contains(res.Failures[0].Error(), its[1].ID) {
		t.Fatalf("a tick with one integration failing: %+v %v; want that one failure, and no error", res, err)
	}
	if got := h.runsOf(its); got[its[0].ID] != 1 || got[its[2].ID] != 1 {
		t.Fatalf("runs: %v", got)
	}
	// Nothing can be read: that fails the tick.
	h.service.Store = brokenIndex{store}
	if _, err := h.engine.Schedule(context.Background()); err == nil {
		t.Fatal("a tick that could read no shard of the index succeeded")
	}
}
