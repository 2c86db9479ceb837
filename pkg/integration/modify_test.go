package integration

import (
	"context"
	"sync"
	"testing"
	"time"
)

// racingStore holds one integration; before each of the first `races`
// conditional writes, another writer changes the item first.
type racingStore struct {
	Store // only the methods below are called
	mu    sync.Mutex
	it    Integration
	races int
	// userRaces: the other writer edits what users set, moving the version.
	userRaces bool
	puts      int
}

func (s *racingStore) GetIntegration(_ context.Context, accountID, id string) (*Integration, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if accountID != s.it.AccountID || id != s.it.ID {
		return nil, Errorf(ENOTFOUND, "not found")
	}
	it := s.it
	return &it, nil
}

func (s *racingStore) UpdateIntegration(_ context.Context, in *Integration, prev int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.puts++
	if s.races > 0 {
		s.races--
		s.it.Rev++
		s.it.ConnectionMessage = "written by the other writer"
		if s.userRaces {
			s.it.Version++
		}
	}
	if s.it.Rev != prev {
		return Errorf(EPRECONDITIONFAILED, "changed")
	}
	s.it = *in
	s.it.Rev = prev + 1
	return nil
}

func TestModifyRetriesOnConcurrentWrites(t *testing.T) {
	at := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	owner := Actor{Subject: "u", AccountID: "acc", Role: RoleOwner}
	base := Integration{ID: "i1", AccountID: "acc", SiteID: "s", Platform: "wordpress", Version: 3, Rev: 3, SyncStatus: SyncIdle}

	t.Run("a change is re-applied to the fresh state", func(t *testing.T) {
		st := &racingStore{it: base, races: 2}
		s := &Service{Store: st, Now: func() time.Time { return at }}
		if err := s.RecordSync(context.Background(), owner, "i1", SyncCompleted, &at, ""); err != nil {
			t.Fatal(err)
		}
		if st.puts != 3 {
			t.Errorf("%d writes, want 3 (two lost races, then the write)", st.puts)
		}
		got := st.it
		if got.SyncStatus != SyncCompleted || got.LastSyncAt == nil || got.ConnectionMessage != "written by the other writer" {
			t.Errorf("got status %q, last sync %v, message %q: the change or the other writer's was lost", got.SyncStatus, got.LastSyncAt, got.ConnectionMessage)
		}
		// A status write moves the revision, never the version users see.
		if got.Version != 3 || got.Rev != 6 {
			t.Errorf("version %d rev %d, want version 3 at rev 6", got.Version, got.Rev)
		}
	})
	t.Run("it gives up after its retries", func(t *testing.T) {
		st := &racingStore{it: base, races: 100}
		waits := 0
		s := &Service{Store: st, Now: func() time.Time { return at }, Sleep: func(context.Context, time.Duration) error { waits++; return nil }}
		err := s.RecordConnection(context.Background(), owner, "i1", ConnectionConnected, "ok", at)
		if ErrorCode(err) != EPRECONDITIONFAILED {
			t.Fatalf("got %v, want a precondition failure", err)
		}
		// A status write has no user to retry it: it tries longer than a
		// user's edit, waiting a little between attempts.
		if st.puts != maxStatusRetries+1 || waits != maxStatusRetries {
			t.Errorf("%d writes and %d waits, want %d and %d", st.puts, waits, maxStatusRetries+1, maxStatusRetries)
		}
	})
	t.Run("an outcome older than the stored one writes nothing", func(t *testing.T) {
		later := at.Add(time.Second)
		it := base
		it.ConnectionCheckedAt, it.ConnectionMessage = &later, "checked later"
		st := &racingStore{it: it}
		s := &Service{Store: st, Now: func() time.Time { return at }}
		if err := s.RecordConnection(context.Background(), owner, "i1", ConnectionError, "older", at); err != nil {
			t.Fatal(err)
		}
		if st.puts != 0 || st.it.ConnectionMessage != "checked later" {
			t.Errorf("%d writes, message %q: an older outcome overwrote a newer one", st.puts, st.it.ConnectionMessage)
		}
	})
	t.Run("nothing to change writes nothing", func(t *testing.T) {
		st := &racingStore{it: base}
		s := &Service{Store: st, Now: func() time.Time { return at }}
		if err := s.RecordSync(context.Background(), owner, "i1", SyncIdle, nil, ""); err != nil {
			t.Fatal(err)
		}
		if st.puts != 0 {
			t.Errorf("%d writes, want none", st.puts)
		}
	})
	t.Run("an expected version is not retried past", func(t *testing.T) {
		st := &racingStore{it: base, races: 1, userRaces: true}
		s := &Service{Store: st, Catalog: oneCatalog{}, Now: func() time.Time { return at }}
		v := int64(3)
		active := false
		_, err := s.Update(context.Background(), owner, "i1", PatchInput{ExpectedVersion: &v, IsActive: &active})
		if ErrorCode(err) != EPRECONDITIONFAILED {
			t.Fatalf("got %v, want a precondition failure", err)
		}
		if st.it.Version != 4 {
			t.Errorf("version %d, want 4 (the other writer's)", st.it.Version)
		}
	})
}

type oneCatalog struct{}

func (oneCatalog) Platform(name string) (Platform, bool) {
	return Platform{Name: name}, name == "wordpress"
}
func (oneCatalog) Names() []string { return []string{"wordpress"} }

func TestStatusWritesDoNotMoveTheVersion(t *testing.T) {
	at := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	owner := Actor{Subject: "u", AccountID: "acc", Role: RoleOwner}
	base := Integration{ID: "i1", AccountID: "acc", SiteID: "s", Platform: "wordpress", Version: 3, Rev: 3,
		SyncStatus: SyncIdle, IsActive: true, Config: map[string]any{"a": "b"}}

	t.Run("a user edit after a status write still matches its expected version", func(t *testing.T) {
		st := &racingStore{it: base, races: 1}
		s := &Service{Store: st, Catalog: oneCatalog{}, Now: func() time.Time { return at }}
		v := int64(3)
		active := false
		got, err := s.Update(context.Background(), owner, "i1", PatchInput{ExpectedVersion: &v, IsActive: &active})
		if err != nil {
			t.Fatalf("got %v, want the edit to pass the status write", err)
		}
		if got.Version != 4 || got.IsActive || st.it.ConnectionMessage != "written by the other writer" {
			t.Errorf("version %d active %v message %q: want version 4, inactive, the status write kept", got.Version, got.IsActive, st.it.ConnectionMessage)
		}
	})
	t.Run("a status write carries no user attribute along", func(t *testing.T) {
		st := &racingStore{it: base}
		s := &Service{Store: st, Now: func() time.Time { return at }}
		_, err := s.modify(context.Background(), owner, "i1", statusWrite, func(cur *Integration, _ time.Time) (*Integration, error) {
			next := *cur
			next.IsActive, next.SyncStatus = false, SyncCompleted
			return &next, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if !st.it.IsActive || st.it.SyncStatus != SyncCompleted || st.it.Version != 3 {
			t.Errorf("active %v status %q version %d: want active, completed, version 3", st.it.IsActive, st.it.SyncStatus, st.it.Version)
		}
	})
	t.Run("a user edit carries no status attribute along", func(t *testing.T) {
		st := &racingStore{it: base}
		s := &Service{Store: st, Now: func() time.Time { return at }}
		_, err := s.modify(context.Background(), owner, "i1", userEdit, func(cur *Integration, _ time.Time) (*Integration, error) {
			next := *cur
			next.SyncEnabled, next.SyncStatus = true, SyncSyncing
			return &next, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if !st.it.SyncEnabled || st.it.SyncStatus != SyncIdle || st.it.Version != 4 {
			t.Errorf("sync enabled %v status %q version %d: want enabled, idle, version 4", st.it.SyncEnabled, st.it.SyncStatus, st.it.Version)
		}
	})
	t.Run("content types found on the platform are not a user edit", func(t *testing.T) {
		st := &racingStore{it: base}
		s := &Service{Store: st, Catalog: oneCatalog{}, Now: func() time.Time { return at }}
		got, err := s.Update(context.Background(), owner, "i1", PatchInput{ContentTypes: map[string]any{"post": map[string]any{}}})
		if err != nil {
			t.Fatal(err)
		}
		if st.it.ContentTypes["post"] == nil {
			t.Error("the content types were not kept")
		}
		if got.Version != 3 || st.it.Rev != 4 {
			t.Errorf("version %d rev %d, want version 3 at rev 4", got.Version, st.it.Rev)
		}
	})
}

type countingSecrets struct {
	Secrets
	n int
}

func (c *countingSecrets) PutSecret(_ context.Context, ref SecretRef, _ map[string]string) (SecretVersion, error) {
	c.n++
	return SecretVersion{Name: "joinery/" + ref.IntegrationID, VersionID: string(rune('a' + c.n))}, nil
}

func TestRefreshedCredentialsAreNotAUserEdit(t *testing.T) {
	at := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	owner := Actor{Subject: "u", AccountID: "acc", Role: RoleOwner}
	st := &racingStore{it: Integration{ID: "i1", AccountID: "acc", SiteID: "s", Platform: "wordpress", Version: 3, Rev: 3,
		Credentials: CredentialsRef{SecretName: "joinery/i1", VersionID: "old", Fields: []string{"access_token"}}}, races: 1}
	s := &Service{Store: st, Secrets: &countingSecrets{}, Now: func() time.Time { return at }}
	if err := s.StoreRefreshedCredentials(context.Background(), owner, "i1", map[string]string{"access_token": "t2"}); err != nil {
		t.Fatal(err)
	}
	if st.it.Version != 3 || st.it.Credentials.VersionID == "old" || st.it.ConnectionMessage != "written by the other writer" {
		t.Errorf("version %d credentials %q message %q: want version 3, the new credentials, the other write kept",
			st.it.Version, st.it.Credentials.VersionID, st.it.ConnectionMessage)
	}
}
