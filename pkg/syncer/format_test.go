package syncer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/joinery/joinery/pkg/integration"
	"github.com/joinery/joinery/pkg/syncer"
)

// formattedPlatform is the fake platform with a record format.
type formattedPlatform struct {
	*fakePlatform
	format int
}

func (p *formattedPlatform) RecordFormat(string) int { return p.format }

// After a connector raises its record format, the next run reads the
// model in full once and rewrites the records stored in the older shape,
// though the platform's items did not change; runs after it are
// incremental again.
func TestARaisedRecordFormatRewritesStoredRecordsOnce(t *testing.T) {
	p := newPlatform(25)
	h := newDirectHarness(t, p)
	fp := &formattedPlatform{fakePlatform: p, format: 1}
	h.engine.Connectors["wordpress"] = fp
	if run := h.runNow(pull); run.Status != integration.RunCompleted || run.Progress.ItemsWritten != 25 {
		t.Fatalf("first run: %s, %d written", run.Status, run.Progress.ItemsWritten)
	}
	if run := h.runNow(pull); run.Progress.ItemsSeen != 0 {
		t.Fatalf("an incremental run over an unchanged site saw %d items", run.Progress.ItemsSeen)
	}

	// The new release maps the same items differently.
	p.mu.Lock()
	for id := range p.posts {
		p.titles[id] = fmt.Sprintf("Post %d, new shape", id)
	}
	p.mu.Unlock()
	fp.format = 2
	run := h.runNow(pull)
	if run.Status != integration.RunCompleted || run.Progress.ItemsSeen != 25 || run.Progress.ItemsWritten != 25 {
		t.Fatalf("run after the upgrade: %s, %d seen, %d written", run.Status, run.Progress.ItemsSeen, run.Progress.ItemsWritten)
	}
	for id, r := range h.records() {
		var rec syncer.RecordJSON
		if err := json.Unmarshal(r.Data, &rec); err != nil || rec.Title != fmt.Sprintf("Post %s, new shape", id) {
			t.Fatalf("record %s not rewritten: %q %v", id, rec.Title, err)
		}
	}
	cursors, err := h.store.Cursors(context.Background(), h.it.ID)
	if err != nil || cursors["post@2"].IsZero() || cursors["post"].IsZero() {
		t.Fatalf("cursors %v, %v", cursors, err)
	}
	if run := h.runNow(pull); run.Progress.ItemsSeen != 0 {
		t.Fatalf("the run after the rewrite saw %d items: the rewrite happened again", run.Progress.ItemsSeen)
	}
}
