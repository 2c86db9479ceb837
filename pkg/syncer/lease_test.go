package syncer_test

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"

	"github.com/joinery/joinery/pkg/integration"
	"github.com/joinery/joinery/pkg/syncer"
)

// lastLookStore runs hook once, when a worker holding a local id's lease
// has found no push after the ones it applied, before it lets go.
type lastLookStore struct {
	integration.SyncStore
	hook  func()
	fired atomic.Bool
}

func (s *lastLookStore) PushBySeq(ctx context.Context, integrationID, model, localID string, seq int64) (*integration.Push, error) {
	p, err := s.SyncStore.PushBySeq(ctx, integrationID, model, localID, seq)
	if integration.ErrorCode(err) == integration.ENOTFOUND && s.hook != nil && s.fired.CompareAndSwap(false, true) {
		s.hook()
	}
	return p, err
}

func TestAPushJobThatFindsItsLocalIDLeasedIsAckedAndTheHolderAppliesIt(t *testing.T) {
	h := newDirectHarness(t, newPlatform(0))
	store := &lastLookStore{SyncStore: h.store}
	h.engine.Store = store
	first := h.push("article-1", "v1")
	firstJob, _ := h.mem.pop()
	var second *integration.Push
	var secondErr error
	store.hook = func() {
		// The holder has applied v1 and looked for more: v2 comes now, and
		// its job finds the lease held.
		second = h.push("article-1", "v2")
		d, _ := h.mem.pop()
		var job syncer.Job
		_ = json.Unmarshal([]byte(d.body), &job)
		secondErr = h.engine.Handle(context.Background(), job, 1)
	}
	var job syncer.Job
	_ = json.Unmarshal([]byte(firstJob.body), &job)
	if err := h.engine.Handle(context.Background(), job, 1); err != nil {
		t.Fatal(err)
	}
	if second == nil {
		t.Fatal("the holder never looked for a push after its last")
	}
	if secondErr != nil {
		t.Fatalf("the job that found the local id leased: %v; want it acked", secondErr)
	}
	for _, p := range []*integration.Push{first, second} {
		got, err := h.store.GetPush(context.Background(), h.it.ID, p.ID)
		if err != nil || got.Status != integration.PushDone {
			t.Fatalf("push %d: %+v %v", p.Seq, got, err)
		}
	}
	if h.platform.creates != 1 || h.platform.titles[1001] != "v2" {
		t.Fatalf("%d items created, the item is %q; want 1, v2", h.platform.creates, h.platform.titles[1001])
	}
}
