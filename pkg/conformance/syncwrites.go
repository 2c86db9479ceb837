package conformance

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/integration"
)

// modified is a platform modification time, with a fraction of a second
// so that an order kept as text would show.
var modified = time.Date(2026, 3, 4, 5, 6, 7, 500_000_000, time.UTC)

func rec(integrationID, model, id, hash string, changed, mod time.Time, deleted bool) integration.StoredRecord {
	data := []byte(fmt.Sprintf(`{"external_id":%q,"hash":%q,"deleted":%v}`, id, hash, deleted))
	return integration.StoredRecord{IntegrationID: integrationID, Model: model, ExternalID: id, Hash: hash, Data: data,
		Deleted: deleted, ChangedAt: changed, ModifiedAt: mod}
}

func put(t *testing.T, s integration.SyncStore, scope integration.WriteScope, recs ...integration.StoredRecord) integration.PutResult {
	t.Helper()
	res, err := s.PutRecords(context.Background(), scope, recs)
	if err != nil {
		t.Fatalf("put %d records (%+v): %v", len(recs), scope, err)
	}
	return res
}

func wantWritten(t *testing.T, got integration.PutResult, written, stale int) {
	t.Helper()
	if got.Written != written || got.Stale != stale {
		t.Fatalf("put result %+v, want written %d, stale %d", got, written, stale)
	}
}

func wantStopped(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, integration.ErrRunStopped) {
		t.Fatalf("error %v, want ErrRunStopped", err)
	}
}

func count(t *testing.T, s integration.SyncStore, integrationID, model string) int64 {
	t.Helper()
	n, err := s.CountRecords(context.Background(), integrationID, model)
	if err != nil {
		t.Fatalf("count %s: %v", model, err)
	}
	return n
}

func wantCount(t *testing.T, s integration.SyncStore, integrationID, model string, want int64) {
	t.Helper()
	if n := count(t, s, integrationID, model); n != want {
		t.Fatalf("count of %s = %d, want %d", model, n, want)
	}
}

// allChanges pages through the whole outbox, limit at a time.
func allChanges(t *testing.T, s integration.SyncStore, integrationID string, limit int) []integration.RecordChange {
	t.Helper()
	var out []integration.RecordChange
	cursor := ""
	for pages := 0; ; pages++ {
		page, next, err := s.ListChanges(context.Background(), integrationID, limit, cursor)
		if err != nil {
			t.Fatalf("list changes: %v", err)
		}
		if len(page) > limit || pages > 1000 {
			t.Fatalf("page %d of changes: %d entries, limit %d", pages, len(page), limit)
		}
		out = append(out, page...)
		if next == "" {
			return out
		}
		cursor = next
	}
}

// changeList writes changes as "model/id:type", in the order given.
func changeList(cs []integration.RecordChange) string {
	var b strings.Builder
	for i, c := range cs {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s/%s:%s", c.Model, c.ExternalID, c.Type)
	}
	return b.String()
}

func startRun(t *testing.T, s integration.SyncStore, integrationID string, at time.Time) *integration.Run {
	t.Helper()
	run := newRun(integrationID, at)
	got, started, err := s.StartRun(context.Background(), run, time.Hour)
	if err != nil || !started || got.ID != run.ID {
		t.Fatalf("start run: started=%v %v", started, err)
	}
	return run
}

// testSyncWrites covers the write rules: ordering by platform time, the
// outbox, counts kept per job, stopped runs, finish claims, page reads,
// the retry set and large records.
func testSyncWrites(t *testing.T, newStore func(t *testing.T) integration.SyncStore, now time.Time) {
	ctx := context.Background()

	t.Run("a write never replaces a record the platform modified later", func(t *testing.T) {
		s, id := newStore(t), uniq("int")
		put(t, s, integration.WriteScope{}, rec(id, "post", "1", "v1", now, modified, false))
		// Half a second older: stale, counted, nothing written.
		res := put(t, s, integration.WriteScope{}, rec(id, "post", "1", "v2", now.Add(time.Millisecond), modified.Add(-500*time.Millisecond), false))
		wantWritten(t, res, 0, 1)
		got, err := s.GetRecord(ctx, id, "post", "1")
		if err != nil || got.Hash != "v1" || !got.ChangedAt.Equal(now) || !got.ModifiedAt.Equal(modified) {
			t.Fatalf("after a stale write: %+v %v", got, err)
		}
		// The same modification time is written: same-second edits land.
		res = put(t, s, integration.WriteScope{}, rec(id, "post", "1", "v3", now.Add(2*time.Millisecond), modified, false))
		wantWritten(t, res, 1, 0)
		// Newer is written; in a batch with a stale record, only it is.
		res = put(t, s, integration.WriteScope{},
			rec(id, "post", "1", "v4", now.Add(3*time.Millisecond), modified.Add(time.Second), false),
			rec(id, "post", "1", "v5", now.Add(4*time.Millisecond), modified.Add(-time.Hour), false),
			rec(id, "post", "2", "v1", now.Add(5*time.Millisecond), modified, false))
		wantWritten(t, res, 2, 1)
		got, err = s.GetRecord(ctx, id, "post", "1")
		if err != nil || got.Hash != "v4" || !got.ModifiedAt.Equal(modified.Add(time.Second)) || !bytes.Contains(got.Data, []byte(`"v4"`)) {
			t.Fatalf("after a newer write: %+v %v", got, err)
		}
		// No modification time is older than any.
		res = put(t, s, integration.WriteScope{}, rec(id, "post", "1", "v6", now.Add(6*time.Millisecond), time.Time{}, false))
		wantWritten(t, res, 0, 1)
		// Unchanged is neither written nor stale.
		res = put(t, s, integration.WriteScope{}, rec(id, "post", "1", "v4", now.Add(7*time.Millisecond), modified.Add(time.Second), false))
		wantWritten(t, res, 0, 0)
		// Records without modification times are written in turn.
		put(t, s, integration.WriteScope{}, rec(id, "page", "1", "v1", now, time.Time{}, false))
		wantWritten(t, put(t, s, integration.WriteScope{}, rec(id, "page", "1", "v2", now.Add(time.Millisecond), time.Time{}, false)), 1, 0)
		if got := changeList(allChanges(t, s, id, 100)); got != "page/1:created page/1:updated post/1:created post/1:updated post/1:updated post/2:created" {
			t.Fatalf("changes: %s", got)
		}
	})

	t.Run("a record's changed_at never goes back", func(t *testing.T) {
		s, id := newStore(t), uniq("int")
		put(t, s, integration.WriteScope{}, rec(id, "post", "1", "v1", now.Add(10*time.Millisecond), modified, false))
		// Two reads of the same second: the one stamped (read) earlier and
		// stored later is stale.
		wantWritten(t, put(t, s, integration.WriteScope{}, rec(id, "post", "1", "v0", now.Add(5*time.Millisecond), modified, false)), 0, 1)
		// A newer version stamped before the stored one (a slow writer) is
		// written just after the stored stamp.
		wantWritten(t, put(t, s, integration.WriteScope{}, rec(id, "post", "1", "v2", now.Add(5*time.Millisecond), modified.Add(time.Second), false)), 1, 0)
		got, err := s.GetRecord(ctx, id, "post", "1")
		if err != nil || got.Hash != "v2" || !got.ChangedAt.After(now.Add(10*time.Millisecond)) || got.ChangedAt.After(now.Add(11*time.Millisecond)) {
			t.Fatalf("after a slow newer write: %+v %v", got, err)
		}
		cs := allChanges(t, s, id, 100)
		if changeList(cs) != "post/1:created post/1:updated" || !cs[1].ChangedAt.Equal(got.ChangedAt) {
			t.Fatalf("changes: %s %+v", changeList(cs), cs)
		}
	})

	t.Run("the outbox holds one change per write", func(t *testing.T) {
		s, id := newStore(t), uniq("int")
		at := func(i int) time.Time { return now.Add(time.Duration(i) * time.Millisecond) }
		steps := []struct {
			r       integration.StoredRecord
			written int
		}{
			{rec(id, "post", "a", "v1", at(1), modified, false), 1},                    // created
			{rec(id, "post", "a", "v1", at(2), modified, false), 0},                    // unchanged: nothing
			{rec(id, "post", "a", "v2", at(3), modified.Add(time.Second), false), 1},   // updated
			{rec(id, "post", "a", "v3", at(4), modified, false), 0},                    // stale: nothing
			{rec(id, "post", "a", "v4", at(5), modified.Add(time.Second), true), 1},    // deleted
			{rec(id, "post", "a", "v5", at(6), modified.Add(time.Second), true), 1},    // still deleted, changed: updated
			{rec(id, "post", "a", "v6", at(7), modified.Add(2*time.Second), false), 1}, // back: updated
			{rec(id, "post", "b", "v1", at(8), modified, true), 1},                     // first seen deleted: created
			{rec(id, "page", "a", "v1", at(9), modified, false), 1},                    // created
		}
		for i, st := range steps {
			res := put(t, s, integration.WriteScope{}, st.r)
			if res.Written != st.written {
				t.Fatalf("step %d (%s %s): written %d, want %d", i, st.r.ExternalID, st.r.Hash, res.Written, st.written)
			}
		}
		// Another integration's changes are its own.
		put(t, s, integration.WriteScope{}, rec(uniq("int"), "post", "a", "v1", at(1), modified, false))
		got := allChanges(t, s, id, 100)
		want := "page/a:created post/a:created post/a:updated post/a:deleted post/a:updated post/a:updated post/b:created"
		if changeList(got) != want {
			t.Fatalf("changes:\n got %s\nwant %s", changeList(got), want)
		}
		wantAt := []time.Time{at(9), at(1), at(3), at(5), at(6), at(7), at(8)}
		for i, c := range got {
			if c.IntegrationID != id || !c.ChangedAt.Equal(wantAt[i]) {
				t.Fatalf("change %d: %+v, want changed at %v", i, c, wantAt[i])
			}
		}
		// Pages of 3 with a cursor give the same, once each.
		if paged := allChanges(t, s, id, 3); changeList(paged) != want {
			t.Fatalf("paged changes:\n got %s\nwant %s", changeList(paged), want)
		}
		page, next, err := s.ListChanges(ctx, id, 2, "")
		if err != nil || len(page) != 2 || next == "" {
			t.Fatalf("first page of 2: %d %q %v", len(page), next, err)
		}
		if cs, _, err := s.ListChanges(ctx, uniq("none"), 10, ""); err != nil || len(cs) != 0 {
			t.Fatalf("no changes: %v %v", cs, err)
		}
		for _, bad := range []string{"!!", base64.RawURLEncoding.EncodeToString([]byte("not a cursor"))} {
			_, _, err := s.ListChanges(ctx, id, 10, bad)
			wantCode(t, err, integration.EINVALID)
		}
	})

	t.Run("a job's count changes apply once, when it completes", func(t *testing.T) {
		s, id := newStore(t), uniq("int")
		run := startRun(t, s, id, now)
		job := integration.WriteScope{RunID: run.ID, JobID: "post/2"}
		batch := []integration.StoredRecord{
			rec(id, "post", "0", "v1", now, modified, false),
			rec(id, "post", "1", "v1", now, modified, false),
			rec(id, "post", "2", "v1", now, modified, false),
			rec(id, "post", "9", "v1", now, modified, true), // first seen deleted: not counted
		}
		wantWritten(t, put(t, s, job, batch...), 4, 0)
		wantCount(t, s, id, "post", 0)
		// A redelivered job writes nothing and changes no count.
		wantWritten(t, put(t, s, job, batch...), 0, 0)
		complete := func(jobID string) bool {
			t.Helper()
			_, first, err := s.CompleteJob(ctx, id, run.ID, jobID, integration.JobResult{Progress: integration.Progress{PagesDone: 1}})
			if err != nil {
				t.Fatalf("complete %s: %v", jobID, err)
			}
			return first
		}
		if !complete("post/2") {
			t.Fatal("first completion not first")
		}
		wantCount(t, s, id, "post", 3)
		if complete("post/2") {
			t.Fatal("second completion counted")
		}
		wantCount(t, s, id, "post", 3)

		// live → deleted: -1 each; absent → live: +1.
		job = integration.WriteScope{RunID: run.ID, JobID: "post/3"}
		put(t, s, job,
			rec(id, "post", "0", "v2", now.Add(time.Millisecond), modified, true),
			rec(id, "post", "1", "v2", now.Add(time.Millisecond), modified, true),
			rec(id, "post", "3", "v1", now.Add(time.Millisecond), modified, false),
			rec(id, "page", "1", "v1", now.Add(time.Millisecond), modified, false))
		wantCount(t, s, id, "post", 3)
		complete("post/3")
		wantCount(t, s, id, "post", 2)
		wantCount(t, s, id, "page", 1)

		// deleted → live: +1; deleted → deleted, changed: 0; live → live: 0.
		job = integration.WriteScope{RunID: run.ID, JobID: "post/4"}
		put(t, s, job,
			rec(id, "post", "0", "v3", now.Add(2*time.Millisecond), modified, false),
			rec(id, "post", "1", "v3", now.Add(2*time.Millisecond), modified, true),
			rec(id, "post", "2", "v3", now.Add(2*time.Millisecond), modified, false),
			rec(id, "post", "9", "v2", now.Add(2*time.Millisecond), modified, true))
		complete("post/4")
		wantCount(t, s, id, "post", 3)

		// A job that never completes changes no count.
		put(t, s, integration.WriteScope{RunID: run.ID, JobID: "post/5"}, rec(id, "post", "5", "v1", now, modified, false))
		wantCount(t, s, id, "post", 3)

		// Without a job, counts change with the write.
		put(t, s, integration.WriteScope{RunID: run.ID}, rec(id, "post", "6", "v1", now.Add(3*time.Millisecond), modified, false))
		wantCount(t, s, id, "post", 4)
		put(t, s, integration.WriteScope{}, rec(id, "post", "6", "v2", now.Add(4*time.Millisecond), modified, true))
		wantCount(t, s, id, "post", 3)
		put(t, s, integration.WriteScope{}, rec(id, "post", "6", "v3", now.Add(5*time.Millisecond), modified, false))
		wantCount(t, s, id, "post", 4)
		// Stale and unchanged writes change no count.
		put(t, s, integration.WriteScope{}, rec(id, "post", "6", "v4", now.Add(6*time.Millisecond), modified.Add(-time.Second), true),
			rec(id, "post", "2", "v3", now.Add(6*time.Millisecond), modified, false))
		wantCount(t, s, id, "post", 4)
		wantCount(t, s, id, "comment", 0)
		if n := count(t, s, uniq("none"), "post"); n != 0 {
			t.Fatalf("an unknown integration counts %d", n)
		}
	})

	t.Run("a job's writes after it completed count at once", func(t *testing.T) {
		// A job whose message comes back after it completed (a later step
		// failed) runs again; what it writes then no completion applies.
		s, id := newStore(t), uniq("int")
		run := startRun(t, s, id, now)
		job := integration.WriteScope{RunID: run.ID, JobID: "page/2"}
		put(t, s, job, rec(id, "page", "1", "v1", now, modified, false))
		if _, first, err := s.CompleteJob(ctx, id, run.ID, "page/2", integration.JobResult{}); err != nil || !first {
			t.Fatalf("complete: %v %v", first, err)
		}
		wantCount(t, s, id, "page", 1)
		wantWritten(t, put(t, s, job, rec(id, "page", "2", "v1", now.Add(time.Millisecond), modified, false)), 1, 0)
		wantCount(t, s, id, "page", 2)
		if _, first, err := s.CompleteJob(ctx, id, run.ID, "page/2", integration.JobResult{}); err != nil || first {
			t.Fatalf("completed again: %v %v", first, err)
		}
		wantCount(t, s, id, "page", 2)
		put(t, s, job, rec(id, "page", "1", "v2", now.Add(2*time.Millisecond), modified, true))
		wantCount(t, s, id, "page", 1)
	})

	t.Run("a stopped run writes nothing", func(t *testing.T) {
		s, id := newStore(t), uniq("int")
		run := startRun(t, s, id, now)
		put(t, s, integration.WriteScope{RunID: run.ID, JobID: "plan"}, rec(id, "post", "1", "v1", now, modified, false))
		if ok, err := s.FinishRun(ctx, id, run.ID, integration.RunCompleted, "", now); err != nil || !ok {
			t.Fatalf("finish: %v %v", ok, err)
		}
		before := changeList(allChanges(t, s, id, 100))
		for _, scope := range []integration.WriteScope{{RunID: run.ID}, {RunID: run.ID, JobID: "post/2"}, {RunID: "01NOSUCHRUN"}} {
			_, err := s.PutRecords(ctx, scope, []integration.StoredRecord{
				rec(id, "post", "1", "v2", now.Add(time.Millisecond), modified.Add(time.Second), false),
				rec(id, "post", "2", "v1", now.Add(time.Millisecond), modified, false)})
			wantStopped(t, err)
		}
		got, err := s.GetRecord(ctx, id, "post", "1")
		if err != nil || got.Hash != "v1" {
			t.Fatalf("a refused write changed the record: %+v %v", got, err)
		}
		_, err = s.GetRecord(ctx, id, "post", "2")
		wantCode(t, err, integration.ENOTFOUND)
		if after := changeList(allChanges(t, s, id, 100)); after != before {
			t.Fatalf("a refused write left changes: %s, was %s", after, before)
		}
		// The plan job never completed: its run's finish counted its write.
		wantCount(t, s, id, "post", 1)
		// A write of no run is still taken.
		wantWritten(t, put(t, s, integration.WriteScope{}, rec(id, "post", "2", "v1", now, modified, false)), 1, 0)
	})

	t.Run("purged sync data refuses every write", func(t *testing.T) {
		s, id := newStore(t), uniq("int")
		run := startRun(t, s, id, now)
		put(t, s, integration.WriteScope{RunID: run.ID, JobID: "plan"}, rec(id, "post", "1", "v1", now, modified, false))
		put(t, s, integration.WriteScope{}, rec(id, "post", "2", "v1", now, modified, false))
		if err := s.AddRetries(ctx, id, "post", map[string]string{"3": "too large"}); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteSyncData(ctx, id); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteSyncData(ctx, id); err != nil {
			t.Fatalf("deleting again: %v", err)
		}
		if r, err := s.GetRun(ctx, id, run.ID); err == nil && r.Active() {
			t.Fatalf("the run is still running after its data was deleted: %+v", r)
		}
		for _, scope := range []integration.WriteScope{{}, {RunID: run.ID}, {RunID: run.ID, JobID: "post/2"}} {
			_, err := s.PutRecords(ctx, scope, []integration.StoredRecord{rec(id, "post", "4", "v1", now, modified, false)})
			wantStopped(t, err)
		}
		// Not even for a run started since.
		again := startRun(t, s, id, now)
		_, err := s.PutRecords(ctx, integration.WriteScope{RunID: again.ID}, []integration.StoredRecord{rec(id, "post", "4", "v1", now, modified, false)})
		wantStopped(t, err)
		_, err = s.GetRecord(ctx, id, "post", "4")
		wantCode(t, err, integration.ENOTFOUND)
		if cs := allChanges(t, s, id, 100); len(cs) != 0 {
			t.Fatalf("changes left: %s", changeList(cs))
		}
		wantCount(t, s, id, "post", 0)
		if r, err := s.Retries(ctx, id, "post", 100); err != nil || len(r) != 0 {
			t.Fatalf("retries left: %v %v", r, err)
		}
	})

	t.Run("a stale run taken over is finished and writes nothing more", func(t *testing.T) {
		s, id := newStore(t), uniq("int")
		old := newRun(id, now.Add(-2*time.Hour))
		if _, started, err := s.StartRun(ctx, old, time.Hour); err != nil || !started {
			t.Fatalf("start old: %v %v", started, err)
		}
		put(t, s, integration.WriteScope{RunID: old.ID}, rec(id, "post", "1", "v1", now, modified, false))
		run := newRun(id, now)
		got, started, err := s.StartRun(ctx, run, time.Hour)
		if err != nil || !started || got.ID != run.ID {
			t.Fatalf("take over: %v %v %v", got, started, err)
		}
		was, err := s.GetRun(ctx, id, old.ID)
		if err != nil || was.Status != integration.RunError || was.Error == "" || was.FinishedAt == nil || was.Active() {
			t.Fatalf("the run taken over: %+v %v", was, err)
		}
		_, err = s.PutRecords(ctx, integration.WriteScope{RunID: old.ID, JobID: "post/2"}, []integration.StoredRecord{rec(id, "post", "1", "v2", now.Add(time.Millisecond), modified.Add(time.Second), false)})
		wantStopped(t, err)
		if ok, err := s.FinishRun(ctx, id, old.ID, integration.RunCompleted, "", now); err != nil || ok {
			t.Fatalf("the run taken over finished again: %v %v", ok, err)
		}
		if ok, err := s.ClaimFinish(ctx, id, old.ID, "post/2"); err != nil || ok {
			t.Fatalf("the run taken over was claimed: %v %v", ok, err)
		}
		wantWritten(t, put(t, s, integration.WriteScope{RunID: run.ID}, rec(id, "post", "1", "v2", now.Add(time.Millisecond), modified.Add(time.Second), false)), 1, 0)
		if latest, err := s.LatestRun(ctx, id); err != nil || latest.ID != run.ID || !latest.Active() {
			t.Fatalf("latest: %+v %v", latest, err)
		}
	})

	t.Run("a run that stops counts the writes of its jobs that never completed, once", func(t *testing.T) {
		// A job that failed, was dead-lettered or was stopped under its
		// run never completes: its records are live all the same.
		s, id := newStore(t), uniq("int")
		run := startRun(t, s, id, now)
		complete := func(jobID string) {
			t.Helper()
			got, first, err := s.CompleteJob(ctx, id, run.ID, jobID, integration.JobResult{Progress: integration.Progress{PagesDone: 1}})
			if err != nil || !first || got == nil || got.ID != run.ID {
				t.Fatalf("complete %s: %+v %v %v", jobID, got, first, err)
			}
		}
		put(t, s, integration.WriteScope{RunID: run.ID, JobID: "post/2"}, rec(id, "post", "a", "v1", now, modified, false))
		complete("post/2")
		wantCount(t, s, id, "post", 1)
		failing := integration.WriteScope{RunID: run.ID, JobID: "post/3"}
		put(t, s, failing,
			rec(id, "post", "1", "v1", now, modified, false),
			rec(id, "post", "2", "v1", now, modified, false),
			rec(id, "post", "3", "v1", now, modified, false),
			rec(id, "post", "9", "v1", now, modified, true)) // first seen deleted: not counted
		put(t, s, failing, rec(id, "page", "1", "v1", now, modified, false))
		wantCount(t, s, id, "post", 1)
		if ok, err := s.FinishRun(ctx, id, run.ID, integration.RunError, "post/3 failed", now); err != nil || !ok {
			t.Fatalf("finish as error: %v %v", ok, err)
		}
		wantCount(t, s, id, "post", 4)
		wantCount(t, s, id, "page", 1)
		// The job's completion, coming after all, counts the job only.
		done, err := s.GetRun(ctx, id, run.ID)
		if err != nil {
			t.Fatal(err)
		}
		complete("post/3")
		if after, err := s.GetRun(ctx, id, run.ID); err != nil || after.JobsDone != done.JobsDone+1 || after.Active() {
			t.Fatalf("the late completion: %+v %v (was %d jobs done)", after, err, done.JobsDone)
		}
		wantCount(t, s, id, "post", 4)
		wantCount(t, s, id, "page", 1)
		// Finishing again applies nothing again.
		for _, st := range []integration.RunStatus{integration.RunError, integration.RunCompleted} {
			if ok, err := s.FinishRun(ctx, id, run.ID, st, "again", now); err != nil || ok {
				t.Fatalf("finished again as %s: %v %v", st, ok, err)
			}
		}
		wantCount(t, s, id, "post", 4)
		wantCount(t, s, id, "page", 1)
		// Nor does a write of the run, which is refused.
		_, err = s.PutRecords(ctx, failing, []integration.StoredRecord{rec(id, "post", "4", "v1", now, modified, false)})
		wantStopped(t, err)
		// A job that never completes at all is counted too: only once.
		next := startRun(t, s, id, now)
		put(t, s, integration.WriteScope{RunID: next.ID, JobID: "plan"}, rec(id, "post", "1", "v2", now.Add(time.Millisecond), modified, true))
		if ok, err := s.FinishRun(ctx, id, next.ID, integration.RunError, "failed", now); err != nil || !ok {
			t.Fatalf("finish the next run: %v %v", ok, err)
		}
		wantCount(t, s, id, "post", 3)
		wantCount(t, s, id, "page", 1)
	})

	t.Run("a stale run taken over counts the writes of its jobs that never completed, once", func(t *testing.T) {
		s, id := newStore(t), uniq("int")
		old := newRun(id, now.Add(-2*time.Hour))
		if _, started, err := s.StartRun(ctx, old, time.Hour); err != nil || !started {
			t.Fatalf("start old: %v %v", started, err)
		}
		stuck := integration.WriteScope{RunID: old.ID, JobID: "post/2"}
		put(t, s, stuck,
			rec(id, "post", "1", "v1", now, modified, false),
			rec(id, "post", "2", "v1", now, modified, false),
			rec(id, "post", "3", "v1", now, modified, false))
		wantCount(t, s, id, "post", 0)
		run := newRun(id, now)
		if got, started, err := s.StartRun(ctx, run, time.Hour); err != nil || !started || got.ID != run.ID {
			t.Fatalf("take over: %v %v %v", got, started, err)
		}
		wantCount(t, s, id, "post", 3)
		// A start retried after it succeeded sweeps nothing again.
		if got, started, err := s.StartRun(ctx, run, time.Hour); err != nil || !started || got.ID != run.ID {
			t.Fatalf("retried start: %v %v %v", got, started, err)
		}
		wantCount(t, s, id, "post", 3)
		if _, _, err := s.CompleteJob(ctx, id, old.ID, "post/2", integration.JobResult{}); err != nil {
			t.Fatalf("late completion: %v", err)
		}
		wantCount(t, s, id, "post", 3)
		if ok, err := s.FinishRun(ctx, id, old.ID, integration.RunError, "", now); err != nil || ok {
			t.Fatalf("the run taken over finished again: %v %v", ok, err)
		}
		wantCount(t, s, id, "post", 3)
		_, err := s.PutRecords(ctx, stuck, []integration.StoredRecord{rec(id, "post", "4", "v1", now, modified, false)})
		wantStopped(t, err)
		// The new run's own finish leaves the old run's deltas alone.
		if ok, err := s.FinishRun(ctx, id, run.ID, integration.RunError, "", now); err != nil || !ok {
			t.Fatalf("finish the new run: %v %v", ok, err)
		}
		wantCount(t, s, id, "post", 3)
	})

	t.Run("a job completing as its run finishes as error is counted once", func(t *testing.T) {
		s := newStore(t)
		for i := range 20 {
			id := uniq("int")
			run := startRun(t, s, id, now)
			job := integration.WriteScope{RunID: run.ID, JobID: "post/2"}
			put(t, s, job,
				rec(id, "post", "1", "v1", now, modified, false),
				rec(id, "post", "2", "v1", now, modified, false),
				rec(id, "post", "3", "v1", now, modified, false))
			var wg sync.WaitGroup
			errs := make(chan error, 2)
			wg.Add(2)
			go func() {
				defer wg.Done()
				if _, _, err := s.CompleteJob(ctx, id, run.ID, "post/2", integration.JobResult{}); err != nil {
					errs <- fmt.Errorf("complete: %w", err)
				}
			}()
			go func() {
				defer wg.Done()
				if _, err := s.FinishRun(ctx, id, run.ID, integration.RunError, "failed", now); err != nil {
					errs <- fmt.Errorf("finish: %w", err)
				}
			}()
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatalf("round %d: %v", i, err)
			}
			if n := count(t, s, id, "post"); n != 3 {
				t.Fatalf("round %d: count %d, want 3", i, n)
			}
			// Neither, repeated, counts them again.
			if _, first, err := s.CompleteJob(ctx, id, run.ID, "post/2", integration.JobResult{}); err != nil || first {
				t.Fatalf("round %d: completed again: %v %v", i, first, err)
			}
			if ok, err := s.FinishRun(ctx, id, run.ID, integration.RunError, "failed", now); err != nil || ok {
				t.Fatalf("round %d: finished again: %v %v", i, ok, err)
			}
			if n := count(t, s, id, "post"); n != 3 {
				t.Fatalf("round %d: count %d after repeats, want 3", i, n)
			}
		}
	})

	t.Run("one job claims a run's finish", func(t *testing.T) {
		s, id := newStore(t), uniq("int")
		run := startRun(t, s, id, now)
		claim := func(job string, want bool) {
			t.Helper()
			if ok, err := s.ClaimFinish(ctx, id, run.ID, job); err != nil || ok != want {
				t.Fatalf("claim by %s: %v %v, want %v", job, ok, err, want)
			}
		}
		claim("post/3", true)
		claim("post/3", true) // its redelivery resumes
		claim("post/2", false)
		claim("plan", false)
		if _, err := s.FinishRun(ctx, id, run.ID, integration.RunCompleted, "", now); err != nil {
			t.Fatal(err)
		}
		claim("post/3", false)
		claim("post/2", false)

		run = startRun(t, s, id, now)
		var wg sync.WaitGroup
		won := make(chan string, 8)
		for j := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				job := fmt.Sprintf("post/%d", j+2)
				ok, err := s.ClaimFinish(ctx, id, run.ID, job)
				if err != nil {
					t.Error(err)
				}
				if ok {
					won <- job
				}
			}()
		}
		wg.Wait()
		close(won)
		var winners []string
		for j := range won {
			winners = append(winners, j)
		}
		if len(winners) != 1 {
			t.Fatalf("%d jobs claimed the finish (%v), want 1", len(winners), winners)
		}
		claim(winners[0], true)
	})

	t.Run("a run's page reads and clocks come from its completed jobs", func(t *testing.T) {
		s, id := newStore(t), uniq("int")
		run := startRun(t, s, id, now)
		if pages, clock, err := s.RunReads(ctx, id, run.ID); err != nil || len(pages) != 0 || len(clock) != 0 {
			t.Fatalf("before any job: %v %v %v", pages, clock, err)
		}
		t1, t2 := modified, modified.Add(time.Minute)
		planReads := []integration.PageRead{
			{Model: "post", Offset: 0, Limit: 10, Count: 10, FirstID: "a", LastID: "j", Total: 25, Seq: 1},
			{Model: "page", Offset: 0, Limit: 10, Count: 0, Total: -1, Seq: 2},
		}
		jobReads := []integration.PageRead{{Model: "post", Offset: 9, Limit: 11, Count: 11, FirstID: "j", LastID: "t", Total: 24, Doubt: true, Seq: 3}}
		// Per model the earliest clock wins, whichever job completed last:
		// the plan (completing last) for post, a window for tag.
		complete := func(job string, res integration.JobResult) {
			t.Helper()
			if _, _, err := s.CompleteJob(ctx, id, run.ID, job, res); err != nil {
				t.Fatal(err)
			}
		}
		complete("post/2", integration.JobResult{Pages: jobReads, Clock: map[string]time.Time{"post": t2, "comment": t2, "tag": t1}})
		complete("post/2", integration.JobResult{Pages: planReads}) // a redelivery adds nothing
		complete("post/3", integration.JobResult{Progress: integration.Progress{PagesDone: 1}})
		complete("plan", integration.JobResult{Pages: planReads, Clock: map[string]time.Time{"post": t1, "page": t1, "tag": t2}})
		// Another run's reads are its own.
		other := newRun(uniq("int"), now)
		if _, _, err := s.StartRun(ctx, other, time.Hour); err != nil {
			t.Fatal(err)
		}
		_, _, _ = s.CompleteJob(ctx, other.IntegrationID, other.ID, "plan", integration.JobResult{Pages: jobReads})

		pages, clock, err := s.RunReads(ctx, id, run.ID)
		if err != nil {
			t.Fatal(err)
		}
		sort.Slice(pages, func(i, j int) bool { return pages[i].Seq < pages[j].Seq })
		want := append(append([]integration.PageRead{}, planReads...), jobReads...)
		if fmt.Sprintf("%+v", pages) != fmt.Sprintf("%+v", want) {
			t.Fatalf("page reads:\n got %+v\nwant %+v", pages, want)
		}
		if len(clock) != 4 || !clock["post"].Equal(t1) || !clock["page"].Equal(t1) || !clock["tag"].Equal(t1) || !clock["comment"].Equal(t2) {
			t.Fatalf("clock: %v, want post, page and tag at %v, comment at %v", clock, t1, t2)
		}
	})

	t.Run("the feed leaves out records changed at or after Before", func(t *testing.T) {
		s, id := newStore(t), uniq("int")
		for i := range 5 {
			put(t, s, integration.WriteScope{}, rec(id, "post", fmt.Sprint(i), "v1", now.Add(time.Duration(i)*time.Millisecond), modified, false))
		}
		list := func(q integration.RecordQuery) []string {
			t.Helper()
			q.IntegrationID, q.Model = id, "post"
			var ids []string
			for pages := 0; ; pages++ {
				page, next, err := s.ListRecords(ctx, q)
				if err != nil || pages > 10 {
					t.Fatalf("list: %v", err)
				}
				for _, r := range page {
					ids = append(ids, r.ExternalID)
				}
				if next == "" {
					return ids
				}
				q.Cursor = next
			}
		}
		if got := fmt.Sprint(list(integration.RecordQuery{Limit: 10, Before: now.Add(3 * time.Millisecond)})); got != "[0 1 2]" {
			t.Fatalf("before the 4th: %s", got)
		}
		if got := fmt.Sprint(list(integration.RecordQuery{Limit: 1, Before: now.Add(3 * time.Millisecond)})); got != "[0 1 2]" {
			t.Fatalf("before the 4th, one a page: %s", got)
		}
		if got := fmt.Sprint(list(integration.RecordQuery{Limit: 10, ChangedAfter: now, Before: now.Add(2*time.Millisecond + time.Microsecond)})); got != "[1 2]" {
			t.Fatalf("between: %s", got)
		}
		if got := fmt.Sprint(list(integration.RecordQuery{Limit: 10, Before: now})); got != "[]" {
			t.Fatalf("before the first: %s", got)
		}
		if got := fmt.Sprint(list(integration.RecordQuery{Limit: 2})); got != "[0 1 2 3 4]" {
			t.Fatalf("without Before: %s", got)
		}
	})

	t.Run("the retry set", func(t *testing.T) {
		s, id := newStore(t), uniq("int")
		if r, err := s.Retries(ctx, id, "post", 100); err != nil || len(r) != 0 {
			t.Fatalf("empty: %v %v", r, err)
		}
		if err := s.AddRetries(ctx, id, "post", map[string]string{"1": "larger than 10 bytes", "2": "unreadable", "3": "x"}); err != nil {
			t.Fatal(err)
		}
		if err := s.AddRetries(ctx, id, "page", map[string]string{"1": "p"}); err != nil {
			t.Fatal(err)
		}
		if err := s.AddRetries(ctx, uniq("int"), "post", map[string]string{"9": "other"}); err != nil {
			t.Fatal(err)
		}
		got, err := s.Retries(ctx, id, "post", 100)
		if err != nil || len(got) != 3 || got["1"] != "larger than 10 bytes" || got["2"] != "unreadable" {
			t.Fatalf("retries: %v %v", got, err)
		}
		if got, err := s.Retries(ctx, id, "post", 2); err != nil || len(got) != 2 {
			t.Fatalf("two of them: %v %v", got, err)
		}
		if err := s.RemoveRetries(ctx, id, "post", []string{"1", "3", "never added"}); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Retries(ctx, id, "post", 100); err != nil || fmt.Sprint(got) != "map[2:unreadable]" {
			t.Fatalf("after removing: %v %v", got, err)
		}
		if got, err := s.Retries(ctx, id, "page", 100); err != nil || fmt.Sprint(got) != "map[1:p]" {
			t.Fatalf("another model's: %v %v", got, err)
		}
	})

	t.Run("a large record rewritten reads back whole", func(t *testing.T) {
		s, id := newStore(t), uniq("int")
		big := func() []byte {
			noise := make([]byte, 825<<10) // ~1.1 MB as base64: incompressible enough to need parts
			if _, err := rand.Read(noise); err != nil {
				t.Fatal(err)
			}
			data, _ := json.Marshal(map[string]string{"body_html": base64.StdEncoding.EncodeToString(noise)})
			return data
		}
		small := []byte(`{"title":"small now"}`)
		check := func(step int, data []byte) {
			t.Helper()
			got, err := s.GetRecord(ctx, id, "post", "1")
			if err != nil || got.Unreadable != "" || !bytes.Equal(got.Data, data) {
				t.Fatalf("step %d: record came back different (%d bytes, want %d): %v", step, len(got.Data), len(data), err)
			}
			page, _, err := s.ListRecords(ctx, integration.RecordQuery{IntegrationID: id, Model: "post", Limit: 10})
			if err != nil || len(page) != 1 || page[0].Unreadable != "" || !bytes.Equal(page[0].Data, data) {
				t.Fatalf("step %d: listed record came back different: %d %v", step, len(page), err)
			}
		}
		for step, data := range [][]byte{big(), big(), small, big()} {
			r := integration.StoredRecord{IntegrationID: id, Model: "post", ExternalID: "1", Hash: fmt.Sprintf("h%d", step), Data: data,
				ChangedAt: now.Add(time.Duration(step) * time.Millisecond), ModifiedAt: modified.Add(time.Duration(step) * time.Second)}
			wantWritten(t, put(t, s, integration.WriteScope{}, r), 1, 0)
			check(step, data)
		}
		wantCount(t, s, id, "post", 1)
		if got := changeList(allChanges(t, s, id, 100)); got != "post/1:created post/1:updated post/1:updated post/1:updated" {
			t.Fatalf("changes: %s", got)
		}
	})
}
