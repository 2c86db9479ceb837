package dynamostore

// Event items (PK / SK):
//
//	event            INT#<id>#EVT / <event id>             (type, status, event; TTL: expires_at)
//	event by status  INT#<id>#EVT#<status> / <event id>    (error and warning events again, same TTL)
//	events marker    MIGRATION / events-v2                 (since: when this release first wrote events)
//
// Error and warning events are few among many ok ones: their own
// partitions let `events?status=` read a page without walking the log.
// The previous release wrote them only to the log. Until those have
// expired (EventRetention after since), a status listing that reaches the
// end of its partition reads on in the log, taking only events without
// the indexed mark (sx) so none is listed twice: an honest dual read,
// bounded per page like every listing here.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/joinery/joinery/pkg/integration"
)

// eventQueries bounds the queries one page of events makes: a page whose
// filter matches little may come back short, with a cursor to go on.
const eventQueries = 4

func eventPK(id string) string                         { return "INT#" + id + "#EVT" }
func eventStatusPK(id, status string) string           { return "INT#" + id + "#EVT#" + status }
func eventsMarkerKey() map[string]types.AttributeValue { return pk("MIGRATION", "events-v2") }

// indexedStatus reports whether events of status have their own partition.
func indexedStatus(status string) bool { return status == "error" || status == "warning" }

// eventsSince caches the events marker: the zero time for a table this
// release created (no older events), else when it first wrote events.
type eventsSince = atomic.Pointer[time.Time]

// markEventsFresh records that a table holds no events of the previous
// release: it was created by this one.
func markEventsFresh(ctx context.Context, db *dynamodb.Client, table string) error {
	it := eventsMarkerKey()
	it["since"] = str("")
	_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &table, Item: it, ConditionExpression: aws.String("attribute_not_exists(PK)")})
	var ccf *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &ccf) {
		return fmt.Errorf("mark table %s events: %w", table, err)
	}
	return nil
}

// eventsMarker reads (and caches) when this release began writing events
// by status; ok false if it has not yet.
func (s *Store) eventsMarker(ctx context.Context) (since time.Time, ok bool, err error) {
	if t := s.eventsSince.Load(); t != nil {
		return *t, true, nil
	}
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: eventsMarkerKey(), ConsistentRead: aws.Bool(true)})
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
	s.eventsSince.Store(&since)
	return since, true, nil
}

// ensureEventsMarker writes the marker, once, before the first events
// this release writes by status.
func (s *Store) ensureEventsMarker(ctx context.Context) error {
	if _, ok, err := s.eventsMarker(ctx); ok || err != nil {
		return err
	}
	it := eventsMarkerKey()
	it["since"] = str(time.Now().UTC().Format(time.RFC3339Nano))
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: it, ConditionExpression: aws.String("attribute_not_exists(PK)")})
	var ccf *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &ccf) {
		return fmt.Errorf("write events marker: %w", err)
	}
	_, _, err = s.eventsMarker(ctx)
	return err
}

// AddEvents batch-writes events with their TTL, error and warning events
// also to their status's partition, and counts them in the health
// buckets (health.go).
func (s *Store) AddEvents(ctx context.Context, evs []integration.SyncEvent) error {
	reqs := make([]types.WriteRequest, 0, len(evs))
	indexed := false
	for _, e := range evs {
		b, err := json.Marshal(e)
		if err != nil {
			return err
		}
		item := pk(eventPK(e.IntegrationID), e.ID)
		item["event"], item["type"], item["status"] = str(string(b)), str(e.Type), str(e.Status)
		item["expires_at"] = num(e.At.Add(EventRetention).Unix())
		if indexedStatus(e.Status) {
			indexed = true
			item["sx"] = &types.AttributeValueMemberBOOL{Value: true}
			copied := pk(eventStatusPK(e.IntegrationID, e.Status), e.ID)
			for k, v := range item {
				if k != "PK" && k != "SK" {
					copied[k] = v
				}
			}
			reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: copied}})
		}
		reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: item}})
	}
	if indexed {
		if err := s.ensureEventsMarker(ctx); err != nil {
			return fmt.Errorf("add events: %w", err)
		}
	}
	if err := s.batchWrite(ctx, reqs); err != nil {
		return fmt.Errorf("add events: %w", err)
	}
	if err := s.countEvents(ctx, evs); err != nil {
		return fmt.Errorf("add events: %w", err)
	}
	return nil
}

// eventCursor is where a listing of events goes on: before SK in the
// status partition, or (Log) in the log.
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

// ListEvents pages newest first. An error or warning listing reads its
// status's partition (then, for a table upgraded less than EventRetention
// ago, the log's older events); any other reads the log, filtering. At
// most eventQueries queries a page.
func (s *Store) ListEvents(ctx context.Context, q integration.EventQuery) ([]integration.SyncEvent, string, error) {
	var cur eventCursor
	if q.Cursor != "" {
		var err error
		if cur, err = decodeEventCursor(q.Cursor); err != nil {
			return nil, "", err
		}
	}
	byStatus := indexedStatus(q.Status)
	oldLog := false // read on in the log, after the status partition
	if byStatus {
		since, ok, err := s.eventsMarker(ctx)
		if err != nil {
			return nil, "", err
		}
		if !ok {
			since = time.Now() // nothing indexed yet: all of them are in the log
		}
		oldLog = !since.IsZero() && time.Now().Before(since.Add(EventRetention))
	}
	out := []integration.SyncEvent{}
	inLog := !byStatus || cur.Log
	for queries := 0; queries < eventQueries; queries++ {
		in := s.eventQuery(q, inLog, byStatus, q.Limit-len(out))
		if cur.SK != "" {
			p := eventStatusPK(q.IntegrationID, q.Status)
			if inLog {
				p = eventPK(q.IntegrationID)
			}
			in.ExclusiveStartKey = pk(p, cur.SK)
		}
		page, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, "", fmt.Errorf("list events: %w", err)
		}
		for _, it := range page.Items {
			var e integration.SyncEvent
			if err := json.Unmarshal([]byte(strAttr(it, "event")), &e); err != nil {
				return nil, "", fmt.Errorf("decode event: %w", err)
			}
			out = append(out, e)
		}
		if len(page.LastEvaluatedKey) > 0 {
			cur.SK = strAttr(page.LastEvaluatedKey, "SK")
		} else if byStatus && !inLog && oldLog {
			// On to the previous release's events, from the log's newest
			// ("~" sorts after every event id).
			inLog, cur = true, eventCursor{SK: "~", Log: true}
			if len(out) == q.Limit {
				return out, cur.encode(), nil
			}
			continue
		} else {
			return out, "", nil
		}
		cur.Log = byStatus && inLog
		if len(out) == q.Limit {
			break
		}
	}
	return out, cur.encode(), nil
}

// eventQuery is one query of a listing: in the status partition, or in
// the log (inLog) — there, for a status listing, only the events the
// previous release wrote.
func (s *Store) eventQuery(q integration.EventQuery, inLog, byStatus bool, limit int) *dynamodb.QueryInput {
	p := eventPK(q.IntegrationID)
	if !inLog {
		p = eventStatusPK(q.IntegrationID, q.Status)
	}
	in := &dynamodb.QueryInput{TableName: &s.table, KeyConditionExpression: aws.String("PK = :pk"), ScanIndexForward: aws.Bool(false),
		Limit:                     aws.Int32(int32(limit)),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(p), ":now": num(time.Now().Unix())}}
	filter := []string{"expires_at > :now"}
	names := map[string]string{}
	if q.Type != "" {
		filter = append(filter, "#t = :t")
		names["#t"], in.ExpressionAttributeValues[":t"] = "type", str(q.Type)
	}
	if q.Status != "" && inLog {
		filter = append(filter, "#s = :s")
		names["#s"], in.ExpressionAttributeValues[":s"] = "status", str(q.Status)
	}
	if byStatus && inLog {
		filter = append(filter, "attribute_not_exists(sx)")
	}
	in.FilterExpression = aws.String(strings.Join(filter, " AND "))
	if len(names) > 0 {
		in.ExpressionAttributeNames = names
	}
	return in
}
