package embedded

import (
	"context"
	"crypto/rand"
	"path/filepath"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/integration"
	"github.com/oklog/ulid/v2"
	bolt "go.etcd.io/bbolt"
)

// idAt is a run id of time t: run ids sort by time.
func idAt(t time.Time) string { return ulid.MustNew(ulid.Timestamp(t), rand.Reader).String() }

// TestAStartSweepsRunsPastTheirRetention: runs finished more than
// RunRetention before a new run starts go, with their jobs' bookkeeping;
// younger ones stay, so an integration's runs stay bounded.
func TestAStartSweepsRunsPastTheirRetention(t *testing.T) {
	s := openTestStore(t, filepath.Join(t.TempDir(), "j.db"))
	ctx := context.Background()
	day := 24 * time.Hour
	now := time.Now().UTC()
	var runs []*integration.Run
	for i, age := range []time.Duration{100 * day, 98 * day, 95 * day, 80 * day} {
		started := now.Add(-age)
		r := &integration.Run{ID: idAt(started), AccountID: "a", IntegrationID: "i1", Direction: integration.DirectionFromExternal,
			Models: []string{"post"}, Status: integration.RunRunning, JobsTotal: 1, ListedAt: started, StartedAt: started}
		if _, ok, err := s.StartRun(ctx, r, time.Hour); err != nil || !ok {
			t.Fatalf("run %d: %v %v", i, ok, err)
		}
		if _, _, err := s.CompleteJob(ctx, "i1", r.ID, "plan", integration.JobResult{Seen: map[string][]string{"post": {"1"}}}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.FinishRun(ctx, "i1", r.ID, integration.RunCompleted, "", started.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		runs = append(runs, r)
	}
	// None had expired when the next started. Three have now: this start
	// removes two (at most two a start).
	fresh := &integration.Run{ID: idAt(now), AccountID: "a", IntegrationID: "i1", Direction: integration.DirectionFromExternal,
		Models: []string{"post"}, Status: integration.RunRunning, JobsTotal: 1, ListedAt: now, StartedAt: now}
	if _, ok, err := s.StartRun(ctx, fresh, time.Hour); err != nil || !ok {
		t.Fatalf("start: %v %v", ok, err)
	}
	kept := func(r *integration.Run) bool {
		_, err := s.GetRun(ctx, "i1", r.ID)
		return err == nil
	}
	if kept(runs[0]) || kept(runs[1]) || !kept(runs[2]) || !kept(runs[3]) || !kept(fresh) {
		t.Fatalf("kept: %v %v %v %v, fresh %v; want the two oldest gone", kept(runs[0]), kept(runs[1]), kept(runs[2]), kept(runs[3]), kept(fresh))
	}
	if seen, _ := s.SeenIDs(ctx, "i1", runs[0].ID, "post"); len(seen) != 0 {
		t.Fatalf("the swept run's job bookkeeping is left: %v", seen)
	}
	// The next start takes the third, 95 days old; the 80-day one stays.
	_, _ = s.FinishRun(ctx, "i1", fresh.ID, integration.RunCompleted, "", now)
	next := &integration.Run{ID: idAt(now.Add(time.Second)), AccountID: "a", IntegrationID: "i1", Direction: integration.DirectionFromExternal,
		Models: []string{"post"}, Status: integration.RunRunning, JobsTotal: 1, ListedAt: now, StartedAt: now.Add(time.Second)}
	if _, ok, err := s.StartRun(ctx, next, time.Hour); err != nil || !ok {
		t.Fatalf("start: %v %v", ok, err)
	}
	if kept(runs[2]) || !kept(runs[3]) {
		t.Fatalf("kept: 95 days %v, 80 days %v", kept(runs[2]), kept(runs[3]))
	}
	n := 0
	_ = s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketJobs).ForEach(func(k, _ []byte) error { n++; return nil })
	})
	if n != 1 {
		t.Fatalf("%d job markers left, want the one of the run kept", n)
	}
}

// TestAddingEventsSweepsExpiredOnes: each event added removes up to two
// past the retention, oldest first.
func TestAddingEventsSweepsExpiredOnes(t *testing.T) {
	s := openTestStore(t, filepath.Join(t.TempDir(), "j.db"))
	ctx := context.Background()
	now := time.Now().UTC()
	old := now.Add(-EventRetention - time.Hour)
	// Five events from before the retention, stored as an older release did.
	if err := s.db.Update(func(tx *bolt.Tx) error {
		for i := range 5 {
			at := old.Add(time.Duration(i) * time.Minute)
			if err := putJSON(tx, bucketEvents, key("i1", idAt(at)), integration.SyncEvent{ID: idAt(at), IntegrationID: "i1", At: at}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	count := func() int {
		n := 0
		_ = s.db.View(func(tx *bolt.Tx) error {
			return tx.Bucket(bucketEvents).ForEach(func(k, _ []byte) error { n++; return nil })
		})
		return n
	}
	for i, want := range []int{4, 3, 3} {
		if err := s.AddEvents(ctx, []integration.SyncEvent{{ID: idAt(now.Add(time.Duration(i) * time.Second)), IntegrationID: "i1", Type: "page", Status: "ok", At: now}}); err != nil {
			t.Fatal(err)
		}
		if n := count(); n != want {
			t.Fatalf("after %d added: %d events kept, want %d", i+1, n, want)
		}
	}
}
