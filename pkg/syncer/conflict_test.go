package syncer_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/integration"
	"github.com/joinery/joinery/pkg/sqsworker"
	"github.com/joinery/joinery/pkg/syncer"
)

// settle runs the queue until it is empty: pushes held by a conflict stay
// queued, so drain would wait for them in vain.
func (h *harness) settle() {
	h.t.Helper()
	w := &sqsworker.Worker{Engine: h.engine, Visibility: h.queue, Log: slog.New(slog.NewTextHandler(logOut, nil))}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = h.queue.Consume(ctx, w.Handle) }()
	defer func() { cancel(); <-done }()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if visible, waiting, _ := h.queue.Stats(); visible+waiting == 0 {
			time.Sleep(50 * time.Millisecond) // the last job's writes
			return
		}
	}
	h.t.Fatal("the queue did not empty")
}

func (h *harness) getPush(id string) *integration.Push {
	h.t.Helper()
	p, err := h.store.GetPush(context.Background(), h.it.ID, id)
	if err != nil {
		h.t.Fatal(err)
	}
	return p
}

// conflicted pushes "mine 1", has the platform's item edited, then pushes
// "mine 2" (which meets the conflict), "mine 3" and "mine 4" under the
// manual policy; it returns the last three pushes.
func conflicted(t *testing.T) (*harness, [3]*integration.Push) {
	h := newHarness(t, newPlatform(0))
	ctx := context.Background()
	if _, err := h.service.Update(ctx, h.actor, h.it.ID, integration.PatchInput{ConfigPatch: map[string]any{"conflict_policy": "manual"}}); err != nil {
		t.Fatal(err)
	}
	first := h.push("a", "mine 1")
	h.drain(first.ID)
	time.Sleep(5 * time.Millisecond)
	h.platform.mu.Lock()
	h.platform.posts[1001], h.platform.titles[1001] = time.Now().UTC(), "theirs"
	h.platform.mu.Unlock()
	second := h.push("a", "mine 2")
	if got := h.drain(second.ID)[second.ID]; got.Status != integration.PushConflict {
		t.Fatalf("the push over their edit: %+v", got)
	}
	third, fourth := h.push("a", "mine 3"), h.push("a", "mine 4")
	h.settle()
	for _, p := range []*integration.Push{third, fourth} {
		if got := h.getPush(p.ID); got.Status != integration.PushQueued {
			t.Fatalf("a push after an unresolved conflict: %+v, want it held in queued", got)
		}
	}
	if h.platform.titles[1001] != "theirs" {
		t.Fatalf("the platform has %q: a held push was applied", h.platform.titles[1001])
	}
	// The platform's version is kept beside the push's data.
	remote, err := h.engine.PushRemote(ctx, h.getPush(second.ID))
	if err != nil || remote == nil || !strings.Contains(string(remote.Data), `"theirs"`) || remote.ModifiedAt.IsZero() {
		t.Fatalf("snapshot: %+v %v", remote, err)
	}
	return h, [3]*integration.Push{second, third, fourth}
}

func TestManualConflictResolves(t *testing.T) {
	for _, use := range []string{syncer.UseLocal, syncer.UseRemote} {
		t.Run(use, func(t *testing.T) {
			h, ps := conflicted(t)
			ctx := context.Background()
			got, err := h.engine.ResolvePush(ctx, h.actor, h.it.ID, ps[0].ID, use)
			if err != nil {
				t.Fatal(err)
			}
			rec, _ := h.store.GetRecord(ctx, h.it.ID, "post", "1001")
			switch use {
			case syncer.UseLocal:
				if got.Status != integration.PushDone || got.ExternalID != "1001" || got.Error != "" || h.platform.titles[1001] != "mine 2" || !strings.Contains(string(rec.Data), `"mine 2"`) {
					t.Fatalf("%+v, platform has %q, record %s", got, h.platform.titles[1001], rec.Data)
				}
				// The item exists: what the push leaves out (its slug, its
				// status) stays as the platform has it.
				h.platform.mu.Lock()
				slug := ""
				for s, id := range h.platform.slugs {
					if id == 1001 {
						slug = s
					}
				}
				h.platform.mu.Unlock()
				if slug != "mine 1" {
					t.Fatalf("resolving with local gave the item the slug %q: it was made again from the title", slug)
				}
			case syncer.UseRemote:
				if got.Status != integration.PushResolved || got.ExternalID != "1001" || h.platform.titles[1001] != "theirs" || !strings.Contains(string(rec.Data), `"theirs"`) {
					t.Fatalf("%+v, platform has %q, record %s", got, h.platform.titles[1001], rec.Data)
				}
			}
			if stored := h.getPush(ps[0].ID); stored.Status != got.Status {
				t.Fatalf("stored push %+v", stored)
			}
			if evs := h.events("conflict_resolved"); len(evs) != 1 || evs[0].Details["use"] != use || evs[0].Details["push_id"] != ps[0].ID {
				t.Fatalf("conflict_resolved events: %+v", evs)
			}
			if _, err := h.store.GetPushRemote(ctx, h.it.ID, ps[0].ID); integration.ErrorCode(err) != integration.ENOTFOUND {
				t.Fatalf("the snapshot outlived its conflict: %v", err)
			}
			// The held pushes are released, in order.
			after := h.drain(ps[1].ID, ps[2].ID)
			if after[ps[1].ID].Status != integration.PushDone || after[ps[2].ID].Status != integration.PushDone || h.platform.titles[1001] != "mine 4" {
				t.Fatalf("held pushes: %+v %+v, platform has %q", after[ps[1].ID], after[ps[2].ID], h.platform.titles[1001])
			}
			_, err = h.engine.ResolvePush(ctx, h.actor, h.it.ID, ps[0].ID, use)
			wantCode(t, err, integration.ECONFLICT)
		})
	}
}

func TestResolveRefuses(t *testing.T) {
	h, ps := conflicted(t)
	ctx := context.Background()
	_, err := h.engine.ResolvePush(ctx, h.actor, h.it.ID, ps[0].ID, "")
	if integration.ErrorCode(err) != integration.EINVALID || integration.ErrorFields(err)["use"] == "" {
		t.Fatalf("no use: %v", err)
	}
	_, err = h.engine.ResolvePush(ctx, h.actor, h.it.ID, ps[0].ID, "mine")
	wantCode(t, err, integration.EINVALID)
	_, err = h.engine.ResolvePush(ctx, h.actor, h.it.ID, ps[1].ID, syncer.UseLocal)
	wantCode(t, err, integration.ECONFLICT) // queued, not in conflict
	viewer := h.actor
	viewer.Role = integration.RoleViewer
	_, err = h.engine.ResolvePush(ctx, viewer, h.it.ID, ps[0].ID, syncer.UseLocal)
	wantCode(t, err, integration.EFORBIDDEN)
	_, err = h.engine.ResolvePush(ctx, h.actor, h.it.ID, "01NOSUCHPUSH", syncer.UseLocal)
	wantCode(t, err, integration.ENOTFOUND)
	other := integration.Actor{Subject: "x", AccountID: "acct-2", Role: integration.RoleOwner}
	_, err = h.engine.ResolvePush(ctx, other, h.it.ID, ps[0].ID, syncer.UseLocal)
	wantCode(t, err, integration.ENOTFOUND)
	if got := h.getPush(ps[0].ID); got.Status != integration.PushConflict || h.platform.titles[1001] != "theirs" {
		t.Fatalf("a refused resolve changed something: %+v, platform %q", got, h.platform.titles[1001])
	}
	// Listing: the conflict by status, the local id's pushes newest first.
	page, err := h.engine.Pushes(ctx, viewer, h.it.ID, "conflict", "", 0, "")
	if err != nil || len(page.Items) != 1 || page.Items[0].ID != ps[0].ID {
		t.Fatalf("conflicts: %+v %v", page, err)
	}
	page, err = h.engine.Pushes(ctx, viewer, h.it.ID, "", "a", 2, "")
	if err != nil || len(page.Items) != 2 || page.Items[0].ID != ps[2].ID || page.NextCursor == "" {
		t.Fatalf("pushes of a: %+v %v", page, err)
	}
	_, err = h.engine.Pushes(ctx, viewer, h.it.ID, "stuck", "a b", 0, "")
	if f := integration.ErrorFields(err); f["status"] == "" || f["local_id"] == "" {
		t.Fatalf("bad filters: %v", err)
	}
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := integration.ErrorCode(err); got != code {
		t.Fatalf("error code = %q (%v), want %q", got, err, code)
	}
}

// Leaving the manual policy lets the next push job go past the conflict,
// which stays to be resolved.
func TestLeavingManualReleasesHeldPushes(t *testing.T) {
	h, ps := conflicted(t)
	ctx := context.Background()
	if _, err := h.service.Update(ctx, h.actor, h.it.ID, integration.PatchInput{ConfigPatch: map[string]any{"conflict_policy": "local_wins"}}); err != nil {
		t.Fatal(err)
	}
	fifth := h.push("a", "mine 5")
	got := h.drain(ps[1].ID, ps[2].ID, fifth.ID)
	for _, p := range []*integration.Push{ps[1], ps[2], fifth} {
		if got[p.ID].Status != integration.PushDone {
			t.Fatalf("%+v", got[p.ID])
		}
	}
	if h.platform.titles[1001] != "mine 5" || h.getPush(ps[0].ID).Status != integration.PushConflict {
		t.Fatalf("platform has %q; the conflict: %+v", h.platform.titles[1001], h.getPush(ps[0].ID))
	}
	_, err := h.engine.ResolvePush(ctx, h.actor, h.it.ID, ps[0].ID, syncer.UseLocal)
	wantCode(t, err, integration.ECONFLICT) // later pushes were applied over it
	if p, err := h.engine.ResolvePush(ctx, h.actor, h.it.ID, ps[0].ID, syncer.UseRemote); err != nil || p.Status != integration.PushResolved {
		t.Fatalf("resolving with theirs: %+v %v", p, err)
	}
	// Settled without writing the older version over the later push.
	if rec, _ := h.store.GetRecord(ctx, h.it.ID, "post", "1001"); rec == nil || !strings.Contains(string(rec.Data), `"mine 5"`) {
		t.Fatalf("the record after resolving a superseded conflict with theirs: %+v", rec)
	}
}
