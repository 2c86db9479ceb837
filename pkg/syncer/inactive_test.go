package syncer_test

import (
	"context"
	"testing"

	"github.com/joinery/joinery/pkg/integration"
	"github.com/joinery/joinery/pkg/syncer"
)

func (h *harness) setActive(active bool) {
	h.t.Helper()
	if _, err := h.service.Update(context.Background(), h.actor, h.it.ID, integration.PatchInput{IsActive: &active}); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) platformCalls() int {
	h.platform.mu.Lock()
	defer h.platform.mu.Unlock()
	n := h.platform.creates
	for _, c := range h.platform.calls {
		n += c
	}
	return n
}

func TestAnInactiveIntegrationsRunEndsWithoutCallingThePlatform(t *testing.T) {
	h := newDirectHarness(t, newPlatform(25))
	run, _, err := h.engine.Start(context.Background(), h.actor, h.it.ID, pull)
	if err != nil {
		t.Fatal(err)
	}
	h.setActive(false)
	h.drive()
	got, err := h.store.GetRun(context.Background(), h.it.ID, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != integration.RunError || got.Error != "The integration is not active; set is_active to sync it again." || h.platformCalls() != 0 {
		t.Fatalf("run %s %q after %d platform calls", got.Status, got.Error, h.platformCalls())
	}
	if it := h.integration(); it.SyncError != got.Error {
		t.Fatalf("the integration's sync_error is %q", it.SyncError)
	}
}

func TestAnInactiveIntegrationsPushesStayQueued(t *testing.T) {
	h := newDirectHarness(t, newPlatform(0))
	p := h.push("article-1", "hello")
	h.setActive(false)
	if errs := h.drive(); len(errs) > 0 {
		t.Fatalf("the push job failed: %v", errs)
	}
	got, err := h.store.GetPush(context.Background(), h.it.ID, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != integration.PushQueued || h.platformCalls() != 0 {
		t.Fatalf("push %s after %d platform calls; want queued after none", got.Status, h.platformCalls())
	}
	// Active again, a to_external run sends it.
	h.setActive(true)
	h.runNow(syncer.StartInput{Direction: integration.DirectionToExternal})
	if got, _ := h.store.GetPush(context.Background(), h.it.ID, p.ID); got.Status != integration.PushDone || h.platform.creates != 1 {
		t.Fatalf("push %s once active again, %d created", got.Status, h.platform.creates)
	}
}
