package conformance

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/integration"
)

// testSkippedModels covers SkipModel: each model once, sorted, however
// often and concurrently it is added; kept through the run's jobs and its
// finish; read by GetRun, LatestRun and ListRuns.
func testSkippedModels(t *testing.T, newStore func(t *testing.T) integration.SyncStore, now time.Time) {
	ctx := context.Background()
	t.Run("skipped models are kept on the run, once each", func(t *testing.T) {
		s, id := newStore(t), uniq("int")
		run := newRun(id, now)
		if _, _, err := s.StartRun(ctx, run, time.Hour); err != nil {
			t.Fatal(err)
		}
		if got, err := s.GetRun(ctx, id, run.ID); err != nil || len(got.Skipped) != 0 {
			t.Fatalf("a new run: %v %v", got.Skipped, err)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		added := map[string]int{}
		for i := 0; i < 9; i++ {
			wg.Add(1)
			go func(model string) {
				defer wg.Done()
				ok, err := s.SkipModel(ctx, id, run.ID, model)
				if err != nil {
					t.Error(err)
				}
				if ok {
					mu.Lock()
					added[model]++
					mu.Unlock()
				}
			}([]string{"tag", "category", "page"}[i%3])
		}
		wg.Wait()
		if fmt.Sprint(added) != "map[category:1 page:1 tag:1]" {
			t.Fatalf("calls that said they added each model: %v, want one each", added)
		}
		if _, err := s.AddJobs(ctx, id, run.ID, "plan", []string{"a"}, map[string]int64{"post": 3}); err != nil {
			t.Fatal(err)
		}
		after, _, err := s.CompleteJob(ctx, id, run.ID, "plan", integration.JobResult{})
		if err != nil || fmt.Sprint(after.Skipped) != "[category page tag]" {
			t.Fatalf("the run CompleteJob returns: %v %v", after.Skipped, err)
		}
		if _, err := s.FinishRun(ctx, id, run.ID, integration.RunCompleted, "", now); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetRun(ctx, id, run.ID)
		if err != nil || fmt.Sprint(got.Skipped) != "[category page tag]" {
			t.Fatalf("get: %v %v", got.Skipped, err)
		}
		latest, err := s.LatestRun(ctx, id)
		if err != nil || fmt.Sprint(latest.Skipped) != "[category page tag]" {
			t.Fatalf("latest: %v %v", latest.Skipped, err)
		}
		runs, _, err := s.ListRuns(ctx, id, 10, "")
		if err != nil || len(runs) != 1 || fmt.Sprint(runs[0].Skipped) != "[category page tag]" {
			t.Fatalf("list: %v", err)
		}
		_, err = s.SkipModel(ctx, id, "01NOSUCHRUN", "tag")
		wantCode(t, err, integration.ENOTFOUND)
	})
}
