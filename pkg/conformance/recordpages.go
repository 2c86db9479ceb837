package conformance

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/integration"
)

// testRecordPagesEndWhereTheCallerSays: RecordQuery.Take ends a page
// early (a response size budget), and the cursor resumes at the record it
// refused.
func testRecordPagesEndWhereTheCallerSays(t *testing.T, newStore func(t *testing.T) integration.SyncStore, now time.Time) {
	t.Run("a page ends where Take says, and the next resumes there", func(t *testing.T) {
		ctx := context.Background()
		s, id := newStore(t), uniq("int")
		var want []string
		var recs []integration.StoredRecord
		for i := range 10 {
			want = append(want, fmt.Sprint(i))
			recs = append(recs, record(id, "post", fmt.Sprint(i), "v1", now.Add(time.Duration(i)*time.Millisecond)))
		}
		if _, err := s.PutRecords(ctx, integration.WriteScope{}, recs); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			name  string
			fits  int // records Take accepts per page
			pages []int
		}{
			{"three a page", 3, []int{3, 3, 3, 1}},
			{"Take refuses all: one a page", 0, []int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1}},
		} {
			var got []string
			var sizes []int
			cursor := ""
			for range 20 {
				var asked []string
				q := integration.RecordQuery{IntegrationID: id, Model: "post", Limit: 100, Cursor: cursor, Take: func(r *integration.StoredRecord) bool {
					asked = append(asked, r.ExternalID)
					return len(asked) <= c.fits
				}}
				page, next, err := s.ListRecords(ctx, q)
				if err != nil {
					t.Fatalf("%s: %v", c.name, err)
				}
				var ids []string
				for _, r := range page {
					ids = append(ids, r.ExternalID)
				}
				// Take saw the page's records, in order, and at most the one it refused.
				if len(asked) < len(ids) || len(asked) > len(ids)+1 || !slices.Equal(asked[:len(ids)], ids) {
					t.Fatalf("%s: Take was asked about %v for a page of %v", c.name, asked, ids)
				}
				got, sizes = append(got, ids...), append(sizes, len(ids))
				if next == "" {
					break
				}
				cursor = next
			}
			if !slices.Equal(got, want) || !slices.Equal(sizes, c.pages) {
				t.Errorf("%s: pages of %v listing %v, want pages of %v listing %v", c.name, sizes, got, c.pages, want)
			}
		}
	})
}
