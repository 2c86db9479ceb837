package dynamostore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/joinery/joinery/pkg/awstest"
	"github.com/joinery/joinery/pkg/integration"
)

// oldRecord is a record as the previous release stored it.
type oldRecord struct {
	id, model, ext, hash string
	data                 []byte
	deleted              bool
	changed              time.Time
	lostPart             int // a part its write never stored (-1: none)
}

func (r oldRecord) key() string { return r.id + "/" + r.model + "/" + r.ext }

// seedOld writes the previous release's item shapes: a record item
// without fmt or modified_at, its data as is, gzipped, or in parts at
// <model>#<external id>#<n>.
func seedOld(t *testing.T, db *dynamodb.Client, table string, r oldRecord) {
	t.Helper()
	ctx := context.Background()
	stored, gz, parts, err := encodeData(r.data)
	if err != nil {
		t.Fatal(err)
	}
	for n, p := range parts {
		if n == r.lostPart {
			continue
		}
		part := pk(partPK(r.id), fmt.Sprintf("%s#%s#%d", r.model, r.ext, n))
		part["data"] = &types.AttributeValueMemberB{Value: p}
		if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &table, Item: part}); err != nil {
			t.Fatal(err)
		}
	}
	item := pk(recPK(r.id), r.model+"#"+r.ext)
	item["entity"], item["model"], item["external_id"], item["hash"] = str("record"), str(r.model), str(r.ext), str(r.hash)
	item["deleted"] = &types.AttributeValueMemberBOOL{Value: r.deleted}
	item["changed_at"] = str(feedTime(r.changed))
	item["GSI1PK"], item["GSI1SK"] = str(feedPK(r.id, r.model)), str(feedTime(r.changed)+"#"+r.ext)
	item["gz"] = &types.AttributeValueMemberBOOL{Value: gz}
	item["parts"] = num(int64(len(parts)))
	if stored != nil {
		item["data"] = &types.AttributeValueMemberB{Value: stored}
	}
	if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &table, Item: item}); err != nil {
		t.Fatal(err)
	}
}

// scanAll reads every item of the table whose PK has the prefix.
func scanAll(t *testing.T, db *dynamodb.Client, table, prefix string) []map[string]types.AttributeValue {
	t.Helper()
	var out []map[string]types.AttributeValue
	in := &dynamodb.ScanInput{TableName: &table, ConsistentRead: aws.Bool(true)}
	for {
		page, err := db.Scan(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range page.Items {
			if strings.HasPrefix(strAttr(it, "PK"), prefix) {
				out = append(out, it)
			}
		}
		if len(page.LastEvaluatedKey) == 0 {
			return out
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
}

func TestBackfillRecords(t *testing.T) {
	var failIn atomic.Int32 // the n-th transaction from now fails, as if the process died before it
	hook := beforeTransact(func(context.Context) error {
		if failIn.Add(-1) == 0 {
			return errors.New("the process died")
		}
		return nil
	})
	s, plain := newTable(t, hook)
	db, table := s.db, s.table
	ctx := awstest.Context(t)
	// A table of the previous release has no MIGRATION item.
	if _, err := plain.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &table, Key: migrationKey()}); err != nil {
		t.Fatal(err)
	}
	fresh := func() *Store { // a new process: nothing cached
		st := New(db, table)
		st.Sleep = func(time.Duration) {}
		return st
	}
	s = fresh()

	now := time.Now().UTC().Truncate(time.Millisecond)
	idA, idB := integration.NewID(), integration.NewID()
	at := func(i int) time.Time { return now.Add(time.Duration(i) * time.Millisecond) }
	lorem := bytes.Repeat([]byte("Lorem ipsum dolor sit amet. "), 4000) // ~110 KB: gzipped in the item
	var old []oldRecord
	for i := 1; i <= 8; i++ {
		old = append(old, oldRecord{idA, "post", fmt.Sprint(i), fmt.Sprintf("h%d", i), []byte(fmt.Sprintf(`{"n":%d}`, i)), i == 8, at(i), -1})
	}
	old = append(old,
		oldRecord{idA, "post", "9", "h9", []byte(`{"body":"` + string(lorem) + `"}`), false, at(9), -1},
		oldRecord{idA, "post", "10", "h10", noise(t, 330<<10), false, at(10), -1},
		oldRecord{idA, "post", "11", "h11", noise(t, 330<<10), true, at(11), -1},
		oldRecord{idA, "post", "12", "h12", noise(t, 330<<10), false, at(12), 1}, // cut short: unreadable
		oldRecord{idA, "page", "1", "p1", []byte(`{"page":1}`), false, at(1), -1},
		oldRecord{idB, "post", "1", "b1", []byte(`{"b":1}`), false, at(1), -1},
		oldRecord{idB, "post", "2", "b2", noise(t, 330<<10), false, at(2), -1},
	)
	want := map[string]oldRecord{}
	for _, r := range old {
		seedOld(t, plain, table, r)
		want[r.key()] = r
	}
	counts := func(st *Store, wantA, wantPage, wantB int64) {
		t.Helper()
		for _, c := range []struct {
			id, model string
			want      int64
		}{{idA, "post", wantA}, {idA, "page", wantPage}, {idB, "post", wantB}, {idA, "comment", 0}} {
			if n, err := st.CountRecords(ctx, c.id, c.model); err != nil || n != c.want {
				t.Fatalf("count of %s: %d %v, want %d", c.model, n, err, c.want)
			}
		}
	}
	same := func(st *Store, r oldRecord) {
		t.Helper()
		got, err := st.GetRecord(ctx, r.id, r.model, r.ext)
		if err != nil {
			t.Fatalf("%s: %v", r.key(), err)
		}
		if r.lostPart >= 0 {
			if got.Unreadable == "" || got.Data != nil {
				t.Fatalf("%s, with a part lost: %+v", r.key(), got)
			}
			return
		}
		if got.Unreadable != "" || !bytes.Equal(got.Data, r.data) || got.Hash != r.hash || got.Deleted != r.deleted || !got.ChangedAt.Equal(r.changed) {
			t.Fatalf("%s came back different: hash %q deleted %v changed %v, %d bytes (want %d) %q", r.key(), got.Hash, got.Deleted, got.ChangedAt, len(got.Data), len(r.data), got.Unreadable)
		}
	}

	// Before the backfill: both formats read, counted with a query.
	for _, r := range old {
		same(s, r)
	}
	var listed []string
	cursor := ""
	for {
		page, next, err := s.ListRecords(ctx, integration.RecordQuery{IntegrationID: idA, Model: "post", Limit: 4, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page {
			if w := want[r.IntegrationID+"/post/"+r.ExternalID]; (w.lostPart < 0 && !bytes.Equal(r.Data, w.data)) || (w.lostPart >= 0) != (r.Unreadable != "") {
				t.Fatalf("listed %s: %d bytes %q", r.ExternalID, len(r.Data), r.Unreadable)
			}
			listed = append(listed, r.ExternalID)
		}
		if cursor = next; next == "" {
			break
		}
	}
	if fmt.Sprint(listed) != "[1 2 3 4 5 6 7 8 9 10 11 12]" {
		t.Fatalf("listed %v", listed)
	}
	counts(s, 10, 1, 2)
	if c, done, err := s.BackfillState(ctx); err != nil || done || c != "" {
		t.Fatalf("state before: %q %v %v", c, done, err)
	}

	// This release writes over old records before the backfill reaches
	// them: each counts as new; the old parts it supersedes go.
	newer := []integration.StoredRecord{
		{IntegrationID: idA, Model: "post", ExternalID: "1", Hash: "n1", Data: []byte(`{"n":"new 1"}`), ChangedAt: at(100)},
		{IntegrationID: idA, Model: "post", ExternalID: "10", Hash: "n10", Data: []byte(`{"n":"new 10"}`), ChangedAt: at(100)},
		{IntegrationID: idA, Model: "post", ExternalID: "20", Hash: "n20", Data: []byte(`{"n":"new 20"}`), ChangedAt: at(100)},
	}
	if res, err := s.PutRecords(ctx, integration.WriteScope{}, newer); err != nil || res.Written != 3 {
		t.Fatalf("new writes: %+v %v", res, err)
	}
	for _, r := range newer {
		want[r.IntegrationID+"/post/"+r.ExternalID] = oldRecord{r.IntegrationID, "post", r.ExternalID, r.Hash, r.Data, false, r.ChangedAt, -1}
	}
	for _, sk := range sortKeys(t, plain, table, partPK(idA)) {
		if strings.HasPrefix(sk, "post#10#") {
			t.Fatalf("old part %s of a record rewritten is left", sk)
		}
	}
	counts(s, 11, 1, 2)

	// The backfill, a few items a page, dies part way through a page
	// (its parts copied, its transaction not sent) and another process
	// carries on from the saved cursor; that one stops after a few pages
	// and a third finishes.
	pages, crashed := 0, false
	cursor = ""
	failIn.Store(2)
	for {
		next, done, err := s.BackfillRecords(ctx, cursor, 3)
		pages++
		if err != nil {
			if crashed || !strings.Contains(err.Error(), "the process died") {
				t.Fatalf("page %d: %v", pages, err)
			}
			crashed = true
			counts(fresh(), 11, 1, 2) // still counted with a query, still right
			s = fresh()
			if cursor, done, err = s.BackfillState(ctx); err != nil || done {
				t.Fatalf("state after the crash: %v %v", done, err)
			}
			continue
		}
		if done {
			if next != "" || !crashed {
				t.Fatalf("done at page %d: next %q, crashed %v", pages, next, crashed)
			}
			break
		}
		if pages == 6 {
			s = fresh()
			saved, _, err := s.BackfillState(ctx)
			if err != nil || saved != next {
				t.Fatalf("saved cursor %q, want %q: %v", saved, next, err)
			}
		}
		cursor = next
		if pages > 200 {
			t.Fatal("the backfill does not end")
		}
	}
	if _, done, err := fresh().BackfillState(ctx); err != nil || !done {
		t.Fatalf("state after: %v %v", done, err)
	}

	check := func() {
		t.Helper()
		st := fresh()
		counts(st, 11, 1, 2)
		for _, r := range want {
			same(st, r)
		}
		// Every record is in the new format; every part is one a record
		// names, at its new key.
		named := map[string]bool{}
		lost := 0 // parts named by a record cut short, never stored
		for _, it := range scanAll(t, plain, table, "INT#") {
			if !strings.HasSuffix(strAttr(it, "PK"), "#REC") {
				continue
			}
			if numAttr(it, "fmt") != recordFormat {
				t.Fatalf("record %s is still in the old format", strAttr(it, "SK"))
			}
			id := strings.TrimSuffix(strings.TrimPrefix(strAttr(it, "PK"), "INT#"), "#REC")
			for _, k := range stateOf(it).partKeys(id, strAttr(it, "model"), strAttr(it, "external_id")) {
				named[strAttr(k, "PK")+" "+strAttr(k, "SK")] = true
			}
			if strAttr(it, "hash") == "" {
				lost++
			}
		}
		var parts []string
		for _, it := range scanAll(t, plain, table, "INT#") {
			if strings.HasSuffix(strAttr(it, "PK"), "#RECPART") {
				parts = append(parts, strAttr(it, "PK")+" "+strAttr(it, "SK"))
			}
		}
		sort.Strings(parts)
		for _, p := range parts {
			if !named[p] {
				t.Fatalf("part %s is named by no record", p)
			}
		}
		if len(parts)+lost != len(named) {
			t.Fatalf("%d parts, %d named, %d lost", len(parts), len(named), lost)
		}
	}
	check()
	// Old parts are gone, but for those of the record cut short, which the
	// rewritten record still names (with no hash, so the next sync writes
	// it again).
	var oldParts []string
	for _, id := range []string{idA, idB} {
		for _, sk := range sortKeys(t, plain, table, partPK(id)) {
			if strings.Count(sk, "#") == 2 {
				oldParts = append(oldParts, sk)
			}
		}
	}
	if fmt.Sprint(oldParts) != "[post#12#0]" {
		t.Fatalf("old parts left: %v", oldParts)
	}
	if got, err := s.GetRecord(ctx, idA, "post", "12"); err != nil || got.Hash != "" {
		t.Fatalf("the record cut short: %+v %v", got, err)
	}

	// Again, from the start: nothing changes.
	before := scanAll(t, plain, table, "INT#")
	cursor = ""
	for n := 0; ; n++ {
		next, done, err := fresh().BackfillRecords(ctx, cursor, 5)
		if err != nil || n > 200 {
			t.Fatalf("again: %v", err)
		}
		if done {
			break
		}
		cursor = next
	}
	if after := scanAll(t, plain, table, "INT#"); !reflect.DeepEqual(before, after) {
		t.Fatalf("a second backfill changed items: %d items, was %d", len(after), len(before))
	}
	check()

	// The next sync writes the record cut short whole again.
	r := integration.StoredRecord{IntegrationID: idA, Model: "post", ExternalID: "12", Hash: "h12", Data: want[idA+"/post/12"].data, ChangedAt: at(200)}
	if res, err := s.PutRecords(ctx, integration.WriteScope{}, []integration.StoredRecord{r}); err != nil || res.Written != 1 {
		t.Fatalf("rewrite the record cut short: %+v %v", res, err)
	}
	want[r.IntegrationID+"/post/12"] = oldRecord{idA, "post", "12", "h12", r.Data, false, r.ChangedAt, -1}
	check()
}

// A table this release creates needs no backfill.
func TestNewTableNeedsNoBackfill(t *testing.T) {
	s, _ := newTable(t)
	if c, done, err := s.BackfillState(awstest.Context(t)); err != nil || !done || c != "" {
		t.Fatalf("state: %q %v %v", c, done, err)
	}
}
