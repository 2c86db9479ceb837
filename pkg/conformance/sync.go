package conformance

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/integration"
)

func newRun(integrationID string, at time.Time) *integration.Run {
	return &integration.Run{ID: integration.NewID(), AccountID: "acct", IntegrationID: integrationID, Direction: integration.DirectionFromExternal,
		Models: []string{"post", "page"}, Status: integration.RunRunning, JobsTotal: 1, Since: map[string]time.Time{"post": at.Add(-time.Hour)},
		ListedAt: at, StartedAt: at}
}

func record(integrationID, model, id, body string, at time.Time) integration.StoredRecord {
	data := []byte(fmt.Sprintf(`{"external_id":%q,"title":%q}`, id, body))
	return integration.StoredRecord{IntegrationID: integrationID, Model: model, ExternalID: id, Hash: body, Data: data, ChangedAt: at}
}

// TestSyncStore runs the SyncStore conformance suite.
func TestSyncStore(t *testing.T, newStore func(t *testing.T) integration.SyncStore) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)

	t.Run("one active run per integration", func(t *testing.T) {
		s, id := newStore(t), uniq("int")
		first := newRun(id, now)
		got, started, err := s.StartRun(ctx, first, time.Hour)
		if err != nil || !started || got.ID != first.ID {
			t.Fatalf("first: %v %v", started, err)
		}
		if got, started, err := s.StartRun(ctx, first, time.Hour); err != nil || !started || got.ID != first.ID {
			t.Fatalf("a retried start that had succeeded: %v %v", started, err)
		}
		second := newRun(id, now)
		got, started, err = s.StartRun(ctx, second, time.Hour)
		if err != nil || started || got.ID != first.ID {
			t.Fatalf("second while first active: started=%v got=%v err=%v", started, got, err)
		}
		if ok, err := s.FinishRun(ctx, id, first.ID, integration.RunCompleted, "", now); err != nil || !ok {
			t.Fatalf("finish: %v %v", ok, err)
		}
		if ok, err := s.FinishRun(ctx, id, first.ID, integration.RunError, "again", now); err != nil || ok {
			t.Fatalf("finished twice: %v %v", ok, err)
		}
		r, err := s.GetRun(ctx, id, first.ID)
		if err != nil || r.Status != integration.RunCompleted || r.Error != "" || r.FinishedAt == nil || !r.FinishedAt.Equal(now) {
			t.Fatalf("finished run: %+v %v", r, err)
		}
		if got, started, err := s.StartRun(ctx, second, time.Hour); err != nil || !started || got.ID != second.ID {
			t.Fatalf("after the first finished: %v %v", started, err)
		}
		latest, err := s.LatestRun(ctx, id)
		if err != nil || latest.ID != second.ID {
			t.Fatalf("latest: %v %v", latest, err)
		}
		// A run active for longer than staleAfter no longer blocks.
		third := newRun(id, now)
		third.StartedAt = now.Add(time.Second)
		if _, started, err := s.StartRun(ctx, third, -time.Minute); err != nil || !started {
			t.Fatalf("over a stale run: %v %v", started, err)
		}
		_, err = s.GetRun(ctx, id, "01NOSUCHRUN")
		wantCode(t, err, integration.ENOTFOUND)
		_, err = s.LatestRun(ctx, uniq("none"))
		wantCode(t, err, integration.ENOTFOUND)
	})

	t.Run("run round trip", func(t *testing.T) {
		s, id := newStore(t), uniq("int")
		run := newRun(id, now)
		run.Full = true
		if _, _, err := s.StartRun(ctx, run, time.Hour); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetRun(ctx, id, run.ID)
		if err != nil || got.AccountID != "acct" || got.Direction != integration.DirectionFromExternal || fmt.Sprint(got.Models) != "[post page]" ||
			!got.Full || !got.ListedAt.Equal(now) || !got.StartedAt.Equal(now) || !got.Since["post"].Equal(now.Add(-time.Hour)) ||
			got.JobsTotal != 1 || got.JobsDone != 0 || !got.Active() || got.FinishedAt != nil {
			t.Fatalf("round trip: %+v %v", got, err)
		}
	})

	t.Run("jobs are counted once, concurrently", func(t *testing.T) {
		s, id := newStore(t), uniq("int")
		run := newRun(id, now)
		if _, _, err := s.StartRun(ctx, run, time.Hour); err != nil {
			t.Fatal(err)
		}
		totals := map[string]int64{"post": 250}
		var children []string
		for j := range 8 {
			children = append(children, fmt.Sprintf(`{"kind":"page","job_id":"post/%d","page":"%d"}`, j+2, j+2))
		}
		got, err := s.AddJobs(ctx, id, run.ID, "plan", children, totals)
		if err != nil || fmt.Sprint(got) != fmt.Sprint(children) {
			t.Fatalf("add jobs: %v %v", got, err)
		}
		// A replay with another list (the platform answered differently)
		// changes nothing and gets the first list back.
		got, err = s.AddJobs(ctx, id, run.ID, "plan", children[:3], map[string]int64{"post": 1})
		if err != nil || fmt.Sprint(got) != fmt.Sprint(children) {
			t.Fatalf("replayed add jobs: %v %v", got, err)
		}
		if got, err := s.AddJobs(ctx, id, run.ID, "post/9", nil, nil); err != nil || len(got) != 0 {
			t.Fatalf("no children: %v %v", got, err)
		}
		var wg sync.WaitGroup
		firsts := make(chan string, 32)
		for j := range 8 {
			for range 2 { // every job delivered twice, at once
				wg.Add(1)
				go func() {
					defer wg.Done()
					job := fmt.Sprintf("post/%d", j+2)
					_, first, err := s.CompleteJob(ctx, id, run.ID, job, integration.JobResult{
						Progress: integration.Progress{PagesDone: 1, ItemsSeen: 10, ItemsWritten: 3},
						Seen:     map[string][]string{"post": {fmt.Sprint(j * 2), fmt.Sprint(j*2 + 1)}}})
					if err != nil {
						t.Error(err)
					}
					if first {
						firsts <- job
					}
				}()
			}
		}
		wg.Wait()
		close(firsts)
		if n := len(firsts); n != 8 {
			t.Fatalf("%d first completions, want 8", n)
		}
		run2, first, err := s.CompleteJob(ctx, id, run.ID, "plan", integration.JobResult{Progress: integration.Progress{PagesDone: 1, PagesTotal: 1}})
		if err != nil || !first {
			t.Fatal(err)
		}
		if run2.JobsTotal != 9 || run2.JobsDone != 9 || run2.Progress.PagesDone != 9 || run2.Progress.PagesTotal != 9 ||
			run2.Progress.ItemsSeen != 80 || run2.Progress.ItemsWritten != 24 || run2.Totals["post"] != 250 {
			t.Fatalf("run after its jobs: %+v", run2)
		}
		seen, err := s.SeenIDs(ctx, id, run.ID, "post")
		if err != nil || len(seen) != 16 || !seen["15"] {
			t.Fatalf("seen ids: %v %v", seen, err)
		}
		if seen, _ := s.SeenIDs(ctx, id, run.ID, "page"); len(seen) != 0 {
			t.Fatalf("seen pages: %v", seen)
		}
	})

	t.Run("cursors merge", func(t *testing.T) {
		s, id := newStore(t), uniq("int")
		if c, err := s.Cursors(ctx, id); err != nil || len(c) != 0 {
			t.Fatalf("none yet: %v %v", c, err)
		}
		if err := s.SetCursors(ctx, id, map[string]time.Time{"post": now, "page": now}); err != nil {
			t.Fatal(err)
		}
		if err := s.SetCursors(ctx, id, map[string]time.Time{"post": now.Add(time.Minute)}); err != nil {
			t.Fatal(err)
		}
		c, err := s.Cursors(ctx, id)
		if err != nil || !c["post"].Equal(now.Add(time.Minute)) || !c["page"].Equal(now) || len(c) != 2 {
			t.Fatalf("cursors: %v %v", c, err)
		}
	})

	t.Run("records: only changes are written, the feed pages in change order", func(t *testing.T) {
		s, id := newStore(t), uniq("int")
		var recs []integration.StoredRecord
		for i := range 25 {
			recs = append(recs, record(id, "post", fmt.Sprint(i), "v1", now.Add(time.Duration(i)*time.Millisecond)))
		}
		if n, err := s.PutRecords(ctx, integration.WriteScope{}, recs); err != nil || n.Written != 25 {
			t.Fatalf("first write: %d %v", n, err)
		}
		if n, err := s.PutRecords(ctx, integration.WriteScope{}, recs); err != nil || n.Written != 0 {
			t.Fatalf("unchanged: wrote %d (%v), want 0", n, err)
		}
		changed := record(id, "post", "3", "v2", now.Add(time.Second))
		changed.Deleted = true
		if n, err := s.PutRecords(ctx, integration.WriteScope{}, []integration.StoredRecord{recs[0], changed}); err != nil || n.Written != 1 {
			t.Fatalf("one change: wrote %d (%v), want 1", n, err)
		}
		if _, err := s.PutRecords(ctx, integration.WriteScope{}, []integration.StoredRecord{record(id, "page", "3", "v1", now)}); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetRecord(ctx, id, "post", "3")
		if err != nil || got.Hash != "v2" || !got.Deleted || !got.ChangedAt.Equal(now.Add(time.Second)) || !bytes.Contains(got.Data, []byte(`"v2"`)) {
			t.Fatalf("changed record: %+v %v", got, err)
		}
		_, err = s.GetRecord(ctx, id, "post", "nope")
		wantCode(t, err, integration.ENOTFOUND)
		var order []string
		cursor := ""
		for pages := 0; ; pages++ {
			page, next, err := s.ListRecords(ctx, integration.RecordQuery{IntegrationID: id, Model: "post", Limit: 10, Cursor: cursor})
			if err != nil || pages > 5 {
				t.Fatalf("list: %v", err)
			}
			for _, r := range page {
				order = append(order, r.ExternalID)
			}
			if next == "" {
				break
			}
			cursor = next
		}
		if len(order) != 25 || order[24] != "3" || order[0] != "0" || order[3] != "4" {
			t.Fatalf("feed order: %v (want 0..24 without 3, then 3)", order)
		}
		after, _, err := s.ListRecords(ctx, integration.RecordQuery{IntegrationID: id, Model: "post", Limit: 100, ChangedAfter: now.Add(23 * time.Millisecond)})
		if err != nil || len(after) != 2 || after[0].ExternalID != "24" || after[1].ExternalID != "3" {
			t.Fatalf("changed after (exclusive): %v %v", after, err)
		}
		if n, err := s.CountRecords(ctx, id, "post"); err != nil || n != 24 {
			t.Fatalf("count: %d %v, want 24 (one deleted)", n, err)
		}
		_, _, err = s.ListRecords(ctx, integration.RecordQuery{IntegrationID: id, Model: "post", Limit: 10, Cursor: "!!"})
		wantCode(t, err, integration.EINVALID)
	})

	t.Run("records larger than an item are kept whole", func(t *testing.T) {
		s, id := newStore(t), uniq("int")
		noise := make([]byte, 900<<10) // incompressible: split over several items
		if _, err := rand.Read(noise); err != nil {
			t.Fatal(err)
		}
		text := bytes.Repeat([]byte("Lorem ipsum dolor sit amet. "), 40000) // ~1.1 MB, compresses well
		for i, body := range [][]byte{noise, text} {
			data, _ := json.Marshal(map[string]string{"body_html": base64.StdEncoding.EncodeToString(body)})
			r := integration.StoredRecord{IntegrationID: id, Model: "post", ExternalID: fmt.Sprint(i), Hash: fmt.Sprint(len(data)), Data: data, ChangedAt: now}
			if n, err := s.PutRecords(ctx, integration.WriteScope{}, []integration.StoredRecord{r}); err != nil || n.Written != 1 {
				t.Fatalf("big record %d: %d %v", i, n, err)
			}
			got, err := s.GetRecord(ctx, id, "post", fmt.Sprint(i))
			if err != nil || !bytes.Equal(got.Data, data) {
				t.Fatalf("big record %d came back different (%d bytes, want %d): %v", i, len(got.Data), len(data), err)
			}
		}
		page, _, err := s.ListRecords(ctx, integration.RecordQuery{IntegrationID: id, Model: "post", Limit: 10})
		if err != nil || len(page) != 2 || len(page[0].Data) < 900<<10 {
			t.Fatalf("big records listed: %d %v", len(page), err)
		}
	})

	testRecordPagesEndWhereTheCallerSays(t, newStore, now)
	testSiteFeed(t, newStore, now)

	t.Run("events newest first, filtered", func(t *testing.T) {
		s, id := newStore(t), uniq("int")
		var evs []integration.SyncEvent
		for i := range 30 {
			status := "ok"
			if i%3 == 0 {
				status = "error"
			}
			evs = append(evs, integration.SyncEvent{ID: fmt.Sprintf("01E%023d", i), IntegrationID: id, RunID: "r", Type: "page", Status: status,
				Message: fmt.Sprint(i), At: now.Add(time.Duration(i) * time.Second), Details: map[string]any{"n": float64(i)}})
		}
		if err := s.AddEvents(ctx, evs); err != nil {
			t.Fatal(err)
		}
		var got []string
		cursor := ""
		for pages := 0; ; pages++ {
			page, next, err := s.ListEvents(ctx, integration.EventQuery{IntegrationID: id, Status: "error", Limit: 4, Cursor: cursor})
			if err != nil || pages > 5 {
				t.Fatalf("events: %v", err)
			}
			for _, e := range page {
				got = append(got, e.Message)
			}
			if next == "" {
				break
			}
			cursor = next
		}
		if fmt.Sprint(got) != "[27 24 21 18 15 12 9 6 3 0]" {
			t.Fatalf("error events newest first: %v", got)
		}
		page, _, err := s.ListEvents(ctx, integration.EventQuery{IntegrationID: id, Limit: 1})
		if err != nil || len(page) != 1 || page[0].Message != "29" || page[0].Details["n"] != float64(29) || !page[0].At.Equal(now.Add(29*time.Second)) {
			t.Fatalf("newest: %+v %v", page, err)
		}
		if page, _, _ := s.ListEvents(ctx, integration.EventQuery{IntegrationID: id, Type: "other", Limit: 5}); len(page) != 0 {
			t.Fatalf("type filter: %v", page)
		}
	})

	testDeleteRemovesEverything(t, newStore, now)

	t.Run("pushes of one local id are numbered in order, concurrently", func(t *testing.T) {
		s, id := newStore(t), uniq("int")
		var wg sync.WaitGroup
		ids := make([]string, 12)
		for i := range ids {
			ids[i] = integration.NewID()
			wg.Add(1)
			go func() {
				defer wg.Done()
				p := &integration.Push{ID: ids[i], AccountID: "acct", IntegrationID: id, Model: "post", LocalID: "local-1",
					Data: []byte(fmt.Sprintf(`{"title":"v%d"}`, i)), Status: integration.PushQueued, CreatedAt: now, UpdatedAt: now}
				if err := s.CreatePush(ctx, p); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		seen := map[string]bool{}
		for seq := int64(1); seq <= 12; seq++ {
			p, err := s.PushBySeq(ctx, id, "post", "local-1", seq)
			if err != nil {
				t.Fatalf("seq %d: %v", seq, err)
			}
			if p.Seq != seq || seen[p.ID] || p.Status != integration.PushQueued || p.LocalID != "local-1" || !p.CreatedAt.Equal(now) {
				t.Fatalf("seq %d: %+v", seq, p)
			}
			seen[p.ID] = true
		}
		_, err := s.PushBySeq(ctx, id, "post", "local-1", 13)
		wantCode(t, err, integration.ENOTFOUND)
		other := &integration.Push{ID: integration.NewID(), IntegrationID: id, Model: "post", LocalID: "local-2", Status: integration.PushQueued, CreatedAt: now, UpdatedAt: now}
		if err := s.CreatePush(ctx, other); err != nil || other.Seq != 1 {
			t.Fatalf("another local id starts at 1: %d %v", other.Seq, err)
		}
		if n, err := s.PendingPushes(ctx, id); err != nil || n != 13 {
			t.Fatalf("pending: %d %v", n, err)
		}
		p, _ := s.GetPush(ctx, id, ids[0])
		p.Status, p.ExternalID, p.Error, p.UpdatedAt = integration.PushDone, "42", "", now.Add(time.Second)
		if err := s.UpdatePush(ctx, p); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetPush(ctx, id, ids[0])
		if err != nil || got.Status != integration.PushDone || got.ExternalID != "42" || !got.UpdatedAt.Equal(now.Add(time.Second)) || !bytes.Contains(got.Data, []byte(`"title"`)) {
			t.Fatalf("updated push: %+v %v", got, err)
		}
		if n, _ := s.PendingPushes(ctx, id); n != 12 {
			t.Fatalf("pending after one done: %d", n)
		}
		if ps, err := s.ListPushes(ctx, id, integration.PushDone); err != nil || len(ps) != 1 || ps[0].ID != ids[0] {
			t.Fatalf("done pushes: %v %v", ps, err)
		}
		if ps, err := s.ListPushes(ctx, id, integration.PushQueued, integration.PushFailed); err != nil || len(ps) != 12 {
			t.Fatalf("queued or failed pushes: %d %v", len(ps), err)
		}
		_, err = s.GetPush(ctx, id, "01NOSUCHPUSH")
		wantCode(t, err, integration.ENOTFOUND)
	})

	t.Run("a mapping is leased to one owner at a time", func(t *testing.T) {
		s, id := newStore(t), uniq("int")
		if err := s.CreatePush(ctx, &integration.Push{ID: integration.NewID(), IntegrationID: id, Model: "post", LocalID: "l", Status: integration.PushQueued, CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
		m, ok, err := s.LeaseMapping(ctx, id, "post", "l", "a", time.Now().Add(time.Minute))
		if err != nil || !ok || m.NextSeq != 1 || m.AppliedSeq != 0 || m.ExternalID != "" {
			t.Fatalf("first lease: %+v %v %v", m, ok, err)
		}
		if _, ok, err := s.LeaseMapping(ctx, id, "post", "l", "b", time.Now().Add(time.Minute)); err != nil || ok {
			t.Fatalf("second owner got the lease: %v %v", ok, err)
		}
		m.ExternalID, m.AppliedSeq, m.RemoteModified, m.ImageURL, m.ImageID = "99", 1, now, "https://cdn.example.com/a.png", "7"
		if err := s.SaveMapping(ctx, m, "a"); err != nil {
			t.Fatal(err)
		}
		wantCode(t, s.SaveMapping(ctx, m, "b"), integration.EPRECONDITIONFAILED)
		if err := s.ReleaseMapping(ctx, id, "post", "l", "a"); err != nil {
			t.Fatal(err)
		}
		m, ok, err = s.LeaseMapping(ctx, id, "post", "l", "b", time.Now().Add(-time.Second)) // already expired
		if err != nil || !ok || m.ExternalID != "99" || m.AppliedSeq != 1 || !m.RemoteModified.Equal(now) || m.NextSeq != 1 ||
			m.ImageURL != "https://cdn.example.com/a.png" || m.ImageID != "7" {
			t.Fatalf("after release: %+v %v %v", m, ok, err)
		}
		if _, ok, err := s.LeaseMapping(ctx, id, "post", "l", "c", time.Now().Add(time.Minute)); err != nil || !ok {
			t.Fatalf("over an expired lease: %v %v", ok, err)
		}
		if m, ok, err := s.LeaseMapping(ctx, id, "page", "new", "a", time.Now().Add(time.Minute)); err != nil || !ok || m.NextSeq != 0 {
			t.Fatalf("a mapping without pushes: %+v %v %v", m, ok, err)
		}
	})

	testSyncWrites(t, newStore, now)
	testLocalIDs(t, newStore, now)
	testRuns(t, newStore, now)
	testPushConflicts(t, newStore, now)
	testHealth(t, newStore, now)
	testHealthCountedOnce(t, newStore, now)
	testSeenIndex(t, newStore, now)
	testEventsByType(t, newStore, now)
	testPurge(t, newStore, now)
	testRetention(t, newStore, now)
	testSkippedModels(t, newStore, now)
}
