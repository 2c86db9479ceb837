package dynamostore

// Event items (PK / SK):
//
//	event                  INT#<id>#EVT / <event id>                  (type, status, event; marks sx, tx; TTL: expires_at)
//	event by status        INT#<id>#EVT#<status> / <event id>         (the event again, same TTL; mark sx)
//	event by status, type  INT#<id>#EVT#<status>#<type> / <event id>  (the event again, same TTL; mark tx)
//	events markers         MIGRATION / events-v2, events-v3           (since: when copies were first written)
//
// Every listing but the whole log reads partitions that hold just the
// events it lists: its status's, its status and type's, or, for a type
// alone, the ok, warning and error partitions of that type merged by
// event id. A page is one query (three for a type alone), whatever the
// log holds. The copies go in the same batch as the event, with its TTL:
// an event costs three writes instead of one. That is worth it: events
// come one per page of a run and one per failure, not one per record, so
// the copies are little next to the records' own writes, while without
// them listing a rare type or status walks the log page after page.
// Copies are kept for the statuses the API lists by (ok, warning, error);
// an event of another status is only in the log.
//
// Error and warning copies (mark sx in the log) are written since the
// events-v2 marker's since; ok copies (sx too) and the copies by type
// (tx) since events-v3's. Until the events written before a marker have
// expired (EventRetention after its since), a listing that reaches the
// end of its partitions reads on in the log, taking only matching events
// without the mark, so none is listed twice: an honest dual read, bounded
// per page like every listing here.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/joinery/joinery/pkg/integration"
)

// eventQueries bounds the queries one page of events makes in the log: a
// page whose filter matches little may come back short, with a cursor to
// go on. eventRounds bounds the rounds of queries a page makes in its
// partitions (a second only when expired events, not yet removed by the
// TTL, left the first short).
const (
	eventQueries = 4
	eventRounds  = 2
)

// The markers of the releases that began writing copies: error and
// warning by status (v2), then ok by status and every event by type (v3).
const (
	eventsByStatus = "events-v2"
	eventsByType   = "events-v3"
)

// eventStatuses are the statuses events are copied by; a type alone lists
// the three merged.
var eventStatuses = []string{"error", "warning", "ok"}

func eventPK(id string) string               { return "INT#" + id + "#EVT" }
func eventStatusPK(id, status string) string { return "INT#" + id + "#EVT#" + status }
func eventTypePK(id, status, typ string) string {
	return "INT#" + id + "#EVT#" + status + "#" + typ
}
func eventsMarkerKey(marker string) map[string]types.AttributeValue { return pk("MIGRATION", marker) }

// indexedStatus reports whether events of status had their own partition
// in the previous release (since events-v2).
func indexedStatus(status string) bool { return status == "error" || status == "warning" }

// copiedStatus reports whether events of status are copied by status and
// by type.
func copiedStatus(status string) bool { return indexedStatus(status) || status == "ok" }

// eventsSince caches the events markers: the zero time for a table
// created by a release that wrote the copies from the start, else when
// they were first written.
type eventsSince struct{ byStatus, byType atomic.Pointer[time.Time] }

func (e *eventsSince) of(marker string) *atomic.Pointer[time.Time] {
	if marker == eventsByType {
		return &e.byType
	}
	return &e.byStatus
}

// markEventsFresh records that a table holds no events written without
// their copies: it was created by this release.
func markEventsFresh(ctx context.Context, db *dynamodb.Client, table string) error {
	for _, marker := range []string{eventsByStatus, eventsByType} {
		it := eventsMarkerKey(marker)
		it["since"] = str("")
		_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &table, Item: it, ConditionExpression: aws.String("attribute_not_exists(PK)")})
		var ccf *types.ConditionalCheckFailedException
		if err != nil && !errors.As(err, &ccf) {
			return fmt.Errorf("mark table %s events: %w", table, err)
		}
	}
	return nil
}

// eventsMarker reads (and caches) when copies of the marker's kind were
// first written; ok false if they have not been yet.
func (s *Store) eventsMarker(ctx context.Context, marker string) (since time.Time, ok bool, err error) {
	cache := s.eventsSince.of(marker)
	if t := cache.Load(); t != nil {
		return *t, true, nil
	}
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: eventsMarkerKey(marker), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return time.Time{}, false, fmt.Errorf("read events marker: %w", err)
	}
	if out.Item == nil {
		return time.Time{}, false, nil
	}
	if raw := strAttr(out.Item, "since"); raw != "" {
		if since, err = time.Parse(time.RFC3339Nano, raw); err != nil {
			return time.Time{}, false, fmt.Errorf("read events marker: %w", err)
		}
	}
	cache.Store(&since)
	return since, true, nil
}

// ensureEventsMarker writes the marker, once, before the first copies of
// its kind.
func (s *Store) ensureEventsMarker(ctx context.Context, marker string) error {
	if _, ok, err := s.eventsMarker(ctx, marker); ok || err != nil {
		return err
	}
	it := eventsMarkerKey(marker)
	it["since"] = str(time.Now().UTC().Format(time.RFC3339Nano))
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: it, ConditionExpression: aws.String("attribute_not_exists(PK)")})
	var ccf *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &ccf) {
		return fmt.Errorf("write events marker: %w", err)
	}
	_, _, err = s.eventsMarker(ctx, marker)
	return err
}

// oldEvents reports whether events written before the marker's copies
// may still be unexpired, so that a listing must read on in the log.
func (s *Store) oldEvents(ctx context.Context, marker string) (bool, error) {
	since, ok, err := s.eventsMarker(ctx, marker)
	if err != nil {
		return false, err
	}
	if !ok {
		return true, nil // none copied yet: every event is in the log only
	}
	return !since.IsZero() && time.Now().Before(since.Add(EventRetention)), nil
}

// AddEvents batch-writes events with their TTL and their copies by status
// and by status and type, and counts them in the health buckets
// (health.go). The log items go first: a batch cut short leaves no copy
// without its event, so a purge, which finds copies through the log,
// leaves none behind.
func (s *Store) AddEvents(ctx context.Context, evs []integration.SyncEvent) error {
	logs := make([]types.WriteRequest, 0, len(evs))
	var copies []types.WriteRequest
	byStatus := false
	for _, e := range evs {
		b, err := json.Marshal(e)
		if err != nil {
			return err
		}
		item := pk(eventPK(e.IntegrationID), e.ID)
		item["event"], item["type"], item["status"] = str(string(b)), str(e.Type), str(e.Status)
		item["expires_at"] = num(e.At.Add(EventRetention).Unix())
		var parts []string
		if copiedStatus(e.Status) {
			byStatus = byStatus || indexedStatus(e.Status)
			item["sx"] = &types.AttributeValueMemberBOOL{Value: true}
			parts = append(parts, eventStatusPK(e.IntegrationID, e.Status))
			if e.Type != "" {
				item["tx"] = &types.AttributeValueMemberBOOL{Value: true}
				parts = append(parts, eventTypePK(e.IntegrationID, e.Status, e.Type))
			}
		}
		for _, p := range parts {
			copied := pk(p, e.ID)
			for k, v := range item {
				if k != "PK" && k != "SK" {
					copied[k] = v
				}
			}
			copies = append(copies, types.WriteRequest{PutRequest: &types.PutRequest{Item: copied}})
		}
		logs = append(logs, types.WriteRequest{PutRequest: &types.PutRequest{Item: item}})
	}
	if byStatus {
		if err := s.ensureEventsMarker(ctx, eventsByStatus); err != nil {
			return fmt.Errorf("add events: %w", err)
		}
	}
	if len(copies) > 0 {
		if err := s.ensureEventsMarker(ctx, eventsByType); err != nil {
			return fmt.Errorf("add events: %w", err)
		}
	}
	if err := s.batchWrite(ctx, append(logs, copies...)); err != nil {
		return fmt.Errorf("add events: %w", err)
	}
	if err := s.countEvents(ctx, evs); err != nil {
		return fmt.Errorf("add events: %w", err)
	}
	return nil
}

// eventCopies are the keys of a log item's copies by type, for the purge:
// their partitions are as many as the types, so only the log names them.
// (The copies by status are in partitions healthPartitions lists.)
func eventCopies(id string, it map[string]types.AttributeValue) []map[string]types.AttributeValue {
	if !boolAttr(it, "tx") {
		return nil
	}
	return []map[string]types.AttributeValue{pk(eventTypePK(id, strAttr(it, "status"), strAttr(it, "type")), strAttr(it, "SK"))}
}

// eventCursor is where a listing of events goes on: below SK in its
// partitions, or (Log) in the log.
type eventCursor struct {
	SK  string
	Log bool
}

func (c eventCursor) encode() string {
	if c.Log {
		return base64.RawURLEncoding.EncodeToString([]byte("log:" + c.SK))
	}
	return base64.RawURLEncoding.EncodeToString([]byte(c.SK))
}

func decodeEventCursor(raw string) (eventCursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(raw)
	if err != nil || len(b) == 0 || len(b) > 128 {
		return eventCursor{}, badCursor()
	}
	if sk, ok := strings.CutPrefix(string(b), "log:"); ok {
		if sk == "" {
			return eventCursor{}, badCursor()
		}
		return eventCursor{SK: sk, Log: true}, nil
	}
	return eventCursor{SK: string(b)}, nil
}

// eventSource is where a filtered listing reads: partitions merged newest
// first, then, while events older than the marker may live, the log,
// filtered.
type eventSource struct {
	parts  []string
	marker string
	filter []string // besides being unexpired
	names  map[string]string
	values map[string]types.AttributeValue
}

func eventSourceOf(q integration.EventQuery) eventSource {
	id := q.IntegrationID
	src := eventSource{marker: eventsByType, names: map[string]string{}, values: map[string]types.AttributeValue{}}
	if q.Status != "" {
		src.filter = append(src.filter, "#s = :s")
		src.names["#s"], src.values[":s"] = "status", str(q.Status)
	}
	if q.Type == "" {
		src.parts = []string{eventStatusPK(id, q.Status)}
		if indexedStatus(q.Status) {
			src.marker = eventsByStatus
		}
		src.filter = append(src.filter, "attribute_not_exists(sx)")
		return src
	}
	src.filter = append(src.filter, "#t = :t", "attribute_not_exists(tx)")
	src.names["#t"], src.values[":t"] = "type", str(q.Type)
	statuses := eventStatuses
	if q.Status != "" {
		statuses = []string{q.Status}
	}
	for _, st := range statuses {
		src.parts = append(src.parts, eventTypePK(id, st, q.Type))
	}
	return src
}

// ListEvents pages newest first. The whole log is read as it is; a
// listing by status, type or both reads its partitions (then, for a table
// whose events of the previous releases may not all have expired, the
// log's events without the copies). A page makes at most eventRounds
// rounds of one query per partition, then eventQueries in the log.
func (s *Store) ListEvents(ctx context.Context, q integration.EventQuery) ([]integration.SyncEvent, string, error) {
	var cur eventCursor
	if q.Cursor != "" {
		var err error
		if cur, err = decodeEventCursor(q.Cursor); err != nil {
			return nil, "", err
		}
	}
	out := []integration.SyncEvent{}
	if q.Status == "" && q.Type == "" {
		return s.readEventLog(ctx, q, nil, eventCursor{SK: cur.SK}, out)
	}
	src := eventSourceOf(q)
	old, err := s.oldEvents(ctx, src.marker)
	if err != nil {
		return nil, "", err
	}
	if !cur.Log {
		for round := 0; ; round++ {
			page, next, err := s.mergeEventParts(ctx, src.parts, cur.SK, q.Limit-len(out))
			if err != nil {
				return nil, "", err
			}
			out = append(out, page...)
			if next == "" {
				break
			}
			cur.SK = next
			if len(out) == q.Limit || round+1 == eventRounds {
				return out, cur.encode(), nil
			}
		}
		if !old {
			return out, "", nil
		}
		// On to the older events, from the log's newest ("~" sorts after
		// every event id).
		cur = eventCursor{SK: "~", Log: true}
		if len(out) == q.Limit {
			return out, cur.encode(), nil
		}
	}
	return s.readEventLog(ctx, q, &src, cur, out)
}

// mergeEventParts reads up to need events below the event id below
// (from the newest if empty) from each partition, one query each, at
// once, and merges them newest first. A query cut short by its limit
// leaves what lies below its last key unknown: only the events at or
// above the highest such key are certain to be the newest, and next goes
// on from there. next is empty when every partition was read to its end.
func (s *Store) mergeEventParts(ctx context.Context, parts []string, below string, need int) ([]integration.SyncEvent, string, error) {
	type result struct {
		items []map[string]types.AttributeValue
		last  string
		err   error
	}
	results := make([]result, len(parts))
	var wg sync.WaitGroup
	for i, p := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in := &dynamodb.QueryInput{TableName: &s.table, KeyConditionExpression: aws.String("PK = :pk"), ScanIndexForward: aws.Bool(false),
				Limit: aws.Int32(int32(need)), FilterExpression: aws.String("expires_at > :now"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(p), ":now": num(time.Now().Unix())}}
			if below != "" {
				in.KeyConditionExpression = aws.String("PK = :pk AND SK < :below")
				in.ExpressionAttributeValues[":below"] = str(below)
			}
			out, err := s.db.Query(ctx, in)
			if err != nil {
				results[i].err = fmt.Errorf("list events: %w", err)
				return
			}
			results[i].items = out.Items
			if len(out.LastEvaluatedKey) > 0 {
				results[i].last = strAttr(out.LastEvaluatedKey, "SK")
			}
		}()
	}
	wg.Wait()
	bound := ""
	for _, r := range results {
		if r.err != nil {
			return nil, "", r.err
		}
		bound = max(bound, r.last)
	}
	var items []map[string]types.AttributeValue
	for _, r := range results {
		for _, it := range r.items {
			if strAttr(it, "SK") >= bound {
				items = append(items, it)
			}
		}
	}
	sort.Slice(items, func(i, j int) bool { return strAttr(items[i], "SK") > strAttr(items[j], "SK") })
	next := bound
	if len(items) > need {
		items = items[:need]
		next = strAttr(items[need-1], "SK")
	}
	evs, err := decodeEvents(items)
	return evs, next, err
}

func decodeEvents(items []map[string]types.AttributeValue) ([]integration.SyncEvent, error) {
	out := make([]integration.SyncEvent, 0, len(items))
	for _, it := range items {
		var e integration.SyncEvent
		if err := json.Unmarshal([]byte(strAttr(it, "event")), &e); err != nil {
			return nil, fmt.Errorf("decode event: %w", err)
		}
		out = append(out, e)
	}
	return out, nil
}

// readEventLog reads on in the log from cur, adding to out: every event,
// or (src) only those of the source's filter written without its copies.
func (s *Store) readEventLog(ctx context.Context, q integration.EventQuery, src *eventSource, cur eventCursor, out []integration.SyncEvent) ([]integration.SyncEvent, string, error) {
	for queries := 0; queries < eventQueries; queries++ {
		in := &dynamodb.QueryInput{TableName: &s.table, KeyConditionExpression: aws.String("PK = :pk"), ScanIndexForward: aws.Bool(false),
			Limit:                     aws.Int32(int32(q.Limit - len(out))),
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(eventPK(q.IntegrationID)), ":now": num(time.Now().Unix())}}
		filter := []string{"expires_at > :now"}
		if src != nil {
			filter = append(filter, src.filter...)
			in.ExpressionAttributeNames = src.names
			for k, v := range src.values {
				in.ExpressionAttributeValues[k] = v
			}
			if len(src.names) == 0 {
				in.ExpressionAttributeNames = nil
			}
		}
		in.FilterExpression = aws.String(strings.Join(filter, " AND "))
		if cur.SK != "" {
			in.ExclusiveStartKey = pk(eventPK(q.IntegrationID), cur.SK)
		}
		page, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, "", fmt.Errorf("list events: %w", err)
		}
		evs, err := decodeEvents(page.Items)
		if err != nil {
			return nil, "", err
		}
		out = append(out, evs...)
		if len(page.LastEvaluatedKey) == 0 {
			return out, "", nil
		}
		cur.SK = strAttr(page.LastEvaluatedKey, "SK")
		if len(out) == q.Limit {
			break
		}
	}
	cur.Log = src != nil
	return out, cur.encode(), nil
}
