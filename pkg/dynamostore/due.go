package dynamostore

// The scheduler's index (GSI3) is spread over dueShards partitions,
// DUE#0…DUE#7, by a hash of the integration's id, so that no one
// partition takes every scheduler read and every reschedule. The
// previous release kept it in one partition, DUE: its items stay there
// until the integration is next written (a reschedule moves it), so the
// scheduler reads that partition too.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/joinery/joinery/pkg/integration"
)

const (
	dueShards = 8
	// legacyDuePK is the one partition of the previous release's index.
	legacyDuePK = "DUE"
)

// dueShardPK is the partition of an integration in the scheduler's index.
func dueShardPK(id string) string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(id))
	return legacyDuePK + "#" + strconv.Itoa(int(h.Sum32()%dueShards))
}

// DueShards names the index's partitions: the previous release's first.
func (s *Store) DueShards() []string {
	out := []string{legacyDuePK}
	for i := range dueShards {
		out = append(out, legacyDuePK+"#"+strconv.Itoa(i))
	}
	return out
}

type dueCursor struct {
	PK, SK, GSI3PK, GSI3SK string
}

// DuePage queries one partition of the scheduler's index.
func (s *Store) DuePage(ctx context.Context, shard string, t time.Time, limit int, cursor string) ([]*integration.Integration, string, error) {
	if !slices.Contains(s.DueShards(), shard) {
		return nil, "", integration.Invalid(map[string]string{"shard": "is not a shard of the due index"})
	}
	in := &dynamodb.QueryInput{TableName: &s.table, IndexName: aws.String("GSI3"),
		KeyConditionExpression:    aws.String("GSI3PK = :pk AND GSI3SK <= :t"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(shard), ":t": str(feedTime(t) + "$")}}
	if limit > 0 {
		in.Limit = aws.Int32(int32(limit))
	}
	if cursor != "" {
		raw, err := base64.RawURLEncoding.DecodeString(cursor)
		var c dueCursor
		if err != nil || json.Unmarshal(raw, &c) != nil || c.PK == "" || c.GSI3PK != shard {
			return nil, "", badCursor()
		}
		in.ExclusiveStartKey = map[string]types.AttributeValue{"PK": str(c.PK), "SK": str(c.SK), "GSI3PK": str(c.GSI3PK), "GSI3SK": str(c.GSI3SK)}
	}
	out, err := s.db.Query(ctx, in)
	if err != nil {
		return nil, "", fmt.Errorf("due integrations in %s: %w", shard, err)
	}
	items, err := fromItems(out.Items)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if k := out.LastEvaluatedKey; len(k) > 0 {
		b, _ := json.Marshal(dueCursor{PK: strAttr(k, "PK"), SK: strAttr(k, "SK"), GSI3PK: strAttr(k, "GSI3PK"), GSI3SK: strAttr(k, "GSI3SK")})
		next = base64.RawURLEncoding.EncodeToString(b)
	}
	return items, next, nil
}

// DueIntegrations returns the earliest limit due integrations of all
// partitions together.
func (s *Store) DueIntegrations(ctx context.Context, t time.Time, limit int) ([]*integration.Integration, error) {
	var all []*integration.Integration
	for _, shard := range s.DueShards() {
		items, _, err := s.DuePage(ctx, shard, t, limit, "")
		if err != nil {
			return nil, err
		}
		for _, it := range items {
			// The index also holds grants due a renewal only.
			if it.NextSyncAt != nil && !it.NextSyncAt.After(t) {
				all = append(all, it)
			}
		}
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].NextSyncAt.Before(*all[j].NextSyncAt) })
	if len(all) > limit {
		all = all[:limit]
	}
	return all, nil
}
