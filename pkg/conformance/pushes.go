package conformance

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/integration"
)

// allPushes pages through a push query, returning the ids in order.
func allPushes(t *testing.T, s integration.SyncStore, q integration.PushQuery, maxPages int) []string {
	t.Helper()
	var ids []string
	for page := 0; ; page++ {
		if page == maxPages {
			t.Fatalf("more than %d pages of %+v", maxPages, q)
		}
		items, next, err := s.PagePushes(context.Background(), q)
		if err != nil {
			t.Fatalf("page %d of %+v: %v", page, q, err)
		}
		if len(items) > q.Limit {
			t.Fatalf("page %d holds %d pushes, more than its limit %d", page, len(items), q.Limit)
		}
		for _, p := range items {
			if p.IntegrationID != q.IntegrationID || (q.Status != "" && p.Status != q.Status) || (q.LocalID != "" && p.LocalID != q.LocalID) {
				t.Fatalf("page %d of %+v lists %+v", page, q, p)
			}
			ids = append(ids, p.ID)
		}
		if next == "" {
			return ids
		}
		q.Cursor = next
	}
}

func testPushConflicts(t *testing.T, newStore func(t *testing.T) integration.SyncStore, now time.Time) {
	ctx := context.Background()

	t.Run("pushes list newest first, by status and by local id", func(t *testing.T) {
		s, id := newStore(t), uniq("int")
		var all []*integration.Push
		for i := range 7 {
			local := fmt.Sprint("art-", i%2)
			p := &integration.Push{ID: integration.NewID(), AccountID: "acct", IntegrationID: id, Model: "post", LocalID: local,
				Data: []byte(`{"title":"x"}`), Status: integration.PushQueued, CreatedAt: now, UpdatedAt: now}
			if err := s.CreatePush(ctx, p); err != nil {
				t.Fatal(err)
			}
			all = append(all, p)
			time.Sleep(2 * time.Millisecond) // ULIDs order by the millisecond
		}
		// Another integration's pushes are never listed.
		if err := s.CreatePush(ctx, &integration.Push{ID: integration.NewID(), IntegrationID: uniq("other"), Model: "post", LocalID: "art-0",
			Status: integration.PushQueued, CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
		set := func(i int, st integration.PushStatus, at time.Time) {
			t.Helper()
			p := all[i]
			p.Status, p.UpdatedAt = st, at
			if err := s.UpdatePush(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
		set(1, integration.PushConflict, now)
		set(2, integration.PushDone, now)
		set(4, integration.PushConflict, now)
		set(5, integration.PushResolved, now)
		// Done long ago: past its retention, listed nowhere.
		set(6, integration.PushDone, now.Add(-integration.PushDoneRetention-time.Hour))
		newest := func(idx ...int) []string {
			var ids []string
			for _, i := range slices.Backward(idx) {
				ids = append(ids, all[i].ID)
			}
			return ids
		}
		for _, c := range []struct {
			q    integration.PushQuery
			want []string
		}{
			{integration.PushQuery{}, newest(0, 1, 2, 3, 4, 5)},
			{integration.PushQuery{Status: integration.PushConflict}, newest(1, 4)},
			{integration.PushQuery{Status: integration.PushQueued}, newest(0, 3)},
			{integration.PushQuery{Status: integration.PushResolved}, newest(5)},
			{integration.PushQuery{Status: integration.PushFailed}, nil},
			{integration.PushQuery{LocalID: "art-0"}, newest(0, 2, 4)},
			{integration.PushQuery{LocalID: "art-1", Status: integration.PushConflict}, newest(1)},
			{integration.PushQuery{LocalID: "art-1", Status: integration.PushResolved}, newest(5)},
			{integration.PushQuery{LocalID: "nobody"}, nil},
		} {
			for _, limit := range []int{1, 2, 100} {
				q := c.q
				q.IntegrationID, q.Limit = id, limit
				if got := allPushes(t, s, q, 20); !slices.Equal(got, c.want) {
					t.Errorf("%+v: %v, want %v", q, got, c.want)
				}
			}
		}
		// A listed push reads as stored.
		items, _, err := s.PagePushes(ctx, integration.PushQuery{IntegrationID: id, Status: integration.PushConflict, Limit: 1})
		if err != nil || len(items) != 1 || items[0].LocalID != "art-0" || items[0].Seq != 3 || items[0].Model != "post" || !bytes.Equal(items[0].Data, []byte(`{"title":"x"}`)) {
			t.Fatalf("listed push: %+v %v", items, err)
		}
		// Settling a conflict moves it out of the conflict listing.
		set(4, integration.PushDone, now)
		q := integration.PushQuery{IntegrationID: id, Status: integration.PushConflict, Limit: 10}
		if got := allPushes(t, s, q, 5); !slices.Equal(got, newest(1)) {
			t.Fatalf("conflicts after one was settled: %v", got)
		}
		_, _, err = s.PagePushes(ctx, integration.PushQuery{IntegrationID: id, Limit: 10, Cursor: "not-a-cursor!"})
		wantCode(t, err, integration.EINVALID)
	})

	t.Run("a push's snapshot of the platform's version is kept, replaced and removed", func(t *testing.T) {
		s, id := newStore(t), uniq("int")
		push := integration.NewID()
		_, err := s.GetPushRemote(ctx, id, push)
		wantCode(t, err, integration.ENOTFOUND)
		small := integration.PushRemote{Data: []byte(`{"external_id":"7","title":"Theirs"}`), ModifiedAt: now}
		if err := s.SavePushRemote(ctx, id, push, small); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetPushRemote(ctx, id, push)
		if err != nil || !bytes.Equal(got.Data, small.Data) || !got.ModifiedAt.Equal(now) {
			t.Fatalf("small snapshot: %+v %v", got, err)
		}
		// Larger than an item holds, even compressed.
		noise := make([]byte, 500<<10)
		_, _ = rand.Read(noise)
		large := integration.PushRemote{Data: []byte(`{"external_id":"7","body_html":"` + hex.EncodeToString(noise) + `"}`), ModifiedAt: now.Add(time.Minute)}
		if err := s.SavePushRemote(ctx, id, push, large); err != nil {
			t.Fatal(err)
		}
		got, err = s.GetPushRemote(ctx, id, push)
		if err != nil || !bytes.Equal(got.Data, large.Data) || !got.ModifiedAt.Equal(large.ModifiedAt) {
			t.Fatalf("large snapshot: %d bytes %v", len(got.Data), err)
		}
		if err := s.SavePushRemote(ctx, id, push, small); err != nil {
			t.Fatal(err)
		}
		if got, err = s.GetPushRemote(ctx, id, push); err != nil || !bytes.Equal(got.Data, small.Data) {
			t.Fatalf("replaced snapshot: %+v %v", got, err)
		}
		if err := s.DeletePushRemote(ctx, id, push); err != nil {
			t.Fatal(err)
		}
		_, err = s.GetPushRemote(ctx, id, push)
		wantCode(t, err, integration.ENOTFOUND)
		if err := s.DeletePushRemote(ctx, id, push); err != nil {
			t.Fatalf("deleting again: %v", err)
		}
		// Deleting the integration's sync data takes snapshots with it,
		// and refuses them afterwards.
		if err := s.SavePushRemote(ctx, id, push, large); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteSyncData(ctx, id); err != nil {
			t.Fatal(err)
		}
		_, err = s.GetPushRemote(ctx, id, push)
		wantCode(t, err, integration.ENOTFOUND)
		if err := s.SavePushRemote(ctx, id, push, small); err == nil {
			t.Fatal("a snapshot was stored after the integration's sync data was purged")
		}
	})
}
