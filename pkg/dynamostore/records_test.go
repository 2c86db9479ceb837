package dynamostore

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"
	"github.com/joinery/joinery/pkg/awstest"
	"github.com/joinery/joinery/pkg/integration"
)

// newTable creates a table of its own for a test and returns a client
// with the given options and a store on it that never sleeps.
func newTable(t *testing.T, opts ...func(*middleware.Stack) error) (*Store, *dynamodb.Client) {
	t.Helper()
	cfg := awstest.Config(awstest.Moto(t))
	plain := dynamodb.NewFromConfig(cfg)
	table := fmt.Sprintf("joinery-%s-%d", strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")), time.Now().UnixNano())
	if len(table) > 200 {
		table = table[:200]
	}
	if err := CreateTable(awstest.Context(t), plain, table); err != nil {
		t.Fatal(err)
	}
	db := dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) { o.APIOptions = append(o.APIOptions, opts...) })
	s := New(db, table)
	s.Sleep = func(time.Duration) {}
	return s, plain
}

// beforeTransact runs f before the client's TransactWriteItems calls; f
// says whether to go on calling.
func beforeTransact(f func(ctx context.Context) error) func(*middleware.Stack) error {
	return func(st *middleware.Stack) error {
		return st.Initialize.Add(middleware.InitializeMiddlewareFunc("BeforeTransact",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				if _, ok := in.Parameters.(*dynamodb.TransactWriteItemsInput); ok {
					if err := f(ctx); err != nil {
						return middleware.InitializeOutput{}, middleware.Metadata{}, err
					}
				}
				return next.HandleInitialize(ctx, in)
			}), middleware.Before)
	}
}

// lockedRand is a seeded source safe for the concurrent use of a client.
func lockedRand(seed uint64) func() float64 {
	var mu sync.Mutex
	r := mrand.New(mrand.NewPCG(seed, seed))
	return func() float64 {
		mu.Lock()
		defer mu.Unlock()
		return r.Float64()
	}
}

func noise(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(map[string]string{"body_html": base64.StdEncoding.EncodeToString(b)})
	return data
}

// partition returns the sort keys of a partition.
func sortKeys(t *testing.T, db *dynamodb.Client, table, p string) []string {
	t.Helper()
	var sks []string
	in := &dynamodb.QueryInput{TableName: &table, KeyConditionExpression: aws.String("PK = :pk"), ConsistentRead: aws.Bool(true),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(p)}, ProjectionExpression: aws.String("SK")}
	for {
		out, err := db.Query(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range out.Items {
			sks = append(sks, strAttr(it, "SK"))
		}
		if len(out.LastEvaluatedKey) == 0 {
			return sks
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// DynamoDB hands back part of a batch unprocessed under load; parts and
// batches must still all land, and a record must never read with parts
// missing, even while it is rewritten.
func TestPartialBatchWrites(t *testing.T) {
	s, plain := newTable(t, PartialBatchWrites(lockedRand(7)))
	var pauses atomic.Int64
	s.Sleep = func(time.Duration) { pauses.Add(1) }
	reader := New(plain, s.table)
	ctx := awstest.Context(t)
	id := integration.NewID()
	now := time.Now().UTC().Truncate(time.Millisecond)
	modified := now.Add(-time.Hour)

	// Every version of each record, as it may be read.
	var mu sync.Mutex
	versions := map[string][][]byte{}
	var stop atomic.Bool
	var reads atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		check := func(r *integration.StoredRecord, err error) bool {
			if err != nil && integration.ErrorCode(err) == integration.ENOTFOUND {
				return true // not written yet
			}
			if err != nil || r.Unreadable != "" {
				t.Errorf("record read while written: %v %+v", err, r)
				return false
			}
			mu.Lock()
			known := versions[r.ExternalID]
			mu.Unlock()
			for _, v := range known {
				if bytes.Equal(v, r.Data) {
					reads.Add(1)
					return true
				}
			}
			t.Errorf("record %s read back as data never written (%d bytes)", r.ExternalID, len(r.Data))
			return false
		}
		for i := 0; !stop.Load(); i++ {
			if i%4 == 3 {
				page, _, err := reader.ListRecords(ctx, integration.RecordQuery{IntegrationID: id, Model: "post", Limit: 10})
				if err != nil {
					t.Errorf("list while writing: %v", err)
					return
				}
				for _, r := range page {
					if !check(&r, nil) {
						return
					}
				}
				continue
			}
			if !check(reader.GetRecord(ctx, id, "post", fmt.Sprint(i%2))) {
				return
			}
		}
	}()
	var last map[string][]byte
	for v := range 3 {
		var recs []integration.StoredRecord
		last = map[string][]byte{}
		for i := range 2 {
			ext := fmt.Sprint(i)
			data := noise(t, 330<<10) // incompressible: two parts
			if v == 1 && i == 0 {
				data = []byte(`{"title":"small for a while"}`)
			}
			mu.Lock()
			versions[ext] = append(versions[ext], data)
			mu.Unlock()
			last[ext] = data
			recs = append(recs, integration.StoredRecord{IntegrationID: id, Model: "post", ExternalID: ext, Hash: fmt.Sprintf("v%d-%d", v, i), Data: data,
				ChangedAt: now.Add(time.Duration(v) * time.Millisecond), ModifiedAt: modified.Add(time.Duration(v) * time.Second)})
		}
		res, err := s.PutRecords(ctx, integration.WriteScope{}, recs)
		if err != nil || res.Written != 2 {
			t.Fatalf("version %d: %+v %v", v, res, err)
		}
	}
	stop.Store(true)
	wg.Wait()
	if reads.Load() == 0 {
		t.Fatal("the reader read nothing")
	}
	for ext, data := range last {
		got, err := reader.GetRecord(ctx, id, "post", ext)
		if err != nil || !bytes.Equal(got.Data, data) {
			t.Fatalf("record %s: last version did not land: %v", ext, err)
		}
	}
	// Only the last versions' parts are left.
	if parts := sortKeys(t, plain, s.table, partPK(id)); len(parts) != 4 {
		t.Fatalf("%d parts left, want 4 (2 records of 2 parts): %v", len(parts), parts)
	}
	// Plain batches land whole too.
	var evs []integration.SyncEvent
	for i := range 60 {
		evs = append(evs, integration.SyncEvent{ID: fmt.Sprintf("01E%023d", i), IntegrationID: id, Type: "page", Status: "ok", At: now})
	}
	if err := s.AddEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	if got, _, err := reader.ListEvents(ctx, integration.EventQuery{IntegrationID: id, Limit: 100}); err != nil || len(got) != 60 {
		t.Fatalf("events: %d %v", len(got), err)
	}
	if err := s.AddRetries(ctx, id, "post", map[string]string{"a": "1", "b": "2", "c": "3", "d": "4"}); err != nil {
		t.Fatal(err)
	}
	if got, err := reader.Retries(ctx, id, "post", 10); err != nil || len(got) != 4 {
		t.Fatalf("retries: %v %v", got, err)
	}
	if pauses.Load() == 0 {
		t.Fatal("no unprocessed items were retried: the fault did not bite")
	}
}

// A concurrent newer write of one record cancels the transaction; that
// record is dropped as stale and the others are written.
func TestConcurrentNewerWrite(t *testing.T) {
	ctx := awstest.Context(t)
	now := time.Now().UTC().Truncate(time.Millisecond)
	modified := now.Add(-time.Hour)
	rec := func(id, ext, hash string, changed, mod time.Time) integration.StoredRecord {
		return integration.StoredRecord{IntegrationID: id, Model: "post", ExternalID: ext, Hash: hash, Data: []byte(`{"h":"` + hash + `"}`),
			ChangedAt: changed, ModifiedAt: mod}
	}
	for _, tc := range []struct {
		name       string
		concurrent time.Time // the concurrent write's modification time
		written    int
		stale      int
		wantHash   string // of record 2 at the end
	}{
		{"newer", modified.Add(time.Hour), 2, 1, "theirs"},
		{"older", modified.Add(30 * time.Second), 3, 0, "mine"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var fired atomic.Bool
			var other *Store
			id := integration.NewID()
			s, plain := newTable(t, beforeTransact(func(ctx context.Context) error {
				if fired.CompareAndSwap(false, true) {
					res, err := other.PutRecords(ctx, integration.WriteScope{}, []integration.StoredRecord{rec(id, "2", "theirs", now.Add(time.Millisecond), tc.concurrent)})
					if err != nil || res.Written != 1 {
						return fmt.Errorf("concurrent write: %+v %v", res, err)
					}
				}
				return nil
			}))
			other = New(plain, s.table)
			// Stored first, so the write below reads them.
			var first []integration.StoredRecord
			for _, ext := range []string{"1", "2", "3"} {
				first = append(first, rec(id, ext, "v1", now, modified))
			}
			if _, err := other.PutRecords(ctx, integration.WriteScope{}, first); err != nil {
				t.Fatal(err)
			}
			var mine []integration.StoredRecord
			for _, ext := range []string{"1", "2", "3"} {
				mine = append(mine, rec(id, ext, "mine", now.Add(2*time.Millisecond), modified.Add(time.Minute)))
			}
			res, err := s.PutRecords(ctx, integration.WriteScope{}, mine)
			if err != nil || res.Written != tc.written || res.Stale != tc.stale {
				t.Fatalf("put: %+v %v, want written %d stale %d", res, err, tc.written, tc.stale)
			}
			for _, ext := range []string{"1", "2", "3"} {
				want := "mine"
				if ext == "2" {
					want = tc.wantHash
				}
				got, err := s.GetRecord(ctx, id, "post", ext)
				if err != nil || got.Hash != want || !bytes.Contains(got.Data, []byte(want)) {
					t.Fatalf("record %s: %+v %v, want %s", ext, got, err, want)
				}
			}
			changes, _, err := s.ListChanges(ctx, id, 100, "")
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range changes {
				got = append(got, c.ExternalID+":"+c.Type+"@"+c.ChangedAt.Sub(now).String())
			}
			want := "[1:created@0s 1:updated@2ms 2:created@0s 2:updated@1ms 3:created@0s 3:updated@2ms]"
			if tc.stale == 0 {
				want = "[1:created@0s 1:updated@2ms 2:created@0s 2:updated@1ms 2:updated@2ms 3:created@0s 3:updated@2ms]"
			}
			if fmt.Sprint(got) != want {
				t.Fatalf("changes %v, want %s", got, want)
			}
			if n, err := s.CountRecords(ctx, id, "post"); err != nil || n != 3 {
				t.Fatalf("count %d %v", n, err)
			}
		})
	}
}

// A record's parts that a write cut short (the previous release wrote
// them with the record in one batch) do not fail a listing: that record
// alone comes back unreadable.
func TestUnreadableRecordFailsAlone(t *testing.T) {
	s, plain := newTable(t)
	ctx := awstest.Context(t)
	id := integration.NewID()
	now := time.Now().UTC().Truncate(time.Millisecond)
	for i, data := range [][]byte{[]byte(`{"a":1}`), noise(t, 700<<10), []byte(`{"c":3}`)} {
		r := integration.StoredRecord{IntegrationID: id, Model: "post", ExternalID: fmt.Sprint(i), Hash: fmt.Sprint(i), Data: data, ChangedAt: now.Add(time.Duration(i) * time.Millisecond)}
		if _, err := s.PutRecords(ctx, integration.WriteScope{}, []integration.StoredRecord{r}); err != nil {
			t.Fatal(err)
		}
	}
	parts := sortKeys(t, plain, s.table, partPK(id))
	if len(parts) != 3 {
		t.Fatalf("parts: %v", parts)
	}
	if _, err := plain.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &s.table, Key: pk(partPK(id), parts[1])}); err != nil {
		t.Fatal(err)
	}
	page, _, err := s.ListRecords(ctx, integration.RecordQuery{IntegrationID: id, Model: "post", Limit: 10})
	if err != nil || len(page) != 3 {
		t.Fatalf("list: %d %v", len(page), err)
	}
	if page[0].Data == nil || page[2].Data == nil || page[0].Unreadable != "" || page[2].Unreadable != "" {
		t.Fatalf("readable records: %+v %+v", page[0], page[2])
	}
	if page[1].Data != nil || !strings.Contains(page[1].Unreadable, "missing") || page[1].Hash != "1" {
		t.Fatalf("the record with a part missing: %q %d bytes", page[1].Unreadable, len(page[1].Data))
	}
	got, err := s.GetRecord(ctx, id, "post", "1")
	if err != nil || got.Unreadable == "" || got.Data != nil {
		t.Fatalf("get: %+v %v", got, err)
	}
	// Writing it again repairs it.
	r := integration.StoredRecord{IntegrationID: id, Model: "post", ExternalID: "1", Hash: "again", Data: []byte(`{"b":2}`), ChangedAt: now.Add(time.Second)}
	if res, err := s.PutRecords(ctx, integration.WriteScope{}, []integration.StoredRecord{r}); err != nil || res.Written != 1 {
		t.Fatalf("rewrite: %+v %v", res, err)
	}
	if got, err := s.GetRecord(ctx, id, "post", "1"); err != nil || string(got.Data) != `{"b":2}` {
		t.Fatalf("repaired: %+v %v", got, err)
	}
	if left := sortKeys(t, plain, s.table, partPK(id)); len(left) != 0 {
		t.Fatalf("parts left: %v", left)
	}
}

// A copy of a job still writing after the job completed counts its
// writes at once: they are neither lost nor counted twice.
func TestJobDeltasAfterCompletion(t *testing.T) {
	s, _ := newTable(t)
	ctx := awstest.Context(t)
	id := integration.NewID()
	now := time.Now().UTC().Truncate(time.Millisecond)
	run := &integration.Run{ID: integration.NewID(), IntegrationID: id, Status: integration.RunRunning, StartedAt: now, ListedAt: now}
	if _, ok, err := s.StartRun(ctx, run, time.Hour); err != nil || !ok {
		t.Fatal(ok, err)
	}
	job := integration.WriteScope{RunID: run.ID, JobID: "post/2"}
	put := func(ext string) {
		t.Helper()
		r := integration.StoredRecord{IntegrationID: id, Model: "post", ExternalID: ext, Hash: "v1", Data: []byte(`{}`), ChangedAt: now}
		if res, err := s.PutRecords(ctx, job, []integration.StoredRecord{r}); err != nil || res.Written != 1 {
			t.Fatalf("put %s: %+v %v", ext, res, err)
		}
	}
	put("1")
	put("2")
	if _, first, err := s.CompleteJob(ctx, id, run.ID, job.JobID, integration.JobResult{}); err != nil || !first {
		t.Fatal(first, err)
	}
	put("3")
	for _, step := range []struct {
		ext  string
		want int64
	}{{"", 3}, {"4", 4}} {
		ext, want := step.ext, step.want
		if ext != "" {
			put(ext)
		}
		if _, first, err := s.CompleteJob(ctx, id, run.ID, job.JobID, integration.JobResult{}); err != nil || first {
			t.Fatal(first, err)
		}
		if n, err := s.CountRecords(ctx, id, "post"); err != nil || n != want {
			t.Fatalf("count %d %v, want %d", n, err, want)
		}
	}
}
