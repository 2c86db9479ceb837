package conformance

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/integration"
)

// testEventsByType checks listings by type, alone (across statuses) and
// with a status, among many events of other types: each lists exactly
// its events, newest first, page after page, leaving out expired ones.
func testEventsByType(t *testing.T, newStore func(t *testing.T) integration.SyncStore, now time.Time) {
	t.Run("events by type, alone or with a status, paged", func(t *testing.T) {
		ctx := context.Background()
		s, id := newStore(t), uniq("int")
		var evs []integration.SyncEvent
		expired := map[int]bool{}
		for i := range 90 {
			e := integration.SyncEvent{ID: fmt.Sprintf("01G%023d", i), IntegrationID: id, Type: "page", Status: "ok",
				Message: fmt.Sprint(i), At: now.Add(time.Duration(i) * time.Second)}
			switch {
			case i%7 == 0:
				e.Type, e.Status = "push", []string{"ok", "warning", "error"}[(i/7)%3]
			case i%11 == 5:
				// Past the retention, among the others: never listed.
				e.Type, e.Status, e.At = "push", []string{"ok", "error"}[(i/11)%2], now.Add(-31*24*time.Hour)
				expired[i] = true
			case i == 33 || i == 66:
				e.Type, e.Status = "conflict", "warning"
			}
			evs = append(evs, e)
		}
		if err := s.AddEvents(ctx, evs); err != nil {
			t.Fatal(err)
		}
		for _, q := range []integration.EventQuery{
			{Type: "push", Limit: 1}, {Type: "push", Limit: 3}, {Type: "push", Limit: 50},
			{Type: "push", Status: "warning", Limit: 2}, {Type: "push", Status: "ok", Limit: 4},
			{Type: "conflict", Limit: 1}, {Type: "page", Status: "ok", Limit: 20}, {Type: "page", Status: "error", Limit: 5},
			{Type: "none", Limit: 5}, {Status: "ok", Limit: 30}, {Status: "warning", Limit: 3},
		} {
			var want []string
			for i := len(evs) - 1; i >= 0; i-- {
				if e := evs[i]; !expired[i] && (q.Type == "" || e.Type == q.Type) && (q.Status == "" || e.Status == q.Status) {
					want = append(want, e.Message)
				}
			}
			var got []string
			q.IntegrationID = id
			for pages := 0; ; pages++ {
				page, next, err := s.ListEvents(ctx, q)
				if err != nil || pages > 100 {
					t.Fatalf("events %+v: %v", q, err)
				}
				for _, e := range page {
					got = append(got, e.Message)
				}
				if len(page) > q.Limit {
					t.Fatalf("events %+v: a page of %d", q, len(page))
				}
				if next == "" {
					break
				}
				q.Cursor = next
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("events %+v:\n got %v\nwant %v", q, got, want)
			}
		}
	})
}
