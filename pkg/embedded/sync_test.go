package embedded

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/integration"
	bolt "go.etcd.io/bbolt"
)

var at = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

func openTestStore(t *testing.T, path string) *Store {
	t.Helper()
	s, err := OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func storedRec(model, id, hash string, deleted bool, changed time.Time) integration.StoredRecord {
	return integration.StoredRecord{IntegrationID: "i1", Model: model, ExternalID: id, Hash: hash, Data: []byte(`{"h":"` + hash + `"}`),
		Deleted: deleted, ChangedAt: changed}
}

func TestAnUndecodableRecordIsListedUnreadableAndAWriteRepairsIt(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t, filepath.Join(t.TempDir(), "joinery.db"))
	var recs []integration.StoredRecord
	for i, id := range []string{"1", "2", "3"} {
		recs = append(recs, storedRec("post", id, "v1", false, at.Add(time.Duration(i)*time.Second)))
	}
	if _, err := s.PutRecords(ctx, integration.WriteScope{}, recs); err != nil {
		t.Fatal(err)
	}
	if err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketRecords).Put(key("i1", "post", "2"), []byte(`{"hash":`))
	}); err != nil {
		t.Fatal(err)
	}
	page, _, err := s.ListRecords(ctx, integration.RecordQuery{IntegrationID: "i1", Model: "post", Limit: 10})
	if err != nil || len(page) != 3 {
		t.Fatalf("list: %d %v", len(page), err)
	}
	if bad := page[1]; bad.ExternalID != "2" || bad.Unreadable == "" || bad.Data != nil || !bad.ChangedAt.Equal(at.Add(time.Second)) {
		t.Fatalf("the undecodable record: %+v", bad)
	}
	if page[0].Unreadable != "" || page[2].Unreadable != "" || string(page[2].Data) != `{"h":"v1"}` {
		t.Fatalf("the others: %+v", page)
	}
	// Rewritten, it reads again, listed once, and is not counted twice.
	res, err := s.PutRecords(ctx, integration.WriteScope{}, []integration.StoredRecord{storedRec("post", "2", "v2", false, at.Add(time.Minute))})
	if err != nil || res.Written != 1 {
		t.Fatalf("repair: %+v %v", res, err)
	}
	page, _, err = s.ListRecords(ctx, integration.RecordQuery{IntegrationID: "i1", Model: "post", Limit: 10})
	if err != nil || len(page) != 3 || page[2].ExternalID != "2" || page[2].Unreadable != "" || string(page[2].Data) != `{"h":"v2"}` {
		t.Fatalf("after the repair: %+v %v", page, err)
	}
	if n, err := s.CountRecords(ctx, "i1", "post"); err != nil || n != 3 {
		t.Fatalf("count: %d %v", n, err)
	}
}

func TestCountsOfAFileFromBeforeCountsAreComputedOnce(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "joinery.db")
	s, err := OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	recs := []integration.StoredRecord{
		storedRec("post", "1", "v1", false, at), storedRec("post", "2", "v1", true, at),
		storedRec("post", "3", "v1", false, at), storedRec("page", "1", "v1", false, at),
	}
	if _, err := s.PutRecords(ctx, integration.WriteScope{}, recs); err != nil {
		t.Fatal(err)
	}
	// As the previous release left it: no counts bucket.
	if err := s.db.Update(func(tx *bolt.Tx) error { return tx.DeleteBucket(bucketCounts) }); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	s = openTestStore(t, path)
	for model, want := range map[string]int64{"post": 2, "page": 1, "comment": 0} {
		if n, err := s.CountRecords(ctx, "i1", model); err != nil || n != want {
			t.Fatalf("%s: %d %v, want %d", model, n, err, want)
		}
	}
	if _, err := s.PutRecords(ctx, integration.WriteScope{}, []integration.StoredRecord{storedRec("post", "2", "v2", false, at.Add(time.Second))}); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	s = openTestStore(t, path) // counted once: reopening keeps the kept counts
	if n, err := s.CountRecords(ctx, "i1", "post"); err != nil || n != 3 {
		t.Fatalf("post after an undelete and a reopen: %d %v", n, err)
	}
}
