package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"
	"github.com/joinery/joinery/pkg/integration"
)

// onTransact calls f with each TransactWriteItems input before it is
// sent; an error from f fails the call unsent.
func onTransact(f func(ctx context.Context, in *dynamodb.TransactWriteItemsInput) error) func(*middleware.Stack) error {
	return func(st *middleware.Stack) error {
		return st.Initialize.Add(middleware.InitializeMiddlewareFunc("OnTransact",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				if tx, ok := in.Parameters.(*dynamodb.TransactWriteItemsInput); ok {
					if err := f(ctx, tx); err != nil {
						return middleware.InitializeOutput{}, middleware.Metadata{}, err
					}
				}
				return next.HandleInitialize(ctx, in)
			}), middleware.Before)
	}
}

// completes reports whether a transaction is a job's completion; sweeps
// whether it sweeps count deltas.
func completes(in *dynamodb.TransactWriteItemsInput) bool {
	for _, it := range in.TransactItems {
		if it.Put != nil && strings.HasSuffix(strAttr(it.Put.Item, "PK"), "#JOB") {
			return true
		}
	}
	return false
}

func sweeps(in *dynamodb.TransactWriteItemsInput) bool {
	for _, it := range in.TransactItems {
		if it.Delete != nil && strings.HasSuffix(strAttr(it.Delete.Key, "PK"), "#DELTA") {
			return true
		}
	}
	return false
}

// once runs f the first time cond holds.
func once(cond func(*dynamodb.TransactWriteItemsInput) bool, f func(ctx context.Context) error) func(context.Context, *dynamodb.TransactWriteItemsInput) error {
	var done atomic.Bool
	return func(ctx context.Context, in *dynamodb.TransactWriteItemsInput) error {
		if !cond(in) || done.Swap(true) {
			return nil
		}
		return f(ctx)
	}
}

// sweepFixture is a store whose transactions a hook sees, and a store on
// the same table without it, for what happens "meanwhile".
type sweepFixture struct {
	s, other *Store
	id       string
	hook     func(context.Context, *dynamodb.TransactWriteItemsInput) error
}

func newSweepFixture(t *testing.T) *sweepFixture {
	f := &sweepFixture{id: integration.NewID()}
	var s *Store
	var plain *dynamodb.Client
	s, plain = newTable(t, onTransact(func(ctx context.Context, in *dynamodb.TransactWriteItemsInput) error {
		if f.hook == nil {
			return nil
		}
		return f.hook(ctx, in)
	}))
	f.s, f.other = s, New(plain, s.table)
	f.other.Sleep = func(time.Duration) {}
	return f
}

func (f *sweepFixture) start(t *testing.T, started time.Time) *integration.Run {
	t.Helper()
	run := &integration.Run{ID: integration.NewID(), IntegrationID: f.id, Direction: integration.DirectionFromExternal, Models: []string{"post"},
		Status: integration.RunRunning, JobsTotal: 1, ListedAt: started, StartedAt: started}
	if _, ok, err := f.other.StartRun(context.Background(), run, time.Hour); err != nil || !ok {
		t.Fatalf("start run: %v %v", ok, err)
	}
	return run
}

// write has job write n new live posts from first on.
func (f *sweepFixture) write(t *testing.T, runID, jobID string, first, n int) {
	t.Helper()
	var recs []integration.StoredRecord
	for i := first; i < first+n; i++ {
		recs = append(recs, integration.StoredRecord{IntegrationID: f.id, Model: "post", ExternalID: fmt.Sprint(i), Hash: "v1",
			Data: []byte(`{}`), ChangedAt: time.Now()})
	}
	if _, err := f.other.PutRecords(context.Background(), integration.WriteScope{RunID: runID, JobID: jobID}, recs); err != nil {
		t.Fatalf("write: %v", err)
	}
}

func (f *sweepFixture) wantCount(t *testing.T, want int64) {
	t.Helper()
	if n, err := f.other.CountRecords(context.Background(), f.id, "post"); err != nil || n != want {
		t.Fatalf("count %d %v, want %d", n, err, want)
	}
}

// activeItem reads the integration's active-run item (nil: none).
func (f *sweepFixture) activeItem(t *testing.T) map[string]types.AttributeValue {
	t.Helper()
	out, err := f.other.db.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: &f.other.table, Key: activeKey(f.id), ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	return out.Item
}

var errCut = errors.New("cut short")

func TestACompletionAndASweepOfTheSameJobCountItOnce(t *testing.T) {
	ctx := context.Background()

	t.Run("the sweep lands between the completion's read and its write", func(t *testing.T) {
		f := newSweepFixture(t)
		run := f.start(t, time.Now())
		f.write(t, run.ID, "post/2", 0, 3)
		f.hook = once(completes, func(ctx context.Context) error {
			if ok, err := f.other.FinishRun(ctx, f.id, run.ID, integration.RunError, "failed", time.Now()); err != nil || !ok {
				return fmt.Errorf("finish meanwhile: %v %v", ok, err)
			}
			return nil
		})
		if _, first, err := f.s.CompleteJob(ctx, f.id, run.ID, "post/2", integration.JobResult{}); err != nil || !first {
			t.Fatalf("complete: %v %v", first, err)
		}
		f.wantCount(t, 3)
	})

	t.Run("the completion lands between the sweep's read and its write", func(t *testing.T) {
		f := newSweepFixture(t)
		run := f.start(t, time.Now())
		f.write(t, run.ID, "post/2", 0, 3)
		f.hook = once(sweeps, func(ctx context.Context) error {
			if _, first, err := f.other.CompleteJob(ctx, f.id, run.ID, "post/2", integration.JobResult{}); err != nil || !first {
				return fmt.Errorf("complete meanwhile: %v %v", first, err)
			}
			return nil
		})
		if ok, err := f.s.FinishRun(ctx, f.id, run.ID, integration.RunError, "failed", time.Now()); err != nil || !ok {
			t.Fatalf("finish: %v %v", ok, err)
		}
		f.wantCount(t, 3)
	})

	t.Run("a write lands between the completion's read of no deltas and its write", func(t *testing.T) {
		// A copy of the job still writing: its deltas must not be left
		// behind a completion that read none.
		f := newSweepFixture(t)
		run := f.start(t, time.Now())
		f.hook = once(completes, func(context.Context) error {
			f.write(t, run.ID, "post/2", 0, 2)
			return nil
		})
		if _, first, err := f.s.CompleteJob(ctx, f.id, run.ID, "post/2", integration.JobResult{}); err != nil || !first {
			t.Fatalf("complete: %v %v", first, err)
		}
		f.wantCount(t, 2)
		if ok, err := f.s.FinishRun(ctx, f.id, run.ID, integration.RunError, "failed", time.Now()); err != nil || !ok {
			t.Fatalf("finish: %v %v", ok, err)
		}
		f.wantCount(t, 2)
	})
}

func TestASweepCutShortIsFinishedByTheNextCall(t *testing.T) {
	ctx := context.Background()
	failSweep := func(context.Context) error { return errCut }

	t.Run("FinishRun called again", func(t *testing.T) {
		f := newSweepFixture(t)
		run := f.start(t, time.Now())
		f.write(t, run.ID, "post/2", 0, 3)
		f.hook = once(sweeps, failSweep)
		if _, err := f.s.FinishRun(ctx, f.id, run.ID, integration.RunError, "failed", time.Now()); !errors.Is(err, errCut) {
			t.Fatalf("finish cut short: %v", err)
		}
		f.wantCount(t, 0)
		if r, err := f.s.GetRun(ctx, f.id, run.ID); err != nil || r.Active() {
			t.Fatalf("the run: %+v %v", r, err)
		}
		if strAttr(f.activeItem(t), "run_id") != run.ID {
			t.Fatal("the active-run item was freed before the sweep was done")
		}
		if ok, err := f.s.FinishRun(ctx, f.id, run.ID, integration.RunError, "failed", time.Now()); err != nil || ok {
			t.Fatalf("finish again: %v %v", ok, err)
		}
		f.wantCount(t, 3)
		if it := f.activeItem(t); it != nil {
			t.Fatalf("the active-run item is left: %v", it)
		}
	})

	t.Run("the next StartRun", func(t *testing.T) {
		f := newSweepFixture(t)
		run := f.start(t, time.Now())
		f.write(t, run.ID, "post/2", 0, 3)
		f.hook = once(sweeps, failSweep)
		if _, err := f.s.FinishRun(ctx, f.id, run.ID, integration.RunError, "failed", time.Now()); !errors.Is(err, errCut) {
			t.Fatalf("finish cut short: %v", err)
		}
		next := f.start(t, time.Now())
		f.wantCount(t, 3)
		if it := f.activeItem(t); strAttr(it, "run_id") != next.ID || strAttr(it, "took_over") != "" {
			t.Fatalf("the active-run item: %v", it)
		}
	})

	t.Run("a takeover's sweep, by the next StartRun", func(t *testing.T) {
		f := newSweepFixture(t)
		old := f.start(t, time.Now().Add(-2*time.Hour))
		f.write(t, old.ID, "post/2", 0, 3)
		f.hook = once(sweeps, failSweep)
		run := &integration.Run{ID: integration.NewID(), IntegrationID: f.id, Status: integration.RunRunning, StartedAt: time.Now()}
		if got, ok, err := f.s.StartRun(ctx, run, time.Hour); err != nil || !ok || got.ID != run.ID {
			t.Fatalf("take over, the sweep cut short: %v %v %v", got, ok, err)
		}
		f.wantCount(t, 0)
		if it := f.activeItem(t); strAttr(it, "run_id") != run.ID || strAttr(it, "took_over") != old.ID {
			t.Fatalf("the active-run item: %v", it)
		}
		// A start refused because the run is active still sweeps.
		again := &integration.Run{ID: integration.NewID(), IntegrationID: f.id, Status: integration.RunRunning, StartedAt: time.Now()}
		if got, ok, err := f.s.StartRun(ctx, again, time.Hour); err != nil || ok || got.ID != run.ID {
			t.Fatalf("start while active: %v %v %v", got, ok, err)
		}
		f.wantCount(t, 3)
		if it := f.activeItem(t); strAttr(it, "took_over") != "" {
			t.Fatalf("the active-run item still names the run taken over: %v", it)
		}
		if ok, err := f.s.FinishRun(ctx, f.id, run.ID, integration.RunError, "", time.Now()); err != nil || !ok {
			t.Fatalf("finish: %v %v", ok, err)
		}
		f.wantCount(t, 3)
	})

	t.Run("a takeover's sweep, by a takeover of the run that took over", func(t *testing.T) {
		f := newSweepFixture(t)
		first := f.start(t, time.Now().Add(-3*time.Hour))
		f.write(t, first.ID, "post/2", 0, 3)
		f.hook = once(sweeps, failSweep)
		second := &integration.Run{ID: integration.NewID(), IntegrationID: f.id, Status: integration.RunRunning, StartedAt: time.Now().Add(-2 * time.Hour)}
		if _, ok, err := f.s.StartRun(ctx, second, time.Hour); err != nil || !ok {
			t.Fatalf("take over the first: %v %v", ok, err)
		}
		f.write(t, second.ID, "post/2", 3, 2)
		f.wantCount(t, 0)
		// The second is stale too: the item naming the first is replaced.
		third := &integration.Run{ID: integration.NewID(), IntegrationID: f.id, Status: integration.RunRunning, StartedAt: time.Now()}
		if _, ok, err := f.s.StartRun(ctx, third, time.Hour); err != nil || !ok {
			t.Fatalf("take over the second: %v %v", ok, err)
		}
		f.wantCount(t, 5)
		if it := f.activeItem(t); strAttr(it, "run_id") != third.ID || strAttr(it, "took_over") != "" {
			t.Fatalf("the active-run item: %v", it)
		}
	})

	t.Run("a takeover's sweep, by the new run's FinishRun", func(t *testing.T) {
		f := newSweepFixture(t)
		old := f.start(t, time.Now().Add(-2*time.Hour))
		f.write(t, old.ID, "post/2", 0, 3)
		f.hook = once(sweeps, failSweep)
		run := &integration.Run{ID: integration.NewID(), IntegrationID: f.id, Status: integration.RunRunning, StartedAt: time.Now()}
		if _, ok, err := f.s.StartRun(ctx, run, time.Hour); err != nil || !ok {
			t.Fatalf("take over: %v %v", ok, err)
		}
		f.wantCount(t, 0)
		if ok, err := f.s.FinishRun(ctx, f.id, run.ID, integration.RunCompleted, "", time.Now()); err != nil || !ok {
			t.Fatalf("finish: %v %v", ok, err)
		}
		f.wantCount(t, 3)
		if it := f.activeItem(t); it != nil {
			t.Fatalf("the active-run item is left: %v", it)
		}
	})
}

func TestASweepAppliesTheDeltasOfManyJobs(t *testing.T) {
	ctx := context.Background()
	f := newSweepFixture(t)
	run := f.start(t, time.Now())
	jobs := sweepGroup + 7 // more than one sweep transaction holds
	for j := range jobs {
		f.write(t, run.ID, fmt.Sprintf("post/%d", j+2), j, 1)
	}
	// Completed jobs' deltas are applied by their completion only.
	for j := range 3 {
		if _, first, err := f.s.CompleteJob(ctx, f.id, run.ID, fmt.Sprintf("post/%d", j+2), integration.JobResult{}); err != nil || !first {
			t.Fatalf("complete: %v %v", first, err)
		}
	}
	f.wantCount(t, 3)
	if ok, err := f.s.FinishRun(ctx, f.id, run.ID, integration.RunError, "failed", time.Now()); err != nil || !ok {
		t.Fatalf("finish: %v %v", ok, err)
	}
	f.wantCount(t, int64(jobs))
	in := partition(deltaPK(f.id, run.ID))
	in.TableName = &f.s.table
	if err := f.s.queryAll(ctx, in, func(items []map[string]types.AttributeValue) error {
		for _, it := range items {
			if d := deltaOf(it).d; len(d) > 0 {
				return fmt.Errorf("deltas left unapplied: %s %v", strAttr(it, "SK"), d)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
