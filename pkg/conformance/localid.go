package conformance

import (
	"context"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/integration"
)

// testLocalIDs covers the local id a push gives the record it created: a
// write that adds it is a change, and a write without one (a sync) keeps
// it, in the record read and in the change feed.
func testLocalIDs(t *testing.T, newStore func(t *testing.T) integration.SyncStore, now time.Time) {
	ctx := context.Background()
	t.Run("a record keeps the local id of the push that created it", func(t *testing.T) {
		s, id := newStore(t), uniq("int")
		// Read by a sync before the push stored it.
		put(t, s, integration.WriteScope{}, rec(id, "post", "1", "v1", now, modified, false))
		pushed := rec(id, "post", "1", "v1", now.Add(time.Millisecond), modified, false)
		pushed.LocalID = "article-42"
		wantWritten(t, put(t, s, integration.WriteScope{}, pushed), 1, 0)
		// The same write delivered again changes nothing.
		wantWritten(t, put(t, s, integration.WriteScope{}, pushed), 0, 0)
		// A sync's write, unchanged and then changed, keeps it.
		wantWritten(t, put(t, s, integration.WriteScope{}, rec(id, "post", "1", "v1", now.Add(2*time.Millisecond), modified, false)), 0, 0)
		wantWritten(t, put(t, s, integration.WriteScope{}, rec(id, "post", "1", "v2", now.Add(3*time.Millisecond), modified.Add(time.Second), false)), 1, 0)
		got, err := s.GetRecord(ctx, id, "post", "1")
		if err != nil || got.Hash != "v2" || got.LocalID != "article-42" {
			t.Fatalf("after a sync's write: %+v %v", got, err)
		}
		recs, _, err := s.ListRecords(ctx, integration.RecordQuery{IntegrationID: id, Model: "post", Limit: 10})
		if err != nil || len(recs) != 1 || recs[0].LocalID != "article-42" {
			t.Fatalf("feed: %+v %v", recs, err)
		}
		// A record no push created has none.
		put(t, s, integration.WriteScope{}, rec(id, "post", "2", "v1", now, modified, false))
		if got, err := s.GetRecord(ctx, id, "post", "2"); err != nil || got.LocalID != "" {
			t.Fatalf("a synced record: %+v %v", got, err)
		}
	})
}
