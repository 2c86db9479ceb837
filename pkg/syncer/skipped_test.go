package syncer_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/integration"
	"github.com/joinery/joinery/pkg/syncer"
)

// rolePlatform is the fake platform with more models, of which the user
// may read only some: the others answer ErrForbidden, as WordPress does an
// Author's pages, categories and tags.
type rolePlatform struct {
	*fakePlatform
	models    []string
	forbidden map[string]bool
}

func (p *rolePlatform) Models() []string { return p.models }

func (p *rolePlatform) List(ctx context.Context, c connector.Connection, req connector.ListRequest) (connector.ListPage, error) {
	if p.forbidden[req.Model] {
		return connector.ListPage{}, &connector.Error{Kind: connector.ErrForbidden, Status: 400, Code: "rest_invalid_param",
			Message: "The WordPress user Ada (author) lacks the capability for this; WordPress says: Status is forbidden."}
	}
	return p.fakePlatform.List(ctx, c, req)
}

func newRoleHarness(t *testing.T, posts int, forbidden ...string) *harness {
	t.Helper()
	h := newHarness(t, newPlatform(posts))
	rp := &rolePlatform{fakePlatform: h.platform, models: []string{"category", "post", "page"}, forbidden: map[string]bool{}}
	for _, m := range forbidden {
		rp.forbidden[m] = true
	}
	h.engine.Connectors = map[string]connector.Connector{"wordpress": rp}
	return h
}

// A default run over models the user may not all read completes with the
// ones it may: the others are skipped, each once, with a warning, kept on
// the run and in sync_health, and keep no cursor.
func TestUnreadableModelsAreSkipped(t *testing.T) {
	h := newRoleHarness(t, 25, "category", "page")
	h.engine.Queue = dupQueue{h.queue} // a redelivered plan logs no second warning
	run := h.sync(syncer.StartInput{Direction: integration.DirectionFromExternal, Full: true})
	time.Sleep(300 * time.Millisecond)
	if run.Status != integration.RunCompleted || fmt.Sprint(run.Skipped) != "[category page]" || run.Progress.ItemsSeen != 25 {
		t.Fatalf("run: %s %q, skipped %v, %d items seen", run.Status, run.Error, run.Skipped, run.Progress.ItemsSeen)
	}
	if n := len(h.records()); n != 25 {
		t.Fatalf("%d posts, want 25", n)
	}
	evs := h.events("model_skipped")
	var models []string
	for _, ev := range evs {
		if ev.Status != "warning" || ev.RunID != run.ID || !strings.Contains(ev.Message, "Status is forbidden") || ev.Details["platform_code"] != "rest_invalid_param" {
			t.Fatalf("event: %+v", ev)
		}
		models = append(models, ev.Model)
	}
	slices.Sort(models)
	if fmt.Sprint(models) != "[category page]" {
		t.Fatalf("model_skipped events for %v, want one each for category and page", models)
	}
	fin := h.events("run_finished")
	if len(fin) != 1 || fin[0].Status != "ok" || !strings.Contains(fin[0].Message, "skipped [category page]") {
		t.Fatalf("run_finished: %+v", fin)
	}
	it := h.integration()
	if it.SyncStatus != integration.SyncCompleted || it.ConnectionStatus == integration.ConnectionReauthorizationNeeded {
		t.Fatalf("integration: sync %s, connection %s", it.SyncStatus, it.ConnectionStatus)
	}
	cursors, err := h.store.Cursors(context.Background(), h.it.ID)
	if _, ok := cursors["page"]; err != nil || ok || cursors["post"].IsZero() {
		t.Fatalf("cursors: %v %v", cursors, err)
	}
	health, err := h.engine.Health(context.Background(), h.actor, h.it.ID)
	if err != nil || fmt.Sprint(health.SkippedModels) != "[category page]" {
		t.Fatalf("health: %v %v", health.SkippedModels, err)
	}
	// Once the user may read them, the next run reads them and skips none.
	h.engine.Connectors["wordpress"].(*rolePlatform).forbidden = map[string]bool{}
	run = h.sync(pull)
	if run.Status != integration.RunCompleted || len(run.Skipped) != 0 {
		t.Fatalf("with every model readable: %s, skipped %v", run.Status, run.Skipped)
	}
	if health, _ := h.engine.Health(context.Background(), h.actor, h.it.ID); len(health.SkippedModels) != 0 {
		t.Fatalf("health: %v", health.SkippedModels)
	}
}

// A model refused on a later page (the user's role changed under the
// run): the page's job is done, the model skipped, the run completes and
// the model's cursor does not move.
func TestAModelRefusedMidRunIsSkipped(t *testing.T) {
	h := newRoleHarness(t, 35)
	h.platform.fail = func(page string, _ int) error {
		if page == "19" {
			return &connector.Error{Kind: connector.ErrForbidden, Status: 403, Code: "rest_forbidden", Message: "Sorry, you are not allowed to do that."}
		}
		return nil
	}
	run := h.sync(syncer.StartInput{Direction: integration.DirectionFromExternal, Models: []string{"post"}})
	if run.Status != integration.RunCompleted || fmt.Sprint(run.Skipped) != "[post]" {
		t.Fatalf("run: %s %q, skipped %v", run.Status, run.Error, run.Skipped)
	}
	if h.platform.calls["19"] != 1 {
		t.Fatalf("the refused page was listed %d times: a refusal is not retried", h.platform.calls["19"])
	}
	if !h.cursor().IsZero() {
		t.Fatal("the cursor of a skipped model moved")
	}
	if evs := h.events("listing_shifted"); len(evs) != 0 {
		t.Fatalf("a skipped model was checked for shifts: %+v", evs)
	}
}

// Credentials no longer accepted end the run at once, whatever the model
// it starts with, with reauthorization_required and a connection event.
func TestCredentialsNoLongerAcceptedEndTheRun(t *testing.T) {
	for _, model := range []string{"category", "post", "page", "structure"} {
		t.Run(model, func(t *testing.T) {
			h := newRoleHarness(t, 15)
			rp := h.engine.Connectors["wordpress"].(*rolePlatform)
			var calls atomic.Int32
			h.engine.Connectors["wordpress"] = authFails{rp, &calls}
			in := syncer.StartInput{Direction: integration.DirectionFromExternal, Models: []string{model}}
			if model == "structure" {
				in = syncer.StartInput{Direction: integration.DirectionMetadata}
			}
			run := h.sync(in)
			if run.Status != integration.RunError || !strings.Contains(run.Error, "Application Password") || calls.Load() != 1 {
				t.Fatalf("run: %s %q after %d listings", run.Status, run.Error, calls.Load())
			}
			it := h.integration()
			if it.ConnectionStatus != integration.ConnectionReauthorizationNeeded || it.SyncStatus != integration.SyncError {
				t.Fatalf("integration: connection %s, sync %s", it.ConnectionStatus, it.SyncStatus)
			}
			evs := h.events("connection")
			if len(evs) != 1 || evs[0].Status != "error" || evs[0].RunID != run.ID || evs[0].Details["connection_status"] != "reauthorization_required" ||
				strings.Contains(fmt.Sprint(evs[0]), "secret pass") {
				t.Fatalf("connection events: %+v", evs)
			}
		})
	}
}

// authFails answers every listing as a platform that no longer accepts
// the credentials.
type authFails struct {
	*rolePlatform
	calls *atomic.Int32
}

func (a authFails) List(context.Context, connector.Connection, connector.ListRequest) (connector.ListPage, error) {
	a.calls.Add(1)
	return connector.ListPage{}, &connector.Error{Kind: connector.ErrAuth, Status: 401, Code: "rest_not_logged_in",
		Message: "WordPress rejected the Application Password: it is wrong or was revoked."}
}

func (a authFails) Structure(context.Context, connector.Connection) (connector.Structure, error) {
	a.calls.Add(1)
	return connector.Structure{}, &connector.Error{Kind: connector.ErrAuth, Status: 401, Code: "rest_cannot_view",
		Message: "WordPress rejected the Application Password: it is wrong or was revoked."}
}

// findFails is a platform that no longer accepts the credentials when a
// push looks for its item.
type findFails struct{ *fakePlatform }

func (f findFails) FindBySlug(context.Context, connector.Connection, string, string) (integration.Record, bool, error) {
	return integration.Record{}, false, &connector.Error{Kind: connector.ErrAuth, Status: 401, Code: "rest_not_logged_in",
		Message: "WordPress rejected the Application Password: it is wrong or was revoked."}
}

// A push that finds the credentials no longer accepted fails at once and
// says so on the integration, with a connection event.
func TestPushWithCredentialsNoLongerAccepted(t *testing.T) {
	h := newHarness(t, newPlatform(0))
	h.engine.Connectors = map[string]connector.Connector{"wordpress": findFails{h.platform}}
	p := h.push("article-1", "Hello")
	got := h.drain(p.ID)[p.ID]
	if got.Status != integration.PushFailed || !strings.Contains(got.Error, "Application Password") || h.platform.creates != 0 {
		t.Fatalf("push: %+v", got)
	}
	if it := h.integration(); it.ConnectionStatus != integration.ConnectionReauthorizationNeeded {
		t.Fatalf("connection status %s", it.ConnectionStatus)
	}
	if evs := h.events("connection"); len(evs) != 1 || evs[0].Status != "error" || evs[0].RunID != "" {
		t.Fatalf("connection events: %+v", evs)
	}
}
