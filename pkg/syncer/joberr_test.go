package syncer_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/integration"
	"github.com/joinery/joinery/pkg/sqsworker"
)

func TestADomainErrorEndsARunAtOnceWithItsMessage(t *testing.T) {
	h := newDirectHarness(t, newPlatform(5))
	h.platform.fail = func(string, int) error {
		return integration.Errorf(integration.ENOTFOUND, "The site has no posts listing.")
	}
	run := h.runNow(pull)
	if run.Status != integration.RunError || !strings.Contains(run.Error, "The site has no posts listing.") || h.platform.calls["0"] != 1 {
		t.Fatalf("run %s %q after %d calls; want an error with the domain's message after 1", run.Status, run.Error, h.platform.calls["0"])
	}
}

// refusingPlatform refuses every update with a domain error.
type refusingPlatform struct {
	*fakePlatform
	updates atomic.Int32
}

func (p *refusingPlatform) Patch(_ context.Context, _ connector.Connection, _, ext string, _ connector.Patch) (integration.Record, error) {
	if ext == "" {
		return p.fakePlatform.Patch(context.Background(), connector.Connection{}, "post", "", connector.Patch{})
	}
	p.updates.Add(1)
	return integration.Record{}, &integration.Error{Code: integration.EINVALID, Message: "The request is invalid.", Fields: map[string]string{"status": "unknown"}}
}

// Delete removes the draft of the refused push.
func (p *refusingPlatform) Delete(context.Context, connector.Connection, string, string, bool) error {
	return nil
}

func TestADomainErrorFailsAPushAtOnceWithItsMessage(t *testing.T) {
	h := newDirectHarness(t, newPlatform(0))
	refusing := &refusingPlatform{fakePlatform: h.platform}
	h.engine.Connectors["wordpress"] = refusing
	p := h.push("article-1", "hello")
	h.drive()
	got, err := h.store.GetPush(context.Background(), h.it.ID, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != integration.PushFailed || got.Error != "The request is invalid. (status: unknown)" || refusing.updates.Load() != 1 {
		t.Fatalf("push %s %q after %d updates; want failed with the domain's message after 1", got.Status, got.Error, refusing.updates.Load())
	}
}

// badCursorStore refuses the backfill's cursor.
type badCursorStore struct{ integration.SyncStore }

func (badCursorStore) BackfillRecords(context.Context, string, int) (string, bool, error) {
	return "", false, integration.Invalid(map[string]string{"cursor": "is not a cursor this API issued"})
}

func TestTheWorkerAcksAJobFailingWithADomainError(t *testing.T) {
	h := newDirectHarness(t, newPlatform(0))
	h.engine.Store = badCursorStore{h.store}
	w := &sqsworker.Worker{Engine: h.engine}
	resp, err := w.Handle(context.Background(), sqsEvent(1, `{"kind":"migrate","job_id":"migrate","page":"garbage"}`))
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("a job failing with invalid came back to be retried: %+v %v", resp, err)
	}
}
