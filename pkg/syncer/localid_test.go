package syncer_test

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"

	"github.com/joinery/joinery/pkg/integration"
	"github.com/joinery/joinery/pkg/syncer"
)

// A record a push created carries the push's local id, and keeps it when
// later runs read the item again.
func TestRecordsCreatedByAPushCarryItsLocalID(t *testing.T) {
	h := newDirectHarness(t, newPlatform(2))
	h.runNow(pull)
	p := h.push("article-42", "Hello")
	if errs := h.drive(); len(errs) > 0 {
		t.Logf("deliveries failed: %v", errs)
	}
	p, err := h.store.GetPush(context.Background(), h.it.ID, p.ID)
	if err != nil || p.Status != integration.PushDone {
		t.Fatalf("push: %+v %v", p, err)
	}
	if got := h.records()[p.ExternalID]; got.LocalID != "article-42" {
		t.Fatalf("pushed record's local id %q", got.LocalID)
	}

	// Edited on the platform: the next run rewrites the record, local id kept.
	id, _ := strconv.Atoi(p.ExternalID)
	h.platform.mu.Lock()
	h.platform.titles[id] = "Edited on the site"
	h.platform.mu.Unlock()
	h.platform.touch(id)
	if run := h.runNow(pull); run.Status != integration.RunCompleted || run.Progress.ItemsWritten != 1 {
		t.Fatalf("run: %s, %d written", run.Status, run.Progress.ItemsWritten)
	}
	recs := h.records()
	var rec syncer.RecordJSON
	if err := json.Unmarshal(recs[p.ExternalID].Data, &rec); err != nil || rec.Title != "Edited on the site" || recs[p.ExternalID].LocalID != "article-42" {
		t.Fatalf("after the run: %q, local id %q, %v", rec.Title, recs[p.ExternalID].LocalID, err)
	}
	if got := recs["1"].LocalID; got != "" {
		t.Fatalf("a record no push created has local id %q", got)
	}
}
