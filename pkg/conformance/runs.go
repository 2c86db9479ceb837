package conformance

import (
	"context"
	"encoding/base64"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/integration"
)

// allRuns pages through an integration's runs, failing on an empty page
// or more pages than want.
func allRuns(t *testing.T, s integration.SyncStore, integrationID string, limit, maxPages int) (ids []string, pages int) {
	t.Helper()
	cursor := ""
	for {
		page, next, err := s.ListRuns(context.Background(), integrationID, limit, cursor)
		if err != nil {
			t.Fatalf("list runs (cursor %q): %v", cursor, err)
		}
		pages++
		if len(page) > limit || (len(page) == 0 && pages > 1) || pages > maxPages {
			t.Fatalf("page %d of runs: %d runs, limit %d, next %q", pages, len(page), limit, next)
		}
		for _, r := range page {
			if r.IntegrationID != integrationID {
				t.Fatalf("run %s of integration %q listed for %q", r.ID, r.IntegrationID, integrationID)
			}
			ids = append(ids, r.ID)
		}
		if next == "" {
			return ids, pages
		}
		cursor = next
	}
}

// testRuns covers ListRuns: newest first, pages without an empty last
// one, runs as GetRun reads them, bad cursors refused.
func testRuns(t *testing.T, newStore func(t *testing.T) integration.SyncStore, now time.Time) {
	ctx := context.Background()

	t.Run("runs list newest first, paginated", func(t *testing.T) {
		s, id := newStore(t), uniq("int")
		if page, next, err := s.ListRuns(ctx, id, 10, ""); err != nil || len(page) != 0 || next != "" {
			t.Fatalf("no runs yet: %v %q %v", page, next, err)
		}
		// An integration whose id extends this one's: its runs are not listed.
		other := newRun(id+"0", now)
		other.ID = "01RUN" + strings.Repeat("9", 21)
		if _, _, err := s.StartRun(ctx, other, time.Hour); err != nil {
			t.Fatal(err)
		}
		var want []string
		for i := 1; i <= 5; i++ {
			run := newRun(id, now.Add(time.Duration(i)*time.Minute))
			run.ID = fmt.Sprintf("01RUN%021d", i)
			if _, started, err := s.StartRun(ctx, run, time.Hour); err != nil || !started {
				t.Fatalf("start run %d: %v %v", i, started, err)
			}
			if i < 5 {
				if ok, err := s.FinishRun(ctx, id, run.ID, integration.RunError, fmt.Sprintf("failed %d", i), run.StartedAt.Add(time.Second)); err != nil || !ok {
					t.Fatalf("finish run %d: %v %v", i, ok, err)
				}
			}
			want = append([]string{run.ID}, want...)
		}
		for _, limit := range []int{1, 2, 5, 100} {
			ids, pages := allRuns(t, s, id, limit, 5)
			if fmt.Sprint(ids) != fmt.Sprint(want) {
				t.Fatalf("limit %d: %v, want %v", limit, ids, want)
			}
			// No empty last page: a page says whether another follows.
			if wantPages := (len(want) + limit - 1) / limit; pages != wantPages {
				t.Fatalf("limit %d: %d pages, want %d", limit, pages, wantPages)
			}
		}
		page, next, err := s.ListRuns(ctx, id, 2, "")
		if err != nil || len(page) != 2 || next == "" {
			t.Fatalf("first page: %v %q %v", page, next, err)
		}
		// The newest is running; the others as they finished, as GetRun reads them.
		if r := page[0]; !r.Active() || r.FinishedAt != nil || r.Error != "" || r.AccountID != "acct" ||
			r.Direction != integration.DirectionFromExternal || fmt.Sprint(r.Models) != "[post page]" || r.JobsTotal != 1 ||
			!r.StartedAt.Equal(now.Add(5*time.Minute)) {
			t.Fatalf("running run listed as %+v", r)
		}
		got, err := s.GetRun(ctx, id, page[1].ID)
		if err != nil {
			t.Fatal(err)
		}
		if r := page[1]; r.Status != integration.RunError || r.Error != "failed 4" || r.FinishedAt == nil ||
			!r.FinishedAt.Equal(now.Add(4*time.Minute+time.Second)) || !reflect.DeepEqual(r, got) {
			t.Fatalf("finished run listed as %+v, GetRun reads %+v", r, got)
		}
		// A run finished after the page was read shows so on the next read.
		if ok, err := s.FinishRun(ctx, id, want[0], integration.RunCompleted, "", now.Add(time.Hour)); err != nil || !ok {
			t.Fatalf("finish the newest: %v %v", ok, err)
		}
		if page, _, err := s.ListRuns(ctx, id, 1, ""); err != nil || len(page) != 1 || page[0].Status != integration.RunCompleted {
			t.Fatalf("after its finish: %+v %v", page, err)
		}
		if ids, _ := allRuns(t, s, id+"0", 10, 1); fmt.Sprint(ids) != "["+other.ID+"]" {
			t.Fatalf("the other integration's runs: %v", ids)
		}
	})

	t.Run("runs: a cursor not issued is refused", func(t *testing.T) {
		s, id := newStore(t), uniq("int")
		if _, _, err := s.StartRun(ctx, newRun(id, now), time.Hour); err != nil {
			t.Fatal(err)
		}
		for _, bad := range []string{"not a cursor!", "%%%", base64.RawURLEncoding.EncodeToString([]byte(strings.Repeat("x", 200)))} {
			_, _, err := s.ListRuns(ctx, id, 10, bad)
			wantCode(t, err, integration.EINVALID)
			if integration.ErrorFields(err)["cursor"] == "" {
				t.Fatalf("cursor %q: the error does not name cursor: %v", bad, err)
			}
		}
		// A cursor past the oldest run is the end.
		if page, next, err := s.ListRuns(ctx, id, 10, base64.RawURLEncoding.EncodeToString([]byte("0"))); err != nil || len(page) != 0 || next != "" {
			t.Fatalf("past the oldest: %v %q %v", page, next, err)
		}
	})
}
