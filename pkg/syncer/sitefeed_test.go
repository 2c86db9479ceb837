package syncer_test

import (
	"context"
	"testing"

	"github.com/joinery/joinery/pkg/integration"
	"github.com/joinery/joinery/pkg/syncer"
)

// siteFeedIDs lists the external ids of the posts in an integration's
// site feed, checking that each is of that integration.
func siteFeedIDs(t *testing.T, s integration.SyncStore, it *integration.Integration) map[string]bool {
	t.Helper()
	recs, _, err := s.ListSiteRecords(context.Background(), integration.SiteRecordQuery{AccountID: it.AccountID, SiteID: it.SiteID, Model: "post", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, r := range recs {
		if r.IntegrationID != it.ID {
			t.Fatalf("a record of %s in the site feed of %s", r.IntegrationID, it.ID)
		}
		out[r.ExternalID] = true
	}
	return out
}

// Every way the engine writes a record puts it in its site's feed: a
// run's pages, a push's result, a webhook's read.
func TestEveryRecordWriteJoinsTheSiteFeed(t *testing.T) {
	h := newDirectHarness(t, newPlatform(2))
	h.runNow(pull)
	syncer.ForgetSites() // the push is written by a worker that ran none of it
	p := h.push("article-42", "Hello")
	if errs := h.drive(); len(errs) > 0 {
		t.Logf("deliveries failed: %v", errs)
	}
	p, err := h.store.GetPush(context.Background(), h.it.ID, p.ID)
	if err != nil || p.Status != integration.PushDone {
		t.Fatalf("push: %+v %v", p, err)
	}
	if got := siteFeedIDs(t, h.store, h.it); len(got) != 3 || !got["1"] || !got["2"] || !got[p.ExternalID] {
		t.Fatalf("the site feed after a run and a push: %v (pushed %s)", got, p.ExternalID)
	}

	hh := newHookHarness(t)
	hh.platform.set(integration.Record{ExternalID: "7", Model: "post", Title: "First", Status: "publish", ModifiedAt: hookT0})
	if err := hh.deliver("msg_1", "post_created", "post", "7"); err != nil {
		t.Fatal(err)
	}
	if got := siteFeedIDs(t, hh.store, hh.it); len(got) != 1 || !got["7"] {
		t.Fatalf("the site feed after a webhook: %v", got)
	}
}
