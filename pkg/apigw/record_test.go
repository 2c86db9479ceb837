package apigw_test

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/apigw"
	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/embedded"
	"github.com/joinery/joinery/pkg/integration"
	"github.com/joinery/joinery/pkg/models"
	"github.com/joinery/joinery/pkg/syncer"
)

// unreadableStore reads one record back as a store does when its stored
// data is damaged (a part missing or corrupt).
type unreadableStore struct {
	integration.SyncStore
	id string
}

func (s unreadableStore) damage(r *integration.StoredRecord) {
	if r.ExternalID == s.id {
		r.Data, r.Unreadable = nil, "part 1 of 2 is missing"
	}
}

func (s unreadableStore) ListRecords(ctx context.Context, q integration.RecordQuery) ([]integration.StoredRecord, string, error) {
	recs, next, err := s.SyncStore.ListRecords(ctx, q)
	for i := range recs {
		s.damage(&recs[i])
	}
	return recs, next, err
}

func (s unreadableStore) GetRecord(ctx context.Context, integrationID, model, externalID string) (*integration.StoredRecord, error) {
	r, err := s.SyncStore.GetRecord(ctx, integrationID, model, externalID)
	if err == nil {
		s.damage(r)
	}
	return r, err
}

// The feed shows a record only once its changed_at is older than the
// safety window; one record reads at once, in the shape of a feed item;
// a record whose data cannot be read is an entry saying so, not a failed
// page.
func TestRecordFeedAndRecord(t *testing.T) {
	api := newAPI(t)
	if resp, _ := api.CreateIntegration()(context.Background(), loadEvent(t, "integrations-create.json")); resp.StatusCode != 201 {
		t.Fatalf("create: %d %s", resp.StatusCode, resp.Body)
	}
	store := api.Service.Store.(*embedded.Store)
	changed := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	var recs []integration.StoredRecord
	for _, id := range []string{"1", "2", "3"} {
		data, _ := json.Marshal(map[string]any{"external_id": id, "type": "post", "title": "Post " + id, "status": "publish"})
		recs = append(recs, integration.StoredRecord{IntegrationID: "01JDEMO0000000000000000000", Model: "post", ExternalID: id,
			Hash: "h" + id, Data: data, ChangedAt: changed.Add(time.Duration(len(recs)) * time.Millisecond)})
	}
	if _, err := store.PutRecords(context.Background(), integration.WriteScope{}, recs); err != nil {
		t.Fatal(err)
	}
	var now time.Time
	engine := &syncer.Engine{Integrations: api.Service, Store: store, Now: func() time.Time { return now },
		Connectors: map[string]connector.Connector{"wordpress": &onePage{}}}
	s := &apigw.SyncAPI{API: api, Engine: engine}
	feed := func() []any {
		t.Helper()
		ev := loadEvent(t, "integrations-records.json")
		ev.QueryStringParameters = map[string]string{"model": "post"}
		status, body, resp := call(t, s.Records(), ev)
		if status != 200 {
			t.Fatalf("records: %d %s", status, resp.Body)
		}
		items, _ := body["items"].([]any)
		return items
	}

	// W is 10 s by default: the newest record (changed_at +2 ms) shows
	// once it is more than 10 s old, the others a little before.
	for _, c := range []struct {
		at   time.Duration
		want int
	}{{0, 0}, {9 * time.Second, 0}, {10 * time.Second, 0}, {10*time.Second + time.Millisecond + 1, 2}, {11 * time.Second, 3}} {
		now = changed.Add(c.at)
		if got := feed(); len(got) != c.want {
			t.Fatalf("at changed_at+%v the feed shows %d records, want %d", c.at, len(got), c.want)
		}
	}
	engine.FeedSafety = 2 * time.Second
	now = changed.Add(2*time.Second + 3*time.Millisecond)
	if got := feed(); len(got) != 3 {
		t.Fatalf("with W = 2 s, the feed shows %d records 2 s after, want 3", len(got))
	}
	engine.FeedSafety = -1 // JOINERY_FEED_SAFETY_SECONDS=0: no window
	now = changed
	if got := feed(); len(got) != 3 {
		t.Fatalf("without a window, the feed shows %d records, want all 3", len(got))
	}
	engine.FeedSafety = 0

	// One record, strongly consistent: no window, same shape as in the feed.
	now = changed
	status, body, resp := call(t, s.Record(), loadEvent(t, "integrations-record-get.json"))
	if status != 200 || body["external_id"] != "1" || body["title"] != "Post 1" || body["deleted"] != false ||
		body["changed_at"] != changed.Format(time.RFC3339Nano) {
		t.Fatalf("record: %d %s", status, resp.Body)
	}
	// Every record carries the common field model, and fits its schema.
	if err := models.Validate("post", []byte(resp.Body)); err != nil || body["model"] != "post" {
		t.Fatalf("record %s: model %v, schema: %v", resp.Body, body["model"], err)
	}
	now = changed.Add(time.Minute)
	if item := feed()[0]; !reflect.DeepEqual(item, any(body)) {
		t.Fatalf("the record %v differs from its feed item %v", body, item)
	}
	for name, params := range map[string]map[string]string{
		"an unknown record":                  {"model": "post", "external_id": "99"},
		"a model the platform does not have": {"model": "widget", "external_id": "1"},
		"a model of a record not there":      {"model": "page", "external_id": "1"},
		"an id no platform has":              {"model": "post", "external_id": string(make([]byte, 600))},
		"another account's integration":      {"id": "01JNOSUCHINTEGRATION000000", "model": "post", "external_id": "1"},
	} {
		ev := loadEvent(t, "integrations-record-get.json")
		for k, v := range params {
			ev.PathParameters[k] = v
		}
		status, body, resp := call(t, s.Record(), ev)
		if e, _ := body["error"].(map[string]any); status != 404 || e["code"] != "not_found" {
			t.Fatalf("%s: %d %s", name, status, resp.Body)
		}
	}
	otherAccount := loadEvent(t, "integrations-record-get.json")
	otherAccount.RequestContext.Authorizer.JWT.Claims["account_id"] = "acct-other"
	if status, _, resp := call(t, s.Record(), otherAccount); status != 404 {
		t.Fatalf("another account read the record: %d %s", status, resp.Body)
	}
	noRole := loadEvent(t, "integrations-record-get.json")
	delete(noRole.RequestContext.Authorizer.JWT.Claims, "role")
	if status, _, resp := call(t, s.Record(), noRole); status != 403 {
		t.Fatalf("a caller without a role read the record: %d %s", status, resp.Body)
	}

	// Damaged data: that record alone says so, in the feed and alone.
	engine.Store = unreadableStore{SyncStore: store, id: "2"}
	items := feed()
	if len(items) != 3 || items[0].(map[string]any)["title"] != "Post 1" || items[2].(map[string]any)["title"] != "Post 3" {
		t.Fatalf("a damaged record failed its page: %v", items)
	}
	want := map[string]any{"external_id": "2", "type": "post", "model": "post", "unreadable": true, "message": "part 1 of 2 is missing",
		"deleted": false, "changed_at": changed.Add(time.Millisecond).Format(time.RFC3339Nano)}
	if got := items[1]; !reflect.DeepEqual(got, any(want)) {
		t.Fatalf("damaged record in the feed: %v, want %v", got, want)
	}
	ev := loadEvent(t, "integrations-record-get.json")
	ev.PathParameters["external_id"] = "2"
	if status, body, resp := call(t, s.Record(), ev); status != 200 || !reflect.DeepEqual(body, want) {
		t.Fatalf("damaged record: %d %s", status, resp.Body)
	}
}
