package conformance

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/integration"
)

type wordpressOnly struct{}

func (wordpressOnly) Platform(name string) (integration.Platform, bool) {
	return integration.Platform{Name: name, Available: true, Config: []integration.ConfigKey{{Name: "edited", Type: integration.ConfigBoolean}}}, name == "wordpress"
}
func (wordpressOnly) Names() []string { return []string{"wordpress"} }

// storeRevisions checks that every write is conditioned on the revision,
// that only user edits move the version, and that items written before
// revisions existed are read and written.
func storeRevisions(t *testing.T, newStore func(t *testing.T) integration.Store) {
	ctx := context.Background()
	owner := func(acct string) integration.Actor {
		return integration.Actor{Subject: "u", AccountID: acct, Role: integration.RoleOwner}
	}
	t.Run("an item without a revision is at its version", func(t *testing.T) {
		s := newStore(t)
		acct := uniq("acct")
		in := newIntegration(acct, "s", "wordpress", 21)
		// Written as the previous release wrote it: no revision at all.
		in.Version, in.Rev = 5, 0
		if err := s.CreateIntegration(ctx, in); err != nil {
			t.Fatal(err)
		}
		cur, err := s.GetIntegration(ctx, acct, in.ID)
		if err != nil {
			t.Fatal(err)
		}
		if cur.Rev != 5 {
			t.Fatalf("rev %d, want 5 (its version)", cur.Rev)
		}
		next := *cur
		next.SyncError = "x"
		wantCode(t, s.UpdateIntegration(ctx, &next, 4), integration.EPRECONDITIONFAILED)
		if err := s.UpdateIntegration(ctx, &next, 5); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetIntegration(ctx, acct, in.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Rev != 6 || got.Version != 5 || got.SyncError != "x" {
			t.Fatalf("rev %d version %d error %q: want rev 6 at version 5 with the write", got.Rev, got.Version, got.SyncError)
		}
		wantCode(t, s.DeleteIntegration(ctx, acct, in.ID, 5), integration.EPRECONDITIONFAILED)
		if err := s.DeleteIntegration(ctx, acct, in.ID, 6); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("status writes do not make an expected version stale", func(t *testing.T) {
		s := newStore(t)
		acct := uniq("acct")
		in := newIntegration(acct, "s", "wordpress", 22)
		if err := s.CreateIntegration(ctx, in); err != nil {
			t.Fatal(err)
		}
		svc := &integration.Service{Store: s, Catalog: wordpressOnly{}}
		at := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
		if err := svc.RecordSync(ctx, owner(acct), in.ID, integration.SyncCompleted, &at, ""); err != nil {
			t.Fatal(err)
		}
		if err := svc.RecordConnection(ctx, owner(acct), in.ID, integration.ConnectionConnected, "ok", at); err != nil {
			t.Fatal(err)
		}
		if err := svc.Reschedule(ctx, acct, in.ID, at); err != nil {
			t.Fatal(err)
		}
		v := in.Version
		off := false
		got, err := svc.Update(ctx, owner(acct), in.ID, integration.PatchInput{ExpectedVersion: &v, IsActive: &off})
		if err != nil {
			t.Fatalf("edit at the version read before the status writes: %v", err)
		}
		if got.Version != v+1 || got.IsActive || got.SyncStatus != integration.SyncCompleted || got.ConnectionMessage != "ok" {
			t.Fatalf("version %d active %v status %q message %q", got.Version, got.IsActive, got.SyncStatus, got.ConnectionMessage)
		}
	})
	t.Run("concurrent status writers and a user edit keep every change", func(t *testing.T) {
		s := newStore(t)
		acct := uniq("acct")
		in := newIntegration(acct, "s", "wordpress", 23)
		if err := s.CreateIntegration(ctx, in); err != nil {
			t.Fatal(err)
		}
		svc := &integration.Service{Store: s, Catalog: wordpressOnly{}}
		at := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
		const rounds = 3
		var wg sync.WaitGroup
		errs := make(chan error, 3*rounds)
		for range rounds {
			wg.Add(3)
			go func() {
				defer wg.Done()
				errs <- svc.RecordSync(ctx, owner(acct), in.ID, integration.SyncCompleted, &at, "")
			}()
			go func() {
				defer wg.Done()
				errs <- svc.RecordConnection(ctx, owner(acct), in.ID, integration.ConnectionConnected, "ok", at)
			}()
			go func() {
				defer wg.Done()
				_, err := svc.Update(ctx, owner(acct), in.ID, integration.PatchInput{ConfigPatch: map[string]any{"edited": true}})
				errs <- err
			}()
			wg.Wait()
		}
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.GetIntegration(ctx, acct, in.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.SyncStatus != integration.SyncCompleted || got.LastSyncAt == nil || got.ConnectionMessage != "ok" || got.Config["edited"] != true {
			t.Fatalf("a change was lost: %+v", got)
		}
		// Only the first edit changed anything a user sets.
		if got.Version != in.Version+1 || got.Rev <= in.Rev+2 {
			t.Fatalf("version %d rev %d: want version %d and every write counted in rev", got.Version, got.Rev, in.Version+1)
		}
	})
}
