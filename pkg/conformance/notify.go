package conformance

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/integration"
)

// NotifyStores is what the outbound notification suite runs against: the
// sync store whose writes emit the events, and the notify store.
type NotifyStores interface {
	integration.Store
	integration.SyncStore
	integration.NotifyStore
}

// pendingOf drains every pending change of one integration (others' are
// left pending: the store may be shared by parallel tests).
func pendingOf(t *testing.T, s integration.NotifyStore, integrationID string, ack bool) []integration.PendingEvent {
	t.Helper()
	ctx := context.Background()
	all, err := s.PendingEvents(ctx, 10000)
	if err != nil {
		t.Fatalf("pending events: %v", err)
	}
	var out []integration.PendingEvent
	var keys []string
	for _, p := range all {
		switch {
		case p.Change != nil && p.Change.IntegrationID == integrationID, p.Event != nil && p.Event.IntegrationID == integrationID:
			out = append(out, p)
			keys = append(keys, p.Key)
		}
	}
	if ack {
		if err := s.AckEvents(ctx, keys); err != nil {
			t.Fatalf("ack: %v", err)
		}
	}
	return out
}

// TestNotifyStore runs the NotifyStore conformance suite.
func TestNotifyStore(t *testing.T, newStore func(t *testing.T) NotifyStores) {
	ctx := context.Background()
	t0 := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

	t.Run("a record write and its pending change land together; a repeat emits nothing", func(t *testing.T) {
		s, id := newStore(t), uniq("int")
		r := rec(id, "post", "1", "h1", t0, modified, false)
		put(t, s, integration.WriteScope{}, r)
		got := pendingOf(t, s, id, false)
		if len(got) != 1 || got[0].Change == nil || got[0].Change.Type != integration.ChangeCreated || got[0].Change.Model != "post" ||
			got[0].Change.ExternalID != "1" || !got[0].Change.ChangedAt.Equal(t0) {
			t.Fatalf("pending after a create: %+v", got)
		}
		// The same write again (a redelivered job) changes nothing.
		put(t, s, integration.WriteScope{}, r)
		if got := pendingOf(t, s, id, true); len(got) != 1 {
			t.Fatalf("pending after a repeated write: %d, want 1", len(got))
		}
		if got := pendingOf(t, s, id, false); len(got) != 0 {
			t.Fatalf("pending after ack: %+v", got)
		}
		// Acknowledged, the change stays in the outbox.
		if cs := allChanges(t, s, id, 10); len(cs) != 1 || cs[0].Type != integration.ChangeCreated || !cs[0].ChangedAt.Equal(t0) {
			t.Fatalf("outbox after ack: %+v", cs)
		}
		put(t, s, integration.WriteScope{}, rec(id, "post", "1", "h2", t0.Add(time.Second), modified.Add(time.Second), false))
		got = pendingOf(t, s, id, true)
		if len(got) != 1 || got[0].Change.Type != integration.ChangeUpdated {
			t.Fatalf("pending after an update: %+v", got)
		}
		if integration.RecordEventID(*got[0].Change) == "" {
			t.Fatal("no event id")
		}
	})

	t.Run("a finished run emits its event once, in the same step", func(t *testing.T) {
		s, id := newStore(t), uniq("int")
		run := startRun(t, s, id, t0)
		if ok, err := s.FinishRun(ctx, id, run.ID, integration.RunCompleted, "", t0.Add(time.Minute)); err != nil || !ok {
			t.Fatalf("finish: %v %v", ok, err)
		}
		if ok, err := s.FinishRun(ctx, id, run.ID, integration.RunCompleted, "", t0.Add(2*time.Minute)); err != nil || ok {
			t.Fatalf("finish again: %v %v", ok, err)
		}
		got := pendingOf(t, s, id, true)
		if len(got) != 1 || got[0].Event == nil || got[0].Event.Type != integration.EventSyncCompleted ||
			got[0].Event.AccountID != run.AccountID || got[0].Event.Data["run_id"] != run.ID {
			t.Fatalf("pending after a finished run: %+v", got)
		}
		run2 := startRun(t, s, id, t0.Add(time.Hour))
		if _, err := s.FinishRun(ctx, id, run2.ID, integration.RunError, "boom", t0.Add(time.Hour+time.Minute)); err != nil {
			t.Fatal(err)
		}
		got = pendingOf(t, s, id, true)
		if len(got) != 1 || got[0].Event.Type != integration.EventSyncFailed || got[0].Event.Data["error"] != "boom" {
			t.Fatalf("pending after a failed run: %+v", got)
		}
	})

	t.Run("a push's outcome emits its event with the update, once", func(t *testing.T) {
		s, id := newStore(t), uniq("int")
		p := &integration.Push{ID: integration.NewID(), AccountID: "acct", IntegrationID: id, Model: "post", LocalID: "l1", Data: []byte(`{}`),
			Status: integration.PushQueued, CreatedAt: time.Now(), UpdatedAt: time.Now()}
		if err := s.CreatePush(ctx, p); err != nil {
			t.Fatal(err)
		}
		if got := pendingOf(t, s, id, false); len(got) != 0 {
			t.Fatalf("a queued push emitted %+v", got)
		}
		// Now: a finished push expires after a while.
		p.Status, p.ExternalID, p.UpdatedAt = integration.PushDone, "99", time.Now()
		for range 2 {
			if err := s.UpdatePush(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
		got := pendingOf(t, s, id, true)
		if len(got) != 1 || got[0].Event == nil || got[0].Event.Type != integration.EventPushDone || got[0].Event.AccountID != "acct" ||
			got[0].Event.Data["external_id"] != "99" || got[0].Event.Data["push_id"] != p.ID {
			t.Fatalf("pending after a push: %+v", got)
		}
	})

	t.Run("an integration's write carries its event in the same step; a refused write none", func(t *testing.T) {
		s := newStore(t)
		in := newIntegration(uniq("acct"), uniq("site"), "wordpress", int(seq.Add(1)))
		if err := s.CreateIntegration(ctx, in); err != nil {
			t.Fatal(err)
		}
		next := *in
		next.ConnectionStatus = integration.ConnectionError
		next.ConnectionCheckedAt = &t0
		next.Emit = integration.ConnectionEvent(in, &next)
		if next.Emit == nil {
			t.Fatal("no connection event")
		}
		wantCode(t, s.UpdateIntegration(ctx, &next, in.Rev+5), integration.EPRECONDITIONFAILED)
		if got := pendingOf(t, s, in.ID, false); len(got) != 0 {
			t.Fatalf("a refused write emitted %+v", got)
		}
		if err := s.UpdateIntegration(ctx, &next, in.Rev); err != nil {
			t.Fatal(err)
		}
		got := pendingOf(t, s, in.ID, true)
		if len(got) != 1 || got[0].Event.Type != integration.EventConnectionError || got[0].Event.SiteID != in.SiteID {
			t.Fatalf("pending after a connection change: %+v", got)
		}
		if cur, err := s.GetIntegration(ctx, in.AccountID, in.ID); err != nil || cur.ConnectionStatus != integration.ConnectionError {
			t.Fatalf("stored: %+v %v", cur, err)
		}
	})

	t.Run("an event is added once per id", func(t *testing.T) {
		s, id := newStore(t), uniq("int")
		ev := integration.NotifyEvent{ID: integration.EventID("test", id), Type: integration.EventPing, At: t0, AccountID: "acct", IntegrationID: id}
		for range 2 {
			if err := s.AddNotifyEvents(ctx, []integration.NotifyEvent{ev}); err != nil {
				t.Fatal(err)
			}
		}
		if got := pendingOf(t, s, id, true); len(got) != 1 || got[0].Event.ID != ev.ID || !got[0].Event.At.Equal(t0) {
			t.Fatalf("pending: %+v", got)
		}
		// Acknowledged, it is not added again.
		if err := s.AddNotifyEvents(ctx, []integration.NotifyEvent{ev}); err != nil {
			t.Fatal(err)
		}
		if got := pendingOf(t, s, id, false); len(got) != 0 {
			t.Fatalf("pending after a re-add: %+v", got)
		}
	})

	t.Run("endpoints: create, read within the account, update at a version, delete", func(t *testing.T) {
		s, acct := newStore(t), uniq("acct")
		e := &integration.Endpoint{ID: integration.NewID(), AccountID: acct, URL: "https://h.example/hook", EventTypes: []string{"sync.*"},
			Secrets: []integration.EndpointSecret{{Value: "whsec_x"}}, CreatedAt: t0, UpdatedAt: t0, Version: 1}
		if err := s.CreateEndpoint(ctx, e); err != nil {
			t.Fatal(err)
		}
		wantCode(t, s.CreateEndpoint(ctx, e), integration.ECONFLICT)
		got, err := s.GetEndpoint(ctx, acct, e.ID)
		if err != nil || got.URL != e.URL || len(got.Secrets) != 1 || got.Version != 1 {
			t.Fatalf("get: %+v %v", got, err)
		}
		_, err = s.GetEndpoint(ctx, "other", e.ID)
		wantCode(t, err, integration.ENOTFOUND)
		e2 := &integration.Endpoint{ID: integration.NewID(), AccountID: acct, URL: "https://h.example/2", Version: 1}
		if err := s.CreateEndpoint(ctx, e2); err != nil {
			t.Fatal(err)
		}
		list, err := s.ListEndpoints(ctx, acct)
		if err != nil || len(list) != 2 || list[0].ID != e.ID {
			t.Fatalf("list: %+v %v", list, err)
		}
		got.Disabled = true
		if err := s.UpdateEndpoint(ctx, got, 1); err != nil || got.Version != 2 {
			t.Fatalf("update: %v, version %d", err, got.Version)
		}
		stale := *got
		wantCode(t, s.UpdateEndpoint(ctx, &stale, 1), integration.EPRECONDITIONFAILED)
		if got, _ := s.GetEndpoint(ctx, acct, e.ID); !got.Disabled || got.Version != 2 {
			t.Fatalf("after update: %+v", got)
		}
		if err := s.DeleteEndpoint(ctx, acct, e.ID); err != nil {
			t.Fatal(err)
		}
		wantCode(t, s.DeleteEndpoint(ctx, acct, e.ID), integration.ENOTFOUND)
		_, err = s.GetEndpoint(ctx, acct, e.ID)
		wantCode(t, err, integration.ENOTFOUND)
		wantCode(t, s.UpdateEndpoint(ctx, &stale, 2), integration.ENOTFOUND)
	})

	t.Run("deliveries: newest first, by status, in pages", func(t *testing.T) {
		s, acct, ep := newStore(t), uniq("acct"), integration.NewID()
		var ids []string
		base := integration.NewID() // ids sort by creation: one base, then a counter
		for i := range 5 {
			st := integration.NotifySucceeded
			if i%2 == 1 {
				st = integration.NotifyFailed
			}
			d := &integration.NotifyDelivery{ID: fmt.Sprintf("%s_%d", base, i), AccountID: acct, EndpointID: ep, EventID: "evt_x", EventType: "ping",
				Status: st, Attempts: 1, CreatedAt: t0, UpdatedAt: t0}
			if err := s.PutNotifyDelivery(ctx, d); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, d.ID)
		}
		page, next, err := s.ListNotifyDeliveries(ctx, integration.NotifyDeliveryQuery{AccountID: acct, EndpointID: ep, Limit: 3})
		if err != nil || len(page) != 3 || page[0].ID != ids[4] || page[2].ID != ids[2] || next == "" {
			t.Fatalf("first page: %d %q %v", len(page), next, err)
		}
		page, next, err = s.ListNotifyDeliveries(ctx, integration.NotifyDeliveryQuery{AccountID: acct, EndpointID: ep, Limit: 3, Cursor: next})
		if err != nil || len(page) != 2 || page[0].ID != ids[1] || next != "" {
			t.Fatalf("second page: %d %q %v", len(page), next, err)
		}
		page, _, err = s.ListNotifyDeliveries(ctx, integration.NotifyDeliveryQuery{AccountID: acct, EndpointID: ep, Status: integration.NotifyFailed})
		if err != nil || len(page) != 2 || page[0].ID != ids[3] {
			t.Fatalf("failed only: %d %v", len(page), err)
		}
		_, _, err = s.ListNotifyDeliveries(ctx, integration.NotifyDeliveryQuery{AccountID: acct, EndpointID: ep, Cursor: "!!not a cursor!!"})
		wantCode(t, err, integration.EINVALID)
		d, err := s.GetNotifyDelivery(ctx, acct, ep, ids[0])
		if err != nil || d.ID != ids[0] {
			t.Fatalf("get: %+v %v", d, err)
		}
		_, err = s.GetNotifyDelivery(ctx, "other", ep, ids[0])
		wantCode(t, err, integration.ENOTFOUND)
	})

	t.Run("an endpoint has so many slots; an expired one is taken over", func(t *testing.T) {
		s, ep := newStore(t), integration.NewID()
		until := t0.Add(30 * time.Second)
		for _, h := range []string{"a", "b"} {
			if ok, _, err := s.TakeEndpointSlot(ctx, ep, h, 2, t0, until); err != nil || !ok {
				t.Fatalf("take %s: %v %v", h, ok, err)
			}
		}
		if ok, freeAt, err := s.TakeEndpointSlot(ctx, ep, "c", 2, t0, until); err != nil || ok || !freeAt.Equal(until) {
			t.Fatalf("third take: %v %v (free at %v), want refused until %v", ok, err, freeAt, until)
		}
		// Holding one already, a holder takes it again.
		if ok, _, err := s.TakeEndpointSlot(ctx, ep, "a", 2, t0, until); err != nil || !ok {
			t.Fatalf("retake: %v %v", ok, err)
		}
		if err := s.ReleaseEndpointSlot(ctx, ep, "a"); err != nil {
			t.Fatal(err)
		}
		if ok, _, _ := s.TakeEndpointSlot(ctx, ep, "c", 2, t0, until); !ok {
			t.Fatal("a released slot was not free")
		}
		if ok, _, _ := s.TakeEndpointSlot(ctx, ep, "d", 2, t0, until); ok {
			t.Fatal("a fourth holder got a slot")
		}
		if ok, _, _ := s.TakeEndpointSlot(ctx, ep, "d", 2, until, until.Add(time.Minute)); !ok {
			t.Fatal("an expired slot was not taken over")
		}
	})
	testNotifyBatch(t, newStore)
}
