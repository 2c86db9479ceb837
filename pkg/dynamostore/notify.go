package dynamostore

// Outbound notifications. Items (PK / SK):
//
//	pending event   NOTIFYEVT#<event id> / EVT   (event: JSON; TTL)
//	                GSI3: NOTIFY#<shard> / <at>#<event id>   (sparse: until fanned out)
//	outbox entry    (records.go) also carries GSI3: NOTIFY#<shard> / <changed at>#<integration>, until fanned out
//	endpoint        ACCT#<account>#WHEP / <endpoint id>   (endpoint: JSON, version)
//	delivery        ACCT#<account>#WHEP#<endpoint id>#DLV / <delivery id>   (delivery: JSON, status; TTL)
//	endpoint slot   WHEPSLOT#<endpoint id> / <slot number>   (holder, until; TTL)
//
// The GSI3 entries are written in the same transaction as the change they
// tell of; fanning out removes them (the item itself stays, or expires).

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/joinery/joinery/pkg/integration"
)

var _ integration.NotifyStore = (*Store)(nil)

// notifyShards spreads the pending index over a few partitions, so a sync
// writing thousands of records a second does not make one hot key.
const notifyShards = 4

// notifyEventRetention is how long a pending event waits to be fanned out.
const notifyEventRetention = 14 * 24 * time.Hour

func notifyShard(s string) string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(s))
	return "NOTIFY#" + strconv.Itoa(int(h.Sum32()%notifyShards))
}

// markPending adds the pending-index attributes to an outbox item.
func markPending(item map[string]types.AttributeValue, integrationID, changedAt string) {
	item["GSI3PK"], item["GSI3SK"] = str(notifyShard(integrationID+changedAt)), str(changedAt+"#"+integrationID)
}

func eventItem(ev *integration.NotifyEvent) (map[string]types.AttributeValue, error) {
	raw, err := json.Marshal(ev)
	if err != nil {
		return nil, err
	}
	item := pk("NOTIFYEVT#"+ev.ID, "EVT")
	item["event"], item["expires_at"] = str(string(raw)), expiresIn(notifyEventRetention)
	item["GSI3PK"], item["GSI3SK"] = str(notifyShard(ev.ID)), str(feedTime(ev.At)+"#"+ev.ID)
	return item, nil
}

// finishWithEvent sets a running run's final status and, in the same
// transaction, writes the event it emits (once: its id derives from the
// run). False if the run was not running.
func (s *Store) finishWithEvent(ctx context.Context, integrationID, runID string, status integration.RunStatus, message string, at time.Time) (bool, error) {
	run, err := s.GetRun(ctx, integrationID, runID)
	if integration.ErrorCode(err) == integration.ENOTFOUND {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	ev := integration.RunEvent(run, status, message, at)
	if ev == nil || run.Status != integration.RunRunning {
		return s.setFinished(ctx, integrationID, runID, status, message, at)
	}
	item, err := eventItem(ev)
	if err != nil {
		return false, err
	}
	_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Update: finishUpdate(&s.table, integrationID, runID, status, message, at)},
		{Put: &types.Put{TableName: &s.table, Item: item, ConditionExpression: aws.String("attribute_not_exists(PK)")}},
	}})
	switch {
	case err == nil:
		return true, nil
	case conditionFailedAt(err, 0):
		return false, nil
	case conditionFailedAt(err, 1):
		// The event is stored already: finish without it.
		return s.setFinished(ctx, integrationID, runID, status, message, at)
	}
	return false, fmt.Errorf("finish run %s: %w", runID, err)
}

// notifyItemKey names a pending item for AckEvents. An outbox entry's
// key carries the entry's few attributes as well (Item): acknowledged, it
// is written again without the index's, 25 to a batch, rather than
// updated one by one — a sync of 100,000 records acknowledges as many.
type notifyItemKey struct {
	PK   string            `json:"p"`
	SK   string            `json:"s"`
	Item map[string]string `json:"i,omitempty"`
	Exp  int64             `json:"e,omitempty"`
}

// PendingEvents implements integration.NotifyStore: a query per shard of
// the sparse index, oldest first within each.
func (s *Store) PendingEvents(ctx context.Context, limit int) ([]integration.PendingEvent, error) {
	var out []integration.PendingEvent
	for i := 0; i < notifyShards && len(out) < limit; i++ {
		res, err := s.db.Query(ctx, &dynamodb.QueryInput{TableName: &s.table, IndexName: aws.String("GSI3"),
			KeyConditionExpression:    aws.String("GSI3PK = :pk"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str("NOTIFY#" + strconv.Itoa(i))},
			Limit:                     aws.Int32(int32(limit - len(out)))})
		if err != nil {
			return nil, fmt.Errorf("read pending events: %w", err)
		}
		for _, it := range res.Items {
			p, err := pendingOf(it)
			if err != nil {
				return nil, err
			}
			out = append(out, p)
		}
	}
	return out, nil
}

func pendingOf(it map[string]types.AttributeValue) (integration.PendingEvent, error) {
	key := notifyItemKey{PK: strAttr(it, "PK"), SK: strAttr(it, "SK")}
	if strings.HasSuffix(key.PK, "#OUTBOX") {
		key.Item, key.Exp = map[string]string{}, numAttr(it, "expires_at")
		for _, a := range []string{"type", "model", "external_id", "changed_at"} {
			key.Item[a] = strAttr(it, a)
		}
	}
	k, _ := json.Marshal(key)
	p := integration.PendingEvent{Key: base64.RawURLEncoding.EncodeToString(k)}
	pkv := strAttr(it, "PK")
	if strings.HasPrefix(pkv, "NOTIFYEVT#") {
		var ev integration.NotifyEvent
		if err := json.Unmarshal([]byte(strAttr(it, "event")), &ev); err != nil {
			return p, fmt.Errorf("decode pending event: %w", err)
		}
		p.Event = &ev
		return p, nil
	}
	id, ok := strings.CutSuffix(strings.TrimPrefix(pkv, "INT#"), "#OUTBOX")
	if !ok {
		return p, fmt.Errorf("pending item %s is neither an event nor an outbox entry", pkv)
	}
	p.Change = &integration.RecordChange{IntegrationID: id, AccountID: strAttr(it, "account_id"), Model: strAttr(it, "model"), ExternalID: strAttr(it, "external_id"),
		Type: strAttr(it, "type"), ChangedAt: parseFeedTime(strAttr(it, "changed_at"))}
	return p, nil
}

// AckEvents implements integration.NotifyStore: the items leave the
// pending index.
func (s *Store) AckEvents(ctx context.Context, keys []string) error {
	var rewrite []types.WriteRequest
	for _, k := range keys {
		raw, err := base64.RawURLEncoding.DecodeString(k)
		var pkey notifyItemKey
		if err != nil || json.Unmarshal(raw, &pkey) != nil || pkey.PK == "" {
			continue
		}
		if pkey.Item != nil {
			// Written once (its key holds its changed_at), an outbox entry
			// is the same item again, out of the index.
			item := pk(pkey.PK, pkey.SK)
			for a, v := range pkey.Item {
				item[a] = str(v)
			}
			item["expires_at"] = num(pkey.Exp)
			rewrite = append(rewrite, types.WriteRequest{PutRequest: &types.PutRequest{Item: item}})
			continue
		}
		_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: &s.table, Key: pk(pkey.PK, pkey.SK),
			UpdateExpression: aws.String("REMOVE GSI3PK, GSI3SK"), ConditionExpression: aws.String("attribute_exists(PK)")})
		var ccf *types.ConditionalCheckFailedException
		if err != nil && !errors.As(err, &ccf) {
			return fmt.Errorf("acknowledge pending event: %w", err)
		}
	}
	if err := s.batchWrite(ctx, rewrite); err != nil {
		return fmt.Errorf("acknowledge pending changes: %w", err)
	}
	return nil
}

// AddNotifyEvents implements integration.NotifyStore.
func (s *Store) AddNotifyEvents(ctx context.Context, evs []integration.NotifyEvent) error {
	for i := range evs {
		item, err := eventItem(&evs[i])
		if err != nil {
			return err
		}
		_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: item, ConditionExpression: aws.String("attribute_not_exists(PK)")})
		var ccf *types.ConditionalCheckFailedException
		if err != nil && !errors.As(err, &ccf) {
			return fmt.Errorf("add event %s: %w", evs[i].ID, err)
		}
	}
	return nil
}

func endpointKey(accountID, id string) map[string]types.AttributeValue {
	return pk("ACCT#"+accountID+"#WHEP", id)
}

func endpointItem(e *integration.Endpoint) (map[string]types.AttributeValue, error) {
	raw, err := json.Marshal(e)
	if err != nil {
		return nil, err
	}
	item := endpointKey(e.AccountID, e.ID)
	item["endpoint"], item["version"] = str(string(raw)), num(e.Version)
	return item, nil
}

func endpointOf(it map[string]types.AttributeValue) (*integration.Endpoint, error) {
	var e integration.Endpoint
	if err := json.Unmarshal([]byte(strAttr(it, "endpoint")), &e); err != nil {
		return nil, fmt.Errorf("decode endpoint: %w", err)
	}
	return &e, nil
}

func endpointNotFound() error {
	return integration.Errorf(integration.ENOTFOUND, "No such webhook endpoint.")
}

// CreateEndpoint implements integration.NotifyStore.
func (s *Store) CreateEndpoint(ctx context.Context, e *integration.Endpoint) error {
	item, err := endpointItem(e)
	if err != nil {
		return err
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: item, ConditionExpression: aws.String("attribute_not_exists(PK)")})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return integration.Errorf(integration.ECONFLICT, "An endpoint with this id exists.")
	}
	if err != nil {
		return fmt.Errorf("create endpoint: %w", err)
	}
	return nil
}

// GetEndpoint implements integration.NotifyStore.
func (s *Store) GetEndpoint(ctx context.Context, accountID, id string) (*integration.Endpoint, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: endpointKey(accountID, id), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, fmt.Errorf("get endpoint %s: %w", id, err)
	}
	if len(out.Item) == 0 {
		return nil, endpointNotFound()
	}
	return endpointOf(out.Item)
}

// ListEndpoints implements integration.NotifyStore.
func (s *Store) ListEndpoints(ctx context.Context, accountID string) ([]*integration.Endpoint, error) {
	var out []*integration.Endpoint
	in := &dynamodb.QueryInput{TableName: &s.table, KeyConditionExpression: aws.String("PK = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str("ACCT#" + accountID + "#WHEP")}}
	for {
		res, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("list endpoints: %w", err)
		}
		for _, it := range res.Items {
			e, err := endpointOf(it)
			if err != nil {
				return nil, err
			}
			out = append(out, e)
		}
		if len(res.LastEvaluatedKey) == 0 {
			return out, nil
		}
		in.ExclusiveStartKey = res.LastEvaluatedKey
	}
}

// UpdateEndpoint implements integration.NotifyStore.
func (s *Store) UpdateEndpoint(ctx context.Context, e *integration.Endpoint, prevVersion int64) error {
	e.Version = prevVersion + 1
	item, err := endpointItem(e)
	if err != nil {
		return err
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: item,
		ConditionExpression:       aws.String("attribute_exists(PK) AND version = :v"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":v": num(prevVersion)}})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		e.Version = prevVersion
		if _, gerr := s.GetEndpoint(ctx, e.AccountID, e.ID); gerr != nil {
			return gerr
		}
		return integration.Errorf(integration.EPRECONDITIONFAILED, "The endpoint was changed meanwhile; read it again.")
	}
	if err != nil {
		e.Version = prevVersion
		return fmt.Errorf("update endpoint %s: %w", e.ID, err)
	}
	return nil
}

// DeleteEndpoint implements integration.NotifyStore.
func (s *Store) DeleteEndpoint(ctx context.Context, accountID, id string) error {
	_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &s.table, Key: endpointKey(accountID, id), ConditionExpression: aws.String("attribute_exists(PK)")})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return endpointNotFound()
	}
	if err != nil {
		return fmt.Errorf("delete endpoint %s: %w", id, err)
	}
	return nil
}

func deliveryPK(accountID, endpointID string) string {
	return "ACCT#" + accountID + "#WHEP#" + endpointID + "#DLV"
}

// PutNotifyDelivery implements integration.NotifyStore.
func (s *Store) PutNotifyDelivery(ctx context.Context, d *integration.NotifyDelivery) error {
	item, err := deliveryItem(d)
	if err != nil {
		return err
	}
	if _, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: item}); err != nil {
		return fmt.Errorf("store delivery %s: %w", d.ID, err)
	}
	return nil
}

// deliveryItem is a delivery as stored; it expires after the retention.
func deliveryItem(d *integration.NotifyDelivery) (map[string]types.AttributeValue, error) {
	raw, err := json.Marshal(d)
	if err != nil {
		return nil, err
	}
	item := pk(deliveryPK(d.AccountID, d.EndpointID), d.ID)
	item["delivery"], item["status"], item["expires_at"] = str(string(raw)), str(d.Status), expiresIn(integration.NotifyRetention)
	return item, nil
}

func deliveryOf(it map[string]types.AttributeValue) (*integration.NotifyDelivery, error) {
	var d integration.NotifyDelivery
	if err := json.Unmarshal([]byte(strAttr(it, "delivery")), &d); err != nil {
		return nil, fmt.Errorf("decode delivery: %w", err)
	}
	return &d, nil
}

// GetNotifyDelivery implements integration.NotifyStore.
func (s *Store) GetNotifyDelivery(ctx context.Context, accountID, endpointID, id string) (*integration.NotifyDelivery, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: pk(deliveryPK(accountID, endpointID), id), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, fmt.Errorf("get delivery %s: %w", id, err)
	}
	if len(out.Item) == 0 || numAttr(out.Item, "expires_at") < time.Now().Unix() {
		return nil, integration.Errorf(integration.ENOTFOUND, "No such delivery.")
	}
	return deliveryOf(out.Item)
}

// ListNotifyDeliveries implements integration.NotifyStore: one query of
// the endpoint's partition, newest first (ids are ULIDs), the status as a
// filter. The cursor is the id of the page's last delivery.
func (s *Store) ListNotifyDeliveries(ctx context.Context, q integration.NotifyDeliveryQuery) ([]*integration.NotifyDelivery, string, error) {
	if q.Limit <= 0 {
		q.Limit = 100
	}
	part := deliveryPK(q.AccountID, q.EndpointID)
	values := map[string]types.AttributeValue{":pk": str(part), ":now": num(time.Now().Unix())}
	filter := "expires_at > :now"
	if q.Status != "" {
		filter += " AND #st = :st"
		values[":st"] = str(q.Status)
	}
	in := &dynamodb.QueryInput{TableName: &s.table, KeyConditionExpression: aws.String("PK = :pk"), ScanIndexForward: aws.Bool(false),
		FilterExpression: aws.String(filter), ExpressionAttributeValues: values}
	if q.Status != "" {
		in.ExpressionAttributeNames = map[string]string{"#st": "status"}
	}
	if q.Cursor != "" {
		raw, err := base64.RawURLEncoding.DecodeString(q.Cursor)
		if err != nil || len(raw) == 0 || len(raw) > 64 {
			return nil, "", integration.Invalid(map[string]string{"cursor": "is not a cursor this listing issued"})
		}
		in.ExclusiveStartKey = pk(part, string(raw))
	}
	var out []*integration.NotifyDelivery
	for {
		res, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, "", fmt.Errorf("list deliveries: %w", err)
		}
		for _, it := range res.Items {
			if len(out) == q.Limit {
				return out, base64.RawURLEncoding.EncodeToString([]byte(out[len(out)-1].ID)), nil
			}
			d, err := deliveryOf(it)
			if err != nil {
				return nil, "", err
			}
			out = append(out, d)
		}
		if len(res.LastEvaluatedKey) == 0 {
			return out, "", nil
		}
		in.ExclusiveStartKey = res.LastEvaluatedKey
	}
}

func slotKey(endpointID string, n int) map[string]types.AttributeValue {
	return pk("WHEPSLOT#"+endpointID, strconv.Itoa(n))
}

// TakeEndpointSlot implements integration.NotifyStore: slot items 0…n-1,
// each taken by a conditional put (free, expired or already holder's).
func (s *Store) TakeEndpointSlot(ctx context.Context, endpointID, holder string, slots int, now, until time.Time) (bool, time.Time, error) {
	var freeAt time.Time
	for i := range slots {
		item := slotKey(endpointID, i)
		item["holder"], item["until"], item["expires_at"] = str(holder), num(until.UnixNano()), num(until.Add(time.Hour).Unix())
		_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: item,
			ConditionExpression:       aws.String("attribute_not_exists(PK) OR #u <= :now OR holder = :h"),
			ExpressionAttributeNames:  map[string]string{"#u": "until"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":now": num(now.UnixNano()), ":h": str(holder)},
			// A busy slot's lease comes back with the refusal, at no cost.
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld})
		var ccf *types.ConditionalCheckFailedException
		switch {
		case err == nil:
			// A holder keeps one slot: drop any other it held.
			for j := i + 1; j < slots; j++ {
				_, _ = s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &s.table, Key: slotKey(endpointID, j),
					ConditionExpression: aws.String("holder = :h"), ExpressionAttributeValues: map[string]types.AttributeValue{":h": str(holder)}})
			}
			return true, time.Time{}, nil
		case !errors.As(err, &ccf):
			return false, time.Time{}, fmt.Errorf("take a slot of endpoint %s: %w", endpointID, err)
		}
		if u := numAttr(ccf.Item, "until"); u > 0 {
			if t := time.Unix(0, u).UTC(); freeAt.IsZero() || t.Before(freeAt) {
				freeAt = t
			}
		}
	}
	return false, freeAt, nil
}

// ReleaseEndpointSlot implements integration.NotifyStore.
func (s *Store) ReleaseEndpointSlot(ctx context.Context, endpointID, holder string) error {
	// Which slot holder has is not known here; there are few.
	for i := range maxEndpointSlots {
		_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &s.table, Key: slotKey(endpointID, i),
			ConditionExpression: aws.String("holder = :h"), ExpressionAttributeValues: map[string]types.AttributeValue{":h": str(holder)}})
		var ccf *types.ConditionalCheckFailedException
		if err == nil {
			return nil
		}
		if !errors.As(err, &ccf) {
			return fmt.Errorf("release a slot of endpoint %s: %w", endpointID, err)
		}
	}
	return nil
}

// maxEndpointSlots bounds the slots ReleaseEndpointSlot looks through.
const maxEndpointSlots = 4

// updateWithEvent writes an integration at prevRev+1 and the event the
// write emits in one transaction. done is false when the event is stored
// already (a retried write): the caller then writes the item alone.
func (s *Store) updateWithEvent(ctx context.Context, in *integration.Integration, av map[string]types.AttributeValue, prevRev int64) (done bool, err error) {
	ev, err := eventItem(in.Emit)
	if err != nil {
		return true, err
	}
	_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Put: &types.Put{TableName: &s.table, Item: av,
			ConditionExpression:                 aws.String("attribute_exists(PK) AND " + atRev + " AND site_id = :site AND platform = :platform"),
			ExpressionAttributeValues:           map[string]types.AttributeValue{":rev": num(prevRev), ":site": str(in.SiteID), ":platform": str(in.Platform)},
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld}},
		{Put: &types.Put{TableName: &s.table, Item: ev, ConditionExpression: aws.String("attribute_not_exists(PK)")}},
	}})
	if err == nil {
		return true, nil
	}
	if conditionFailedAt(err, 1) && !conditionFailedAt(err, 0) {
		return false, nil
	}
	if !conditionFailedAt(err, 0) {
		return true, fmt.Errorf("update integration %s: %w", in.ID, err)
	}
	// As the plain write does on a failed condition.
	var tce *types.TransactionCanceledException
	errors.As(err, &tce)
	old := tce.CancellationReasons[0].Item
	switch {
	case len(old) == 0:
		return true, integration.Errorf(integration.ENOTFOUND, "Integration %q not found.", in.ID)
	case reflect.DeepEqual(old, av):
		return true, nil
	}
	return true, integration.Errorf(integration.EPRECONDITIONFAILED, "The integration was changed by someone else.")
}

// pushEventItem is the write of the event of a push's status change
// from old, if it emits one. Its id holds the change's time, and the
// push's update is conditioned on old: written again, it is the same.
func pushEventItem(table *string, p *integration.Push, old string) (*types.TransactWriteItem, error) {
	ev := integration.PushEvent(p, integration.PushStatus(old))
	if ev == nil {
		return nil, nil
	}
	item, err := eventItem(ev)
	if err != nil {
		return nil, err
	}
	return &types.TransactWriteItem{Put: &types.Put{TableName: table, Item: item}}, nil
}
