package conformance

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/integration"
)

func newIntegration(account, site, platform string, n int) *integration.Integration {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).Add(time.Duration(n) * time.Second)
	return &integration.Integration{
		ID:                  fmt.Sprintf("01J%023d", n),
		AccountID:           account,
		SiteID:              site,
		Platform:            platform,
		ExternalSiteURL:     "https://example.com",
		Config:              map[string]any{"a": "b", "n": float64(n), "nested": map[string]any{"x": true}},
		IsActive:            true,
		SyncIntervalMinutes: 60,
		SyncStatus:          integration.SyncIdle,
		ConnectionStatus:    integration.ConnectionUnknown,
		CreatedAt:           now,
		UpdatedAt:           now,
		Version:             1,
		Rev:                 1,
	}
}

var seq atomic.Int64

func uniq(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano()%1e9, seq.Add(1))
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := integration.ErrorCode(err); got != code {
		t.Fatalf("error code = %q (%v), want %q", got, err, code)
	}
}

// TestStore runs the Store conformance suite. newStore returns a store that
// may be shared between subtests; the suite uses fresh account ids.
func TestStore(t *testing.T, newStore func(t *testing.T) integration.Store) {
	ctx := context.Background()
	t.Run("revisions", func(t *testing.T) { storeRevisions(t, newStore) })
	testContentTypes(t, newStore)
	testOAuthInfo(t, newStore)
	t.Run("create get round trip", func(t *testing.T) {
		s := newStore(t)
		acct := uniq("acct")
		in := newIntegration(acct, "site-1", "wordpress", 1)
		checked := in.CreatedAt.Add(time.Minute)
		in.ConnectionCheckedAt = &checked
		in.LastSyncAt = &checked
		in.Credentials = integration.CredentialsRef{SecretName: "joinery/x/y", VersionID: "v1", Fields: []string{"app_password", "username"}}
		if err := s.CreateIntegration(ctx, in); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetIntegration(ctx, acct, in.ID)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(*got) != fmt.Sprint(*in) {
			t.Fatalf("got  %+v\nwant %+v", *got, *in)
		}
		if !got.ConnectionCheckedAt.Equal(checked) || got.Config["nested"].(map[string]any)["x"] != true {
			t.Fatalf("times or nested config lost: %+v", got)
		}
	})
	t.Run("not found and other account", func(t *testing.T) {
		s := newStore(t)
		acct := uniq("acct")
		in := newIntegration(acct, "site-1", "wordpress", 2)
		if err := s.CreateIntegration(ctx, in); err != nil {
			t.Fatal(err)
		}
		_, err := s.GetIntegration(ctx, uniq("other"), in.ID)
		wantCode(t, err, integration.ENOTFOUND)
		_, err = s.GetIntegration(ctx, acct, "missing")
		wantCode(t, err, integration.ENOTFOUND)
		_, err = s.FindIntegration(ctx, acct, "site-1", "shopify")
		wantCode(t, err, integration.ENOTFOUND)
		got, err := s.FindIntegration(ctx, acct, "site-1", "wordpress")
		if err != nil || got.ID != in.ID {
			t.Fatalf("find = %v, %v", got, err)
		}
	})
	t.Run("site and platform unique per account", func(t *testing.T) {
		s := newStore(t)
		acct := uniq("acct")
		if err := s.CreateIntegration(ctx, newIntegration(acct, "s", "wordpress", 3)); err != nil {
			t.Fatal(err)
		}
		wantCode(t, s.CreateIntegration(ctx, newIntegration(acct, "s", "wordpress", 4)), integration.ECONFLICT)
		if err := s.CreateIntegration(ctx, newIntegration(acct, "s", "shopify", 5)); err != nil {
			t.Fatalf("other platform: %v", err)
		}
		if err := s.CreateIntegration(ctx, newIntegration(uniq("acct"), "s", "wordpress", 6)); err != nil {
			t.Fatalf("other account: %v", err)
		}
		// The same id twice is a conflict too, never an overwrite.
		wantCode(t, s.CreateIntegration(ctx, newIntegration(acct, "s2", "wordpress", 3)), integration.ECONFLICT)
	})
	t.Run("a retried write that had succeeded succeeds again", func(t *testing.T) {
		// A client retries when an answer is lost; the retry must not turn a
		// write that happened into a conflict, nor change anything.
		s := newStore(t)
		acct := uniq("acct")
		in := newIntegration(acct, "s", "wordpress", 50)
		for range 2 {
			if err := s.CreateIntegration(ctx, in); err != nil {
				t.Fatalf("create: %v", err)
			}
		}
		next := *in
		next.Version, next.SyncError = 2, "changed"
		for range 2 {
			if err := s.UpdateIntegration(ctx, &next, 1); err != nil {
				t.Fatalf("update: %v", err)
			}
		}
		other := next
		other.SyncError = "a different change"
		wantCode(t, s.UpdateIntegration(ctx, &other, 1), integration.EPRECONDITIONFAILED)
		if got, _ := s.GetIntegration(ctx, acct, in.ID); got.Version != 2 || got.SyncError != "changed" {
			t.Fatalf("after retries: %+v", got)
		}
	})
	t.Run("concurrent creates of one site and platform: exactly one wins", func(t *testing.T) {
		s := newStore(t)
		acct := uniq("acct")
		const n = 8
		var wins, conflicts atomic.Int32
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := s.CreateIntegration(ctx, newIntegration(acct, "race", "wordpress", 100+i))
				switch integration.ErrorCode(err) {
				case "":
					wins.Add(1)
				case integration.ECONFLICT:
					conflicts.Add(1)
				default:
					t.Errorf("create: %v", err)
				}
			}()
		}
		wg.Wait()
		if wins.Load() != 1 || conflicts.Load() != n-1 {
			t.Fatalf("wins=%d conflicts=%d, want 1 and %d", wins.Load(), conflicts.Load(), n-1)
		}
		items, _, err := s.ListIntegrations(ctx, integration.ListQuery{AccountID: acct, Limit: 100})
		if err != nil || len(items) != 1 {
			t.Fatalf("list after race = %d items, %v", len(items), err)
		}
	})
	t.Run("update with version check", func(t *testing.T) {
		s := newStore(t)
		acct := uniq("acct")
		in := newIntegration(acct, "s", "wordpress", 7)
		if err := s.CreateIntegration(ctx, in); err != nil {
			t.Fatal(err)
		}
		next := *in
		next.Version = 2
		next.Config = map[string]any{"changed": "yes"}
		next.SyncStatus = integration.SyncError
		next.SyncError = "boom"
		if err := s.UpdateIntegration(ctx, &next, 1); err != nil {
			t.Fatal(err)
		}
		stale := *in
		stale.Version = 2
		wantCode(t, s.UpdateIntegration(ctx, &stale, 1), integration.EPRECONDITIONFAILED)
		got, _ := s.GetIntegration(ctx, acct, in.ID)
		if got.Version != 2 || got.Config["changed"] != "yes" || got.SyncError != "boom" {
			t.Fatalf("after update: %+v", got)
		}
		gone := newIntegration(acct, "s9", "wordpress", 8)
		gone.Version = 2
		if err := s.UpdateIntegration(ctx, gone, 1); integration.ErrorCode(err) != integration.ENOTFOUND && integration.ErrorCode(err) != integration.EPRECONDITIONFAILED {
			t.Fatalf("update of missing item: %v", err)
		}
		if _, err := s.GetIntegration(ctx, acct, gone.ID); integration.ErrorCode(err) != integration.ENOTFOUND {
			t.Fatalf("update created a missing item: %v", err)
		}
	})
	t.Run("concurrent updates: no lost update", func(t *testing.T) {
		s := newStore(t)
		acct := uniq("acct")
		in := newIntegration(acct, "s", "wordpress", 9)
		in.Config = map[string]any{}
		if err := s.CreateIntegration(ctx, in); err != nil {
			t.Fatal(err)
		}
		const n = 6
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					cur, err := s.GetIntegration(ctx, acct, in.ID)
					if err != nil {
						t.Error(err)
						return
					}
					next := *cur
					next.Config = integration.MergePatch(cur.Config, map[string]any{fmt.Sprintf("k%d", i): float64(i)})
					next.Version = cur.Version + 1
					err = s.UpdateIntegration(ctx, &next, cur.Rev)
					if err == nil {
						return
					}
					if integration.ErrorCode(err) != integration.EPRECONDITIONFAILED {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		got, err := s.GetIntegration(ctx, acct, in.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Config) != n || got.Version != 1+n {
			t.Fatalf("config %v version %d: want %d keys at version %d", got.Config, got.Version, n, 1+n)
		}
	})
	t.Run("delete releases site and platform", func(t *testing.T) {
		s := newStore(t)
		acct := uniq("acct")
		in := newIntegration(acct, "s", "wordpress", 10)
		if err := s.CreateIntegration(ctx, in); err != nil {
			t.Fatal(err)
		}
		wantCode(t, s.DeleteIntegration(ctx, acct, in.ID, 5), integration.EPRECONDITIONFAILED)
		if err := s.DeleteIntegration(ctx, acct, in.ID, 1); err != nil {
			t.Fatal(err)
		}
		_, err := s.GetIntegration(ctx, acct, in.ID)
		wantCode(t, err, integration.ENOTFOUND)
		wantCode(t, s.DeleteIntegration(ctx, acct, in.ID, 1), integration.ENOTFOUND)
		if err := s.CreateIntegration(ctx, newIntegration(acct, "s", "wordpress", 11)); err != nil {
			t.Fatalf("re-create after delete: %v", err)
		}
	})
	t.Run("list paginates and filters", func(t *testing.T) {
		s := newStore(t)
		acct := uniq("acct")
		other := uniq("acct")
		platforms := []string{"wordpress", "shopify", "slack"}
		want := map[string]bool{}
		for i := range 7 {
			site := fmt.Sprintf("site-%d", i%3)
			in := newIntegration(acct, site, platforms[i/3%3], 200+i)
			if err := s.CreateIntegration(ctx, in); err != nil {
				t.Fatal(err)
			}
			want[in.ID] = true
		}
		if err := s.CreateIntegration(ctx, newIntegration(other, "site-0", "wordpress", 300)); err != nil {
			t.Fatal(err)
		}
		collect := func(q integration.ListQuery) []*integration.Integration {
			t.Helper()
			var all []*integration.Integration
			for pages := 0; ; pages++ {
				items, next, err := s.ListIntegrations(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				if len(items) > q.Limit {
					t.Fatalf("page of %d items, limit %d", len(items), q.Limit)
				}
				all = append(all, items...)
				if next == "" {
					return all
				}
				if pages > 20 {
					t.Fatal("pagination does not end")
				}
				q.Cursor = next
			}
		}
		all := collect(integration.ListQuery{AccountID: acct, Limit: 2})
		if len(all) != 7 {
			t.Fatalf("listed %d, want 7", len(all))
		}
		seen := map[string]bool{}
		for _, it := range all {
			if !want[it.ID] || seen[it.ID] {
				t.Fatalf("unexpected or repeated item %s", it.ID)
			}
			seen[it.ID] = true
		}
		if got := collect(integration.ListQuery{AccountID: acct, SiteID: "site-0", Limit: 1}); len(got) != 3 {
			t.Fatalf("by site: %d, want 3", len(got))
		}
		if got := collect(integration.ListQuery{AccountID: acct, Platform: "shopify", Limit: 2}); len(got) != 3 {
			t.Fatalf("by platform: %d, want 3", len(got))
		}
		got := collect(integration.ListQuery{AccountID: acct, SiteID: "site-1", Platform: "wordpress", Limit: 5})
		if len(got) != 1 || got[0].SiteID != "site-1" || got[0].Platform != "wordpress" {
			t.Fatalf("by site and platform: %+v", got)
		}
		if got := collect(integration.ListQuery{AccountID: uniq("nobody"), Limit: 5}); len(got) != 0 {
			t.Fatalf("empty account listed %d", len(got))
		}
		_, _, err := s.ListIntegrations(ctx, integration.ListQuery{AccountID: acct, Limit: 2, Cursor: "!!not-a-cursor"})
		wantCode(t, err, integration.EINVALID)
	})
	t.Run("a cursor never crosses accounts", func(t *testing.T) {
		s := newStore(t)
		a, b := uniq("acct"), uniq("acct")
		for i := range 3 {
			if err := s.CreateIntegration(ctx, newIntegration(a, fmt.Sprintf("s%d", i), "wordpress", 400+i)); err != nil {
				t.Fatal(err)
			}
		}
		_, next, err := s.ListIntegrations(ctx, integration.ListQuery{AccountID: a, Limit: 1})
		if err != nil || next == "" {
			t.Fatalf("first page: %q %v", next, err)
		}
		items, _, err := s.ListIntegrations(ctx, integration.ListQuery{AccountID: b, Limit: 10, Cursor: next})
		if err == nil && len(items) != 0 {
			t.Fatalf("account b saw %d items of account a through a cursor", len(items))
		}
	})
	t.Run("site keys: create, get, list by site, revoke", func(t *testing.T) {
		s := newStore(t)
		acct := uniq("acct")
		created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		var ids []string
		for i := range 5 {
			site := "site-a"
			if i == 4 {
				site = "site-b"
			}
			k := &integration.SiteKey{ID: fmt.Sprintf("01K%023d", seq.Add(1)), AccountID: acct, SiteID: site, Name: fmt.Sprintf("key %d", i),
				Hash: fmt.Sprintf("%064d", i), Hint: "abcd", CreatedAt: created, CreatedBy: "user-1"}
			if err := s.CreateSiteKey(ctx, k); err != nil {
				t.Fatal(err)
			}
			if err := s.CreateSiteKey(ctx, k); err != nil {
				t.Fatalf("a retried create that had succeeded: %v", err)
			}
			other := *k
			other.SiteID = "site-z"
			wantCode(t, s.CreateSiteKey(ctx, &other), integration.ECONFLICT)
			ids = append(ids, k.ID)
		}
		got, err := s.GetSiteKey(ctx, ids[0])
		if err != nil {
			t.Fatal(err)
		}
		if got.AccountID != acct || got.SiteID != "site-a" || got.Name != "key 0" || got.Hash != fmt.Sprintf("%064d", 0) ||
			got.Hint != "abcd" || !got.CreatedAt.Equal(created) || got.CreatedBy != "user-1" || got.RevokedAt != nil {
			t.Fatalf("round trip: %+v", got)
		}
		_, err = s.GetSiteKey(ctx, "01KNOSUCHKEY")
		wantCode(t, err, integration.ENOTFOUND)

		var listed []string
		cursor := ""
		for pages := 0; ; pages++ {
			if pages > 10 {
				t.Fatal("pagination does not end")
			}
			page, next, err := s.ListSiteKeys(ctx, integration.SiteKeyQuery{AccountID: acct, SiteID: "site-a", Limit: 2, Cursor: cursor})
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range page {
				listed = append(listed, k.ID)
			}
			if next == "" {
				break
			}
			cursor = next
		}
		if fmt.Sprint(listed) != fmt.Sprint(ids[:4]) {
			t.Fatalf("site-a keys = %v, want %v in creation order", listed, ids[:4])
		}
		if page, _, err := s.ListSiteKeys(ctx, integration.SiteKeyQuery{AccountID: uniq("other"), SiteID: "site-a", Limit: 10}); err != nil || len(page) != 0 {
			t.Fatalf("another account listed %d keys (%v)", len(page), err)
		}
		_, _, err = s.ListSiteKeys(ctx, integration.SiteKeyQuery{AccountID: acct, SiteID: "site-a", Limit: 2, Cursor: "!!"})
		wantCode(t, err, integration.EINVALID)

		// Keys share the site's index with integrations; neither may leak into the other's list.
		if err := s.CreateIntegration(ctx, newIntegration(acct, "site-a", "wordpress", int(seq.Add(1)))); err != nil {
			t.Fatal(err)
		}
		its, _, err := s.ListIntegrations(ctx, integration.ListQuery{AccountID: acct, SiteID: "site-a", Limit: 10})
		if err != nil || len(its) != 1 {
			t.Fatalf("integrations of site-a: %d (%v), want 1", len(its), err)
		}
		if page, _, err := s.ListSiteKeys(ctx, integration.SiteKeyQuery{AccountID: acct, SiteID: "site-a", Limit: 10}); err != nil || len(page) != 4 {
			t.Fatalf("keys of site-a: %d (%v), want 4", len(page), err)
		}

		first := created.Add(time.Hour)
		if err := s.RevokeSiteKey(ctx, ids[1], first); err != nil {
			t.Fatal(err)
		}
		if err := s.RevokeSiteKey(ctx, ids[1], first.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		got, err = s.GetSiteKey(ctx, ids[1])
		if err != nil || got.RevokedAt == nil || !got.RevokedAt.Equal(first) {
			t.Fatalf("revoked key: %+v %v; want revoked at %v (the first revocation)", got, err, first)
		}
		wantCode(t, s.RevokeSiteKey(ctx, "01KNOSUCHKEY", first), integration.ENOTFOUND)
	})
	t.Run("counters count atomically and start again after expiry", func(t *testing.T) {
		s := newStore(t)
		bucket := uniq("bucket")
		var wg sync.WaitGroup
		seen := make([]int64, 20)
		for i := range seen {
			wg.Add(1)
			go func() {
				defer wg.Done()
				n, err := s.CountHit(ctx, bucket, time.Now().Add(time.Hour))
				if err != nil {
					t.Error(err)
				}
				seen[i] = n
			}()
		}
		wg.Wait()
		got := map[int64]bool{}
		for _, n := range seen {
			got[n] = true
		}
		for n := int64(1); n <= 20; n++ {
			if !got[n] {
				t.Fatalf("counts %v: %d missing; each hit must see its own count", seen, n)
			}
		}
		expired := uniq("bucket")
		if _, err := s.CountHit(ctx, expired, time.Now().Add(-time.Minute)); err != nil {
			t.Fatal(err)
		}
		if n, err := s.CountHit(ctx, expired, time.Now().Add(time.Hour)); err != nil || n != 1 {
			t.Fatalf("count after expiry = %d (%v), want 1", n, err)
		}
	})
	testDuePages(t, newStore)
	t.Run("due integrations across accounts, earliest first", func(t *testing.T) {
		s := newStore(t)
		a, b := uniq("acct"), uniq("acct")
		base := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
		mine := map[string]bool{a: true, b: true}
		var ids []string
		for i, acct := range []string{a, b, a, b} {
			in := newIntegration(acct, fmt.Sprintf("due-%d", i), "wordpress", int(seq.Add(1)))
			at := base.Add(time.Duration(3-i) * time.Minute) // the last created is due first
			in.NextSyncAt = &at
			if i == 3 {
				later := base.Add(time.Hour)
				in.NextSyncAt = &later
			}
			if err := s.CreateIntegration(ctx, in); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, in.ID)
		}
		unscheduled := newIntegration(a, "due-none", "wordpress", int(seq.Add(1)))
		if err := s.CreateIntegration(ctx, unscheduled); err != nil {
			t.Fatal(err)
		}
		due := func(at time.Time) []string {
			got, err := s.DueIntegrations(ctx, at, 100)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, it := range got {
				if mine[it.AccountID] {
					out = append(out, it.ID)
				}
			}
			return out
		}
		if got := due(base.Add(3 * time.Minute)); fmt.Sprint(got) != fmt.Sprint([]string{ids[2], ids[1], ids[0]}) {
			t.Fatalf("due: %v, want %v", got, []string{ids[2], ids[1], ids[0]})
		}
		if got := due(base.Add(90 * time.Second)); len(got) != 1 || got[0] != ids[2] {
			t.Fatalf("due at +90s: %v", got)
		}
		// Unscheduled: out of the index.
		cur, _ := s.GetIntegration(ctx, a, ids[2])
		next := *cur
		next.NextSyncAt, next.Version = nil, cur.Version+1
		if err := s.UpdateIntegration(ctx, &next, cur.Rev); err != nil {
			t.Fatal(err)
		}
		if got := due(base.Add(2 * time.Hour)); len(got) != 3 || got[0] != ids[1] {
			t.Fatalf("after unscheduling: %v", got)
		}
		got, err := s.GetIntegration(ctx, b, ids[3])
		if err != nil || got.NextSyncAt == nil || !got.NextSyncAt.Equal(base.Add(time.Hour)) {
			t.Fatalf("next_sync_at round trip: %v %v", got.NextSyncAt, err)
		}
	})
}
