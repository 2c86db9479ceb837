package dynamostore

// The records backfill rewrites the previous release's record items (no
// fmt; parts at <model>#<external id>#<n>) in this release's format and
// counts them into the counts items. Its progress is one item:
//
//	MIGRATION / records-v2   (cursor: where the scan stands; done)
//
// Until it is done, CountRecords counts with a query instead of reading
// the counts item, which does not hold the old records yet.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

func migrationKey() map[string]types.AttributeValue { return pk("MIGRATION", "records-v2") }

// markMigrated records that a table needs no backfill: it was created
// by this release.
func markMigrated(ctx context.Context, db *dynamodb.Client, table string) error {
	it := migrationKey()
	it["done"], it["updated_at"] = &types.AttributeValueMemberBOOL{Value: true}, str(time.Now().UTC().Format(time.RFC3339Nano))
	_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &table, Item: it, ConditionExpression: aws.String("attribute_not_exists(PK)")})
	var ccf *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &ccf) {
		return fmt.Errorf("mark table %s migrated: %w", table, err)
	}
	return nil
}

// BackfillState says where the records backfill stands: the cursor to
// carry on from, and whether it has finished.
func (s *Store) BackfillState(ctx context.Context) (cursor string, done bool, err error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: migrationKey(), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return "", false, fmt.Errorf("read records backfill: %w", err)
	}
	done = boolAttr(out.Item, "done")
	if done {
		s.migrated.Store(true)
	}
	return strAttr(out.Item, "cursor"), done, nil
}

func (s *Store) recordsMigrated(ctx context.Context) (bool, error) {
	if s.migrated.Load() {
		return true, nil
	}
	_, done, err := s.BackfillState(ctx)
	return done, err
}

type scanCursor struct {
	PK string `json:"p"`
	SK string `json:"s"`
}

// BackfillRecords rewrites the previous release's records found in one
// Scan page of at most limit items ("" cursor: from the start), each
// conditioned on still being in the old format, and saves its progress.
// It returns the cursor of the next page; done once the scan has reached
// the end. Running it again over records already rewritten changes
// nothing.
func (s *Store) BackfillRecords(ctx context.Context, cursor string, limit int) (next string, done bool, err error) {
	if limit <= 0 {
		limit = 100
	}
	in := &dynamodb.ScanInput{TableName: &s.table, Limit: aws.Int32(int32(limit)), ConsistentRead: aws.Bool(true),
		FilterExpression:          aws.String("#e = :rec AND attribute_not_exists(#f)"),
		ExpressionAttributeNames:  map[string]string{"#e": "entity", "#f": "fmt"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":rec": str("record")}}
	if cursor != "" {
		raw, err := base64.RawURLEncoding.DecodeString(cursor)
		var c scanCursor
		if err != nil || json.Unmarshal(raw, &c) != nil || c.PK == "" || c.SK == "" {
			return "", false, badCursor()
		}
		in.ExclusiveStartKey = pk(c.PK, c.SK)
	}
	out, err := s.db.Scan(ctx, in)
	if err != nil {
		return "", false, fmt.Errorf("scan for old records: %w", err)
	}
	if err := s.upgradeRecords(ctx, out.Items); err != nil {
		return "", false, err
	}
	if len(out.LastEvaluatedKey) > 0 {
		b, _ := json.Marshal(scanCursor{PK: strAttr(out.LastEvaluatedKey, "PK"), SK: strAttr(out.LastEvaluatedKey, "SK")})
		next = base64.RawURLEncoding.EncodeToString(b)
	}
	done = next == ""
	update := "SET #c = :c, updated_at = :u"
	names := map[string]string{"#c": "cursor"}
	values := map[string]types.AttributeValue{":c": str(next), ":u": str(time.Now().UTC().Format(time.RFC3339Nano))}
	if done {
		update += ", #d = :t"
		names["#d"], values[":t"] = "done", &types.AttributeValueMemberBOOL{Value: true}
	}
	// done never goes back: a later pass does not undo the counts.
	if _, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: &s.table, Key: migrationKey(), UpdateExpression: aws.String(update),
		ExpressionAttributeNames: names, ExpressionAttributeValues: values}); err != nil {
		return "", false, fmt.Errorf("save records backfill: %w", err)
	}
	if done {
		s.migrated.Store(true)
	}
	return next, done, nil
}

// upgrade is one old record on its way to the new format.
type upgrade struct {
	integrationID string
	old           map[string]types.AttributeValue // as read
	item          map[string]types.AttributeValue // as it will be
	parts         []types.WriteRequest            // its parts at their new keys
	partsHash     string
	oldParts      []map[string]types.AttributeValue // to delete once it is rewritten
}

func (u *upgrade) size() int {
	n := 1024
	if b, ok := u.item["data"].(*types.AttributeValueMemberB); ok {
		n += len(b.Value)
	}
	return n
}

// prepareUpgrade copies an old record's parts to their new keys. A record
// whose parts are not all there (a write of the previous release cut
// short) is rewritten with no hash, so the next sync writes it again.
func (s *Store) prepareUpgrade(ctx context.Context, it map[string]types.AttributeValue) (*upgrade, error) {
	rest, hasPrefix := strings.CutPrefix(strAttr(it, "PK"), "INT#")
	id, hasSuffix := strings.CutSuffix(rest, "#REC")
	if !hasPrefix || !hasSuffix {
		return nil, nil // not a record item
	}
	u := &upgrade{integrationID: id, old: it, item: maps.Clone(it)}
	u.item["fmt"] = num(recordFormat)
	model, ext := strAttr(it, "model"), strAttr(it, "external_id")
	n := numAttr(it, "parts")
	if n == 0 {
		return u, nil
	}
	var parts [][]byte
	for i := range n {
		out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: pk(partPK(id), partSK(model, ext, "", i)), ConsistentRead: aws.Bool(true)})
		if err != nil {
			return nil, fmt.Errorf("read old record part: %w", err)
		}
		b, ok := out.Item["data"].(*types.AttributeValueMemberB)
		if !ok {
			u.item["hash"] = str("")
			return u, nil
		}
		parts = append(parts, b.Value)
	}
	u.partsHash = partsDigest(parts, strAttr(it, "changed_at"))
	u.item["parts_hash"] = str(u.partsHash)
	for i, p := range parts {
		part := pk(partPK(id), partSK(model, ext, u.partsHash, int64(i)))
		part["data"] = &types.AttributeValueMemberB{Value: p}
		u.parts = append(u.parts, types.WriteRequest{PutRequest: &types.PutRequest{Item: part}})
		u.oldParts = append(u.oldParts, pk(partPK(id), partSK(model, ext, "", int64(i))))
	}
	return u, nil
}

// upgradeRecords rewrites old record items in transactions of up to 25,
// each with the count of the live ones added to their integration's
// counts item and their old parts deleted.
func (s *Store) upgradeRecords(ctx context.Context, items []map[string]types.AttributeValue) error {
	prepare := func(items []map[string]types.AttributeValue) ([]*upgrade, error) {
		var ups []*upgrade
		var parts []types.WriteRequest
		for _, it := range items {
			u, err := s.prepareUpgrade(ctx, it)
			if err != nil {
				return nil, err
			}
			if u != nil {
				ups = append(ups, u)
				parts = append(parts, u.parts...)
			}
		}
		if err := s.batchWrite(ctx, parts); err != nil {
			return nil, fmt.Errorf("copy old record parts: %w", err)
		}
		return ups, nil
	}
	pending, err := prepare(items)
	if err != nil {
		return err
	}
	for attempt := 0; len(pending) > 0; attempt++ {
		if attempt > 0 {
			if attempt > putRetries {
				return fmt.Errorf("rewrite old records: %d kept changing", len(pending))
			}
			if err := s.pause(ctx, backoff(attempt)); err != nil {
				return err
			}
		}
		var retry []*upgrade
		var reread []map[string]types.AttributeValue
		for len(pending) > 0 {
			n := upgradeGroup(pending)
			group := pending[:n]
			pending = pending[n:]
			failed, again, err := s.commitUpgrades(ctx, group)
			if err != nil {
				return err
			}
			retry = append(retry, again...)
			for _, u := range failed {
				cur, err := s.getRecordItem(ctx, u.integrationID, strAttr(u.old, "SK"))
				if err != nil {
					return err
				}
				if u.partsHash != "" && strAttr(cur, "parts_hash") != u.partsHash {
					var reqs []types.WriteRequest
					for _, p := range u.parts {
						reqs = append(reqs, types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: pk(strAttr(p.PutRequest.Item, "PK"), strAttr(p.PutRequest.Item, "SK"))}})
					}
					_ = s.batchWrite(ctx, reqs) // copies no record names: storage only
				}
				if cur != nil && cur["fmt"] == nil {
					reread = append(reread, cur) // still old, but changed: again
				}
			}
		}
		if len(reread) > 0 {
			ups, err := prepare(reread)
			if err != nil {
				return err
			}
			retry = append(retry, ups...)
		}
		pending = retry
	}
	return nil
}

// upgradeGroup is how many of ups fit in one transaction.
func upgradeGroup(ups []*upgrade) int {
	items, bytes := 0, 0
	ints := map[string]bool{}
	for i, u := range ups {
		n := 1
		if len(u.oldParts) <= inlineDeletes {
			n += len(u.oldParts)
		}
		if !ints[u.integrationID] {
			n++ // its counts item
		}
		if i > 0 && (i == txRecords || items+n > txItems || bytes+u.size() > txBytes) {
			return i
		}
		items, bytes, ints[u.integrationID] = items+n, bytes+u.size(), true
	}
	return len(ups)
}

// commitUpgrades rewrites one group in a transaction. It returns the
// records whose condition failed and those to retry as they are; both
// nil when the group committed.
func (s *Store) commitUpgrades(ctx context.Context, group []*upgrade) (failed, again []*upgrade, err error) {
	var items []types.TransactWriteItem
	var owner []*upgrade // the record of each item, if it is its put
	counts := map[string]map[string]int64{}
	var later []types.WriteRequest
	for _, u := range group {
		items = append(items, types.TransactWriteItem{Put: &types.Put{TableName: &s.table, Item: u.item,
			ConditionExpression:       aws.String("attribute_not_exists(#f) AND #ca = :ca AND #h = :h"),
			ExpressionAttributeNames:  map[string]string{"#f": "fmt", "#ca": "changed_at", "#h": "hash"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":ca": str(strAttr(u.old, "changed_at")), ":h": str(strAttr(u.old, "hash"))}}})
		owner = append(owner, u)
		for _, k := range u.oldParts {
			if len(u.oldParts) > inlineDeletes {
				later = append(later, types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: k}})
				continue
			}
			items, owner = append(items, types.TransactWriteItem{Delete: &types.Delete{TableName: &s.table, Key: k}}), append(owner, nil)
		}
		if counts[u.integrationID] == nil {
			counts[u.integrationID] = map[string]int64{}
		}
		if !boolAttr(u.old, "deleted") {
			counts[u.integrationID][strAttr(u.old, "model")]++
		}
	}
	for id, c := range counts {
		if update, names, values := addUpdate("n_", c); update != "" {
			items = append(items, types.TransactWriteItem{Update: &types.Update{TableName: &s.table, Key: countKey(id), UpdateExpression: aws.String("ADD " + update),
				ExpressionAttributeNames: names, ExpressionAttributeValues: values}})
			owner = append(owner, nil)
		}
	}
	_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	if err == nil {
		if err := s.batchWrite(ctx, later); err != nil {
			return nil, nil, fmt.Errorf("delete old record parts: %w", err)
		}
		return nil, nil, nil
	}
	var tce *types.TransactionCanceledException
	if !errors.As(err, &tce) {
		return nil, nil, fmt.Errorf("rewrite old records: %w", err)
	}
	bad := map[*upgrade]bool{}
	for i, reason := range tce.CancellationReasons {
		if i < len(owner) && owner[i] != nil && aws.ToString(reason.Code) == "ConditionalCheckFailed" {
			bad[owner[i]] = true
			failed = append(failed, owner[i])
		}
		if aws.ToString(reason.Code) == "ValidationError" {
			return nil, nil, fmt.Errorf("rewrite old records: %w", err)
		}
	}
	for _, u := range group {
		if !bad[u] {
			again = append(again, u)
		}
	}
	return failed, again, nil
}
