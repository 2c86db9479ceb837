package syncer_test

import (
	"context"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/integration"
	"github.com/joinery/joinery/pkg/syncer"
)

// A failed push, then a newer push of the same local id that was applied
// and has since expired: a to_external run must not push the failed one
// again over the newer content.
func TestAFailedPushIsNotPushedAgainOverANewerOneThatExpired(t *testing.T) {
	h := newDirectHarness(t, newPlatform(0))
	ctx := context.Background()
	tenDaysAgo := time.Now().UTC().Add(-10 * 24 * time.Hour)
	h.engine.Now = func() time.Time { return tenDaysAgo }
	h.platform.rejectUpdates = true
	first := h.push("article-5", "old")
	h.drive()
	if got, err := h.store.GetPush(ctx, h.it.ID, first.ID); err != nil || got.Status != integration.PushFailed {
		t.Fatalf("first push: %+v %v", got, err)
	}
	h.platform.mu.Lock()
	h.platform.rejectUpdates = false
	h.platform.mu.Unlock()
	second := h.push("article-5", "new")
	h.drive()
	// Done ten days ago: expired (a failed push is kept 30 days).
	if _, err := h.store.GetPush(ctx, h.it.ID, second.ID); integration.ErrorCode(err) != integration.ENOTFOUND {
		t.Fatalf("the done push ten days on: %v, want it expired", err)
	}
	h.engine.Now = nil
	run := h.runNow(syncer.StartInput{Direction: integration.DirectionToExternal})
	if run.Status != integration.RunCompleted || run.Progress.ItemsSeen != 0 {
		t.Fatalf("to_external run: %+v", run)
	}
	if p, err := h.store.PushBySeq(ctx, h.it.ID, "post", "article-5", 3); err == nil {
		t.Fatalf("the failed push was pushed again as %+v", p)
	}
	if title := h.platform.titles[1001]; title != "new" {
		t.Fatalf("the item's title is %q, want the newer push's", title)
	}
}
