package conformance

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/integration"
)

// siteList pages through a site feed to its end, Limit records a page,
// and returns "<integration>:<external id>[:deleted]" of each record.
func siteList(t *testing.T, s integration.SyncStore, q integration.SiteRecordQuery) []string {
	t.Helper()
	var out []string
	for pages := 0; ; pages++ {
		if pages > 50 {
			t.Fatalf("site feed %+v: no end after %d pages", q, pages)
		}
		page, next, err := s.ListSiteRecords(context.Background(), q)
		if err != nil {
			t.Fatalf("site feed %+v: %v", q, err)
		}
		if q.Limit > 0 && len(page) > q.Limit {
			t.Fatalf("a page of %d records, limit %d", len(page), q.Limit)
		}
		for _, r := range page {
			item := r.IntegrationID + ":" + r.ExternalID
			if r.Deleted {
				item += ":deleted"
			}
			if r.Data == nil && r.Unreadable == "" {
				t.Fatalf("record %s listed without its data", item)
			}
			out = append(out, item)
		}
		if next == "" {
			return out
		}
		q.Cursor = next
	}
}

// testSiteFeed: records written for a site are listed, across the site's
// integrations, in change order; they move when written again, stay when
// written without the site, join when written unchanged for it, and go
// with a purge.
func testSiteFeed(t *testing.T, newStore func(t *testing.T) integration.SyncStore, now time.Time) {
	t.Run("the site feed lists a model across the site's integrations", func(t *testing.T) {
		ctx := context.Background()
		s := newStore(t)
		acct := uniq("acct")
		site := &integration.SiteRef{AccountID: acct, SiteID: "site-a"}
		other := &integration.SiteRef{AccountID: acct, SiteID: "site-b"}
		a, b, c := uniq("int"), uniq("int"), uniq("int")
		at := func(ms int) time.Time { return now.Add(time.Duration(ms) * time.Millisecond) }
		mod := now.Add(-time.Hour)
		put(t, s, integration.WriteScope{Site: site}, rec(a, "post", "1", "v1", at(1), mod, false), rec(a, "post", "2", "v1", at(3), mod, false),
			rec(a, "page", "p", "v1", at(4), mod, false))
		put(t, s, integration.WriteScope{Site: site}, rec(b, "post", "1", "v1", at(2), mod, false))
		put(t, s, integration.WriteScope{Site: other}, rec(c, "post", "9", "v1", at(2), mod, false))
		all := integration.SiteRecordQuery{AccountID: acct, SiteID: "site-a", Model: "post", Limit: 100}
		want := func(q integration.SiteRecordQuery, w ...string) {
			t.Helper()
			if got := siteList(t, s, q); strings.Join(got, " ") != strings.Join(w, " ") {
				t.Fatalf("site feed %s %s (after %v, before %v, of %v): %v, want %v", q.SiteID, q.Model, q.ChangedAfter, q.Before, q.Integrations, got, w)
			}
		}
		want(all, a+":1", b+":1", a+":2")
		one := all
		one.Limit = 1
		want(one, a+":1", b+":1", a+":2")
		want(integration.SiteRecordQuery{AccountID: acct, SiteID: "site-a", Model: "page"}, a+":p")
		want(integration.SiteRecordQuery{AccountID: acct, SiteID: "site-b", Model: "post", Limit: 10}, c+":9")
		want(integration.SiteRecordQuery{AccountID: "another-" + acct, SiteID: "site-a", Model: "post", Limit: 10})
		after, before := all, all
		after.ChangedAfter, before.Before = at(1), at(3)
		want(after, b+":1", a+":2")
		want(before, a+":1", b+":1")
		onlyB := all
		onlyB.Integrations = map[string]bool{b: true}
		want(onlyB, b+":1")

		// A change moves the record to the end, once; a deletion is listed
		// as one; a write that names no site keeps the record in its feed.
		put(t, s, integration.WriteScope{Site: site}, rec(a, "post", "1", "v2", at(5), mod.Add(time.Second), false))
		put(t, s, integration.WriteScope{}, rec(b, "post", "1", "v2", at(6), mod.Add(time.Second), true))
		want(all, a+":2", a+":1", b+":1:deleted")

		// A record stored before it was written for its site (in no site
		// feed) joins it when written again unchanged, at its own place.
		d := uniq("int")
		put(t, s, integration.WriteScope{}, rec(d, "post", "1", "v1", at(0), mod, false))
		want(all, a+":2", a+":1", b+":1:deleted")
		wantWritten(t, put(t, s, integration.WriteScope{Site: site}, rec(d, "post", "1", "v1", at(7), mod, false)), 0, 0)
		want(all, d+":1", a+":2", a+":1", b+":1:deleted")

		// A cursor the store did not issue is refused.
		bad := all
		bad.Cursor = "bm90LWEtY3Vyc29y"
		if _, _, err := s.ListSiteRecords(ctx, bad); integration.ErrorCode(err) != integration.EINVALID {
			t.Fatalf("a forged cursor: %v, want invalid", err)
		}

		// A purge takes the integration's records out of the site feed.
		if err := s.DeleteSyncData(ctx, a); err != nil {
			t.Fatal(err)
		}
		want(all, d+":1", b+":1:deleted")
		if kl, ok := s.(KeyLister); ok {
			if keys, err := kl.KeysOf(ctx, a); err != nil || len(keys) != 0 {
				t.Fatalf("left after the purge: %v %v", keys, err)
			}
		}
	})

	t.Run("a site feed page ends where Take says", func(t *testing.T) {
		s := newStore(t)
		acct, id := uniq("acct"), uniq("int")
		var recs []integration.StoredRecord
		for i := range 5 {
			recs = append(recs, record(id, "post", fmt.Sprint(i), "v1", now.Add(time.Duration(i)*time.Millisecond)))
		}
		put(t, s, integration.WriteScope{Site: &integration.SiteRef{AccountID: acct, SiteID: "s"}}, recs...)
		n := 0
		q := integration.SiteRecordQuery{AccountID: acct, SiteID: "s", Model: "post", Limit: 100, Take: func(*integration.StoredRecord) bool {
			n++
			return n%3 != 0 // two a page
		}}
		var sizes []int
		for range 10 {
			page, next, err := s.ListSiteRecords(context.Background(), q)
			if err != nil {
				t.Fatal(err)
			}
			sizes = append(sizes, len(page))
			if next == "" {
				break
			}
			q.Cursor = next
		}
		if fmt.Sprint(sizes) != "[2 2 1]" {
			t.Fatalf("pages of %v, want [2 2 1]", sizes)
		}
	})
}
