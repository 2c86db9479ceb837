package dynamostore

// Inbound webhook items (PK / SK). Every prefix is new: a table an earlier
// release wrote needs nothing.
//
//	route          WHROUTE#<platform>#<key> / <account>#<integration>   (one partition a lookup; TTL when it expires)
//	route index    INT#<id>#WHROUTE / <platform>#<key>                  (an integration's routes, to delete them)
//	marker         WHDELIVERY#<platform>#<delivery id> / DELIVERY         (state, at; TTL)
//	count bucket   INT#<id>#WEBHOOK / <hour, 2006-01-02T15>              (received, rejected; TTL)
//	last received  INT#<id>#WEBHOOK / LAST                                (at)
//
// "LAST" sorts after every hour, so the stats are one query of the
// integration's partition from an hour on.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/joinery/joinery/pkg/integration"
)

var _ integration.WebhookStore = (*Store)(nil)

func webhookRoutePK(platform, key string) string { return "WHROUTE#" + platform + "#" + key }
func webhookRouteIndexPK(id string) string       { return "INT#" + id + "#WHROUTE" }
func webhookCountPK(id string) string            { return "INT#" + id + "#WEBHOOK" }
func deliveryKey(key string) map[string]types.AttributeValue {
	return pk("WHDELIVERY#"+key, "DELIVERY")
}

// webhookLastSK is the item of an integration's last received delivery.
const webhookLastSK = "LAST"

// routeGrace is how long an expired route stays before TTL removes it:
// lookups skip it from its expiry on.
const routeGrace = 24 * time.Hour

// PutWebhookRoute puts the route and its index entry in one transaction.
func (s *Store) PutWebhookRoute(ctx context.Context, r integration.WebhookRoute) error {
	if r.Platform == "" || r.Key == "" || r.AccountID == "" || r.IntegrationID == "" {
		return integration.Errorf(integration.EINVALID, "A webhook route needs a platform, a key, an account and an integration.")
	}
	route := pk(webhookRoutePK(r.Platform, r.Key), r.AccountID+"#"+r.IntegrationID)
	route["platform"], route["route_key"] = str(r.Platform), str(r.Key)
	route["account_id"], route["integration_id"] = str(r.AccountID), str(r.IntegrationID)
	if r.TokenHash != "" {
		route["token_hash"] = str(r.TokenHash)
	}
	if r.CallbackURL != "" {
		route["callback_url"] = str(r.CallbackURL)
	}
	if !r.Expires.IsZero() {
		route["expires"] = num(r.Expires.UnixNano())
		route["expires_at"] = num(r.Expires.Add(routeGrace).Unix())
	}
	index := pk(webhookRouteIndexPK(r.IntegrationID), r.Platform+"#"+r.Key)
	index["account_id"], index["platform"], index["route_key"] = str(r.AccountID), str(r.Platform), str(r.Key)
	_, err := s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Put: &types.Put{TableName: &s.table, Item: route}},
		{Put: &types.Put{TableName: &s.table, Item: index}},
	}})
	if err != nil {
		return fmt.Errorf("put webhook route: %w", err)
	}
	return nil
}

// WebhookRoutes queries the one partition of platform and key.
func (s *Store) WebhookRoutes(ctx context.Context, platform, key string, limit int) ([]integration.WebhookRoute, error) {
	in := partition(webhookRoutePK(platform, key))
	in.TableName, in.Limit = &s.table, aws.Int32(int32(max(limit, 1)))
	out, err := s.db.Query(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("webhook routes: %w", err)
	}
	now := time.Now()
	routes := make([]integration.WebhookRoute, 0, len(out.Items))
	for _, it := range out.Items {
		r := integration.WebhookRoute{Platform: strAttr(it, "platform"), Key: strAttr(it, "route_key"),
			AccountID: strAttr(it, "account_id"), IntegrationID: strAttr(it, "integration_id"),
			TokenHash: strAttr(it, "token_hash"), CallbackURL: strAttr(it, "callback_url")}
		if v := numAttr(it, "expires"); v > 0 {
			r.Expires = time.Unix(0, v).UTC()
			if !now.Before(r.Expires) {
				continue // TTL has yet to remove it
			}
		}
		routes = append(routes, r)
	}
	return routes, nil
}

// DeleteWebhookRoutes reads the integration's index and deletes each
// route with its entry.
func (s *Store) DeleteWebhookRoutes(ctx context.Context, accountID, integrationID string) error {
	in := partition(webhookRouteIndexPK(integrationID))
	in.TableName = &s.table
	var doomed []map[string]types.AttributeValue
	err := s.queryAll(ctx, in, func(items []map[string]types.AttributeValue) error {
		for _, it := range items {
			if strAttr(it, "account_id") != accountID {
				continue
			}
			doomed = append(doomed, pk(webhookRoutePK(strAttr(it, "platform"), strAttr(it, "route_key")), accountID+"#"+integrationID),
				pk(webhookRouteIndexPK(integrationID), strAttr(it, "SK")))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("webhook routes of %s: %w", integrationID, err)
	}
	// The index entry goes last, so a delete cut short is found again.
	for _, k := range doomed {
		if _, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &s.table, Key: k}); err != nil {
			return fmt.Errorf("delete webhook route of %s: %w", integrationID, err)
		}
	}
	return nil
}

// ClaimDelivery is one conditional put: absent, past its expiry, or
// pending since before m.At - staleAfter. A refusal returns the marker
// found, read in the same call.
func (s *Store) ClaimDelivery(ctx context.Context, m integration.DeliveryMarker, staleAfter time.Duration) (*integration.DeliveryMarker, bool, error) {
	if m.Key == "" {
		return nil, false, integration.Errorf(integration.EINVALID, "A delivery marker needs a key.")
	}
	state := m.State
	if state == "" {
		state = integration.DeliveryPending
	}
	item := deliveryKey(m.Key)
	item["state"], item["at"] = str(state), num(m.At.UnixNano())
	item["expires"], item["expires_at"] = num(m.Expires.UnixNano()), num(m.Expires.Unix())
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: &s.table, Item: item,
		ConditionExpression:      aws.String("attribute_not_exists(PK) OR expires_at < :now OR (#s = :pending AND #at < :stale)"),
		ExpressionAttributeNames: map[string]string{"#s": "state", "#at": "at"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":now": num(m.At.Unix()), ":pending": str(integration.DeliveryPending),
			":stale": num(m.At.Add(-staleAfter).UnixNano())},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return markerFromItem(m.Key, ccf.Item), false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("claim delivery %s: %w", m.Key, err)
	}
	return nil, true, nil
}

func markerFromItem(key string, it map[string]types.AttributeValue) *integration.DeliveryMarker {
	m := &integration.DeliveryMarker{Key: key, State: strAttr(it, "state")}
	if v := numAttr(it, "at"); v != 0 {
		m.At = time.Unix(0, v).UTC()
	}
	if v := numAttr(it, "expires"); v != 0 {
		m.Expires = time.Unix(0, v).UTC()
	}
	return m
}

// MarkDeliveryQueued updates the marker in place (keeping its expiry);
// a marker that is gone is ENOTFOUND.
func (s *Store) MarkDeliveryQueued(ctx context.Context, key string, at time.Time) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: deliveryKey(key),
		UpdateExpression:          aws.String("SET #s = :q, #at = :at"),
		ConditionExpression:       aws.String("attribute_exists(PK)"),
		ExpressionAttributeNames:  map[string]string{"#s": "state", "#at": "at"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":q": str(integration.DeliveryQueued), ":at": num(at.UnixNano())},
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return integration.Errorf(integration.ENOTFOUND, "No delivery marker %q.", key)
	}
	if err != nil {
		return fmt.Errorf("mark delivery %s queued: %w", key, err)
	}
	return nil
}

// CountWebhook adds to the hour's bucket; a received delivery then moves
// the last-received item forward (never back: a later delivery counted
// first stays).
func (s *Store) CountWebhook(ctx context.Context, _, integrationID string, rejected bool, at time.Time) error {
	field := "received"
	if rejected {
		field = "rejected"
	}
	hour := integration.HealthHour(at)
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: pk(webhookCountPK(integrationID), healthSK(hour)),
		UpdateExpression:          aws.String("ADD #f :one SET #x = :x"),
		ExpressionAttributeNames:  map[string]string{"#f": field, "#x": "expires_at"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":one": num(1), ":x": num(hour.Add(integration.HealthRetention).Unix())},
	})
	if err != nil {
		return fmt.Errorf("count webhook of %s: %w", integrationID, err)
	}
	if rejected {
		return nil
	}
	_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: pk(webhookCountPK(integrationID), webhookLastSK),
		UpdateExpression:          aws.String("SET #at = :at"),
		ConditionExpression:       aws.String("attribute_not_exists(#at) OR #at < :at"),
		ExpressionAttributeNames:  map[string]string{"#at": "at"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":at": num(at.UnixNano())},
	})
	var ccf *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &ccf) {
		return fmt.Errorf("last webhook of %s: %w", integrationID, err)
	}
	return nil
}

// WebhookStats is one query: the buckets from since's hour, then LAST.
func (s *Store) WebhookStats(ctx context.Context, _, integrationID string, since time.Time) (integration.WebhookStats, error) {
	var st integration.WebhookStats
	in := &dynamodb.QueryInput{TableName: &s.table, KeyConditionExpression: aws.String("PK = :pk AND SK >= :from"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(webhookCountPK(integrationID)), ":from": str(healthSK(since))}}
	err := s.queryAll(ctx, in, func(items []map[string]types.AttributeValue) error {
		for _, it := range items {
			if sk := strAttr(it, "SK"); strings.HasPrefix(sk, webhookLastSK) {
				if v := numAttr(it, "at"); v != 0 {
					t := time.Unix(0, v).UTC()
					st.LastReceivedAt = &t
				}
				continue
			}
			st.Received24h += numAttr(it, "received")
			st.Rejected24h += numAttr(it, "rejected")
		}
		return nil
	})
	if err != nil {
		return st, fmt.Errorf("webhook stats of %s: %w", integrationID, err)
	}
	return st, nil
}
