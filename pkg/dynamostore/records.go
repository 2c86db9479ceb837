package dynamostore

// Record items (PK / SK):
//
//	record       INT#<id>#REC / <model>#<external id>
//	             (fmt=2, hash, data or parts_hash+parts, gz, deleted, changed_at, modified_at, local_id)
//	             GSI1: INT#<id>#FEED#<model> / <changed at>#<external id>   (the change feed)
//	             GSI2: ACCT#<account>#SITE#<site>#FEED#<model> / <changed at>#<id>#<external id>
//	                   (the site feed, sitefeed.go: written when the write names the site)
//	record part  INT#<id>#RECPART / <model>#<external id>#<parts_hash>#<n>  (data too big for one item)
//	outbox       INT#<id>#OUTBOX / <model>#<external id>#<changed at>       (type; TTL)
//	job deltas   INT#<id>#RUN#<run>#DELTA / <job id>                        (d_<model>, v: applied by CompleteJob, or swept when the run stops)
//	counts       INT#<id>#COUNT / COUNT                                     (n_<model>: records not deleted)
//	retry set    INT#<id>#RETRY / <model>#<external id>                     (why)
//	purged       INT#<id>#PURGED / PURGED                                   (TTL: no write lands after a delete)
//
// Records written by the previous release have no fmt and their parts are
// at <model>#<external id>#<n>; readers handle both until BackfillRecords
// has rewritten them. A part key names one write (a digest of the data and
// its changed_at), so deleting a superseded version's parts can never
// remove the parts of a later write of the same content.

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/joinery/joinery/pkg/integration"
)

const (
	// recordFormat marks record items written by this release: counted in
	// the counts item, parts at content-addressed keys.
	recordFormat = 2
	// OutboxRetention is how long the outbox keeps a change (DynamoDB TTL).
	OutboxRetention = 30 * 24 * time.Hour
	// purgedRetention is how long a deleted integration's writes stay
	// refused: longer than any of its messages can live in a queue.
	purgedRetention = 30 * 24 * time.Hour
	// A transaction holds at most 100 items and 4 MB.
	txRecords  = 25
	txBytes    = 3_500_000
	txItems    = 100
	putRetries = 8
)

func outboxPK(id string) string     { return "INT#" + id + "#OUTBOX" }
func deltaPK(id, run string) string { return "INT#" + id + "#RUN#" + run + "#DELTA" }
func retryPK(id string) string      { return "INT#" + id + "#RETRY" }
func countKey(id string) map[string]types.AttributeValue {
	return pk("INT#"+id+"#COUNT", "COUNT")
}
func purgedKey(id string) map[string]types.AttributeValue {
	return pk("INT#"+id+"#PURGED", "PURGED")
}

// partSK is the key of part n of a record's data; without a parts hash,
// the previous release's layout.
func partSK(model, ext, partsHash string, n int64) string {
	if partsHash == "" {
		return fmt.Sprintf("%s#%d", recSK(model, ext), n)
	}
	return fmt.Sprintf("%s#%s#%d", recSK(model, ext), partsHash, n)
}

func boolAttr(av map[string]types.AttributeValue, name string) bool {
	b, ok := av[name].(*types.AttributeValueMemberBOOL)
	return ok && b.Value
}

func backoff(attempt int) time.Duration {
	return time.Duration(min(attempt, 6)) * 50 * time.Millisecond
}

// recState is what PutRecords decides on: the stored record, as read.
type recState struct {
	exists  bool
	counted bool // fmt = 2: in the counts item
	deleted bool
	hash    string
	// changedAt and modifiedAt are as stored (feedTime), compared as strings.
	changedAt  string
	modifiedAt string
	parts      int64
	partsHash  string
	localID    string
	// sitePK is the site feed the record is in ("": none).
	sitePK string
}

func stateOf(it map[string]types.AttributeValue) recState {
	if it == nil {
		return recState{}
	}
	return recState{exists: true, counted: numAttr(it, "fmt") == recordFormat, deleted: boolAttr(it, "deleted"), hash: strAttr(it, "hash"),
		changedAt: strAttr(it, "changed_at"), modifiedAt: strAttr(it, "modified_at"), parts: numAttr(it, "parts"), partsHash: strAttr(it, "parts_hash"),
		localID: strAttr(it, "local_id"), sitePK: strAttr(it, "GSI2PK")}
}

// partKeys are the keys of the parts the stored record names.
func (st recState) partKeys(integrationID, model, ext string) []map[string]types.AttributeValue {
	keys := make([]map[string]types.AttributeValue, 0, st.parts)
	for n := range st.parts {
		keys = append(keys, pk(partPK(integrationID), partSK(model, ext, st.partsHash, n)))
	}
	return keys
}

type verdict int

const (
	vWrite     verdict = iota
	vUnchanged         // same hash stored
	vMine              // exactly this write is stored: an attempt whose answer was lost
	vStale             // the stored one is newer
)

// decide judges a write of r over the stored state; for a write, it sets
// r.ChangedAt to the stamp it is written with (see integration.Supersede).
func decide(st recState, r *integration.StoredRecord) verdict {
	if !st.exists {
		return vWrite
	}
	if st.hash == r.Hash && (r.LocalID == "" || r.LocalID == st.localID) {
		if st.changedAt == feedTime(r.ChangedAt) {
			return vMine
		}
		return vUnchanged
	}
	stale, stamp := integration.Supersede(parseFeedTime(st.modifiedAt), parseFeedTime(st.changedAt), r.ModifiedAt, r.ChangedAt)
	if stale {
		return vStale
	}
	r.ChangedAt = stamp
	return vWrite
}

// parseFeedTime reads a stored time; "" (or anything unreadable) is the
// zero time.
func parseFeedTime(s string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}

var stateNames = map[string]string{"#pk": "PK", "#sk": "SK", "#h": "hash", "#ca": "changed_at", "#ma": "modified_at", "#f": "fmt",
	"#p": "parts", "#ph": "parts_hash", "#d": "deleted", "#l": "local_id", "#g2": "GSI2PK"}

// readStates reads the stored state of records by sort key, strongly
// consistent, 100 keys a request. Absent records are left out.
func (s *Store) readStates(ctx context.Context, integrationID string, sks []string) (map[string]recState, error) {
	states := make(map[string]recState, len(sks))
	for i := 0; i < len(sks); i += 100 {
		keys := make([]map[string]types.AttributeValue, 0, 100)
		for _, sk := range sks[i:min(i+100, len(sks))] {
			keys = append(keys, pk(recPK(integrationID), sk))
		}
		pending := map[string]types.KeysAndAttributes{s.table: {Keys: keys, ProjectionExpression: aws.String("#pk, #sk, #h, #ca, #ma, #f, #p, #ph, #d, #l, #g2"),
			ExpressionAttributeNames: stateNames, ConsistentRead: aws.Bool(true)}}
		for attempt := 0; len(pending[s.table].Keys) > 0; attempt++ {
			if attempt > 0 {
				if attempt > 20 {
					return nil, fmt.Errorf("read records: keys left unprocessed")
				}
				if err := s.pause(ctx, backoff(attempt)); err != nil {
					return nil, err
				}
			}
			out, err := s.db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: pending})
			if err != nil {
				return nil, fmt.Errorf("read records: %w", err)
			}
			for _, it := range out.Responses[s.table] {
				states[strAttr(it, "SK")] = stateOf(it)
			}
			pending = out.UnprocessedKeys
		}
	}
	return states, nil
}

// recWrite is one record on its way in.
type recWrite struct {
	rec       integration.StoredRecord
	sk        string
	st        recState // the state its write is conditioned on
	stored    []byte   // the data kept in the item (nil: in parts)
	gz        bool
	parts     [][]byte
	partsHash string
	site      *integration.SiteRef // the site feed it joins (nil: none)
}

func (w *recWrite) encode() error {
	stored, gz, parts, err := encodeData(w.rec.Data)
	if err != nil {
		return fmt.Errorf("encode record %s: %w", w.rec.ExternalID, err)
	}
	w.stored, w.gz, w.parts = stored, gz, parts
	if len(parts) > 0 {
		w.partsHash = partsDigest(parts, feedTime(w.rec.ChangedAt))
	}
	return nil
}

// partsDigest names one write's parts: its data and its changed_at.
func partsDigest(parts [][]byte, changedAt string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write(p)
	}
	h.Write([]byte(changedAt))
	return hex.EncodeToString(h.Sum(nil)[:8])
}

func (w *recWrite) partItems(integrationID string) []types.WriteRequest {
	reqs := make([]types.WriteRequest, 0, len(w.parts))
	for n, p := range w.parts {
		part := pk(partPK(integrationID), partSK(w.rec.Model, w.rec.ExternalID, w.partsHash, int64(n)))
		part["data"] = &types.AttributeValueMemberB{Value: p}
		reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: part}})
	}
	return reqs
}

func (w *recWrite) item(integrationID string) map[string]types.AttributeValue {
	r := w.rec
	item := pk(recPK(integrationID), w.sk)
	item["entity"], item["model"], item["external_id"], item["hash"] = str("record"), str(r.Model), str(r.ExternalID), str(r.Hash)
	item["deleted"] = &types.AttributeValueMemberBOOL{Value: r.Deleted}
	item["changed_at"] = str(feedTime(r.ChangedAt))
	item["GSI1PK"], item["GSI1SK"] = str(feedPK(integrationID, r.Model)), str(feedSK(r.ChangedAt, r.ExternalID))
	// A write that names no site keeps the record in the site feed it is in.
	if sitePK := w.sitePK(); sitePK != "" {
		item["GSI2PK"], item["GSI2SK"] = str(sitePK), str(siteFeedSK(r.ChangedAt, integrationID, r.ExternalID))
	}
	item["gz"] = &types.AttributeValueMemberBOOL{Value: w.gz}
	item["parts"] = num(int64(len(w.parts)))
	item["fmt"] = num(recordFormat)
	if len(w.parts) > 0 {
		item["parts_hash"] = str(w.partsHash)
	}
	if w.stored != nil {
		item["data"] = &types.AttributeValueMemberB{Value: w.stored}
	}
	if !r.ModifiedAt.IsZero() {
		item["modified_at"] = str(feedTime(r.ModifiedAt))
	}
	// A write without a local id keeps the one stored.
	if id := cmp.Or(r.LocalID, w.st.localID); id != "" {
		item["local_id"] = str(id)
	}
	return item
}

// size is about what the record's items weigh in a transaction.
func (w *recWrite) size() int { return len(w.stored) + 4*len(w.sk) + 512 }

// superseded are the parts of the stored version the write replaces.
func (w *recWrite) superseded(integrationID string) []map[string]types.AttributeValue {
	if w.st.partsHash == w.partsHash && w.st.partsHash != "" {
		return nil // the same write: the parts are its own
	}
	return w.st.partKeys(integrationID, w.rec.Model, w.rec.ExternalID)
}

// A record whose superseded parts are more than this many has them
// deleted after its transaction instead of in it.
const inlineDeletes = 40

// PutRecords writes, per integration, the records that changed: their
// parts first, then the record items in transactions conditioned on the
// state read, each with its outbox entry and count delta.
func (s *Store) PutRecords(ctx context.Context, scope integration.WriteScope, recs []integration.StoredRecord) (integration.PutResult, error) {
	var res integration.PutResult
	byInt := map[string][]integration.StoredRecord{}
	var ids []string
	for _, r := range recs {
		if _, ok := byInt[r.IntegrationID]; !ok {
			ids = append(ids, r.IntegrationID)
		}
		byInt[r.IntegrationID] = append(byInt[r.IntegrationID], r)
	}
	for _, id := range ids {
		r, err := s.putRecords(ctx, scope, id, byInt[id])
		res.Written += r.Written
		res.Stale += r.Stale
		if err != nil {
			return res, err
		}
	}
	return res, nil
}

func (s *Store) putRecords(ctx context.Context, scope integration.WriteScope, integrationID string, recs []integration.StoredRecord) (integration.PutResult, error) {
	// A record given more than once is written in turn: its second
	// occurrence in a second round, and so on.
	var res integration.PutResult
	for len(recs) > 0 {
		seen := map[string]bool{}
		var round, rest []integration.StoredRecord
		for _, r := range recs {
			if k := recSK(r.Model, r.ExternalID); !seen[k] {
				seen[k] = true
				round = append(round, r)
			} else {
				rest = append(rest, r)
			}
		}
		r, err := s.putRound(ctx, scope, integrationID, round)
		res.Written += r.Written
		res.Stale += r.Stale
		if err != nil {
			return res, err
		}
		recs = rest
	}
	return res, nil
}

// putRound writes records of distinct keys.
func (s *Store) putRound(ctx context.Context, scope integration.WriteScope, integrationID string, recs []integration.StoredRecord) (integration.PutResult, error) {
	var res integration.PutResult
	all := make([]*recWrite, len(recs))
	for i, r := range recs {
		all[i] = &recWrite{rec: r, sk: recSK(r.Model, r.ExternalID), site: scope.Site}
	}
	sks := make([]string, len(all))
	for i, w := range all {
		sks[i] = w.sk
	}
	states, err := s.readStates(ctx, integrationID, sks)
	if err != nil {
		return res, err
	}
	var pending, joins []*recWrite
	for _, w := range all {
		w.st = states[w.sk]
		switch decide(w.st, &w.rec) {
		case vStale:
			res.Stale++
		case vWrite:
			if err := w.encode(); err != nil {
				return res, err
			}
			pending = append(pending, w)
		case vUnchanged:
			if w.site != nil && w.st.sitePK == "" {
				joins = append(joins, w)
			}
		}
	}
	if err := s.joinSiteFeed(ctx, integrationID, joins); err != nil {
		return res, err
	}
	to := writeTo{scope: scope}
	if len(pending) > 0 && scope.RunID != "" && scope.JobID != "" {
		out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: pk(jobPK(integrationID, scope.RunID), scope.JobID),
			ConsistentRead: aws.Bool(true), ProjectionExpression: aws.String("PK")})
		if err != nil {
			return res, fmt.Errorf("read job: %w", err)
		}
		to.job = out.Item == nil
	}
	// Every part is written before any record naming it.
	var partReqs []types.WriteRequest
	for _, w := range pending {
		partReqs = append(partReqs, w.partItems(integrationID)...)
	}
	if err := s.batchWrite(ctx, partReqs); err != nil {
		return res, fmt.Errorf("write record parts: %w", err)
	}
	var dropped []*recWrite // their parts, if any, are named by no record
	defer func() {
		var reqs []types.WriteRequest
		for _, w := range dropped {
			if len(w.parts) > 0 && w.st.partsHash != w.partsHash {
				for n := range w.parts {
					reqs = append(reqs, types.WriteRequest{DeleteRequest: &types.DeleteRequest{
						Key: pk(partPK(integrationID), partSK(w.rec.Model, w.rec.ExternalID, w.partsHash, int64(n)))}})
				}
			}
		}
		_ = s.batchWrite(context.WithoutCancel(ctx), reqs) // a leftover part costs storage only
	}()
	for attempt := 0; len(pending) > 0; attempt++ {
		if attempt > 0 {
			if attempt > putRetries {
				dropped = append(dropped, pending...)
				return res, fmt.Errorf("write records: %d records kept changing under concurrent writes", len(pending))
			}
			if err := s.pause(ctx, backoff(attempt)); err != nil {
				return res, fmt.Errorf("write records: %w", err)
			}
		}
		var retry, reread []*recWrite
		for len(pending) > 0 {
			n := groupSize(integrationID, scope, pending)
			group := pending[:n]
			pending = pending[n:]
			failed, again, err := s.commitRecords(ctx, to, integrationID, group)
			if errors.Is(err, errJobChanged) {
				to.job = !to.job // it completed meanwhile (or its marker expired)
				retry = append(retry, group...)
				continue
			}
			if errors.Is(err, integration.ErrRunStopped) {
				// Refused for good: nothing of this call lands any more.
				dropped = append(append(append(append(dropped, group...), pending...), retry...), reread...)
			}
			if err != nil {
				return res, err
			}
			if failed == nil && again == nil {
				res.Written += len(group)
				continue
			}
			retry = append(retry, again...)
			reread = append(reread, failed...)
		}
		if len(reread) > 0 {
			sks := make([]string, len(reread))
			for i, w := range reread {
				sks[i] = w.sk
			}
			states, err := s.readStates(ctx, integrationID, sks)
			if err != nil {
				return res, err
			}
			for _, w := range reread {
				w.st = states[w.sk]
				switch decide(w.st, &w.rec) {
				case vWrite:
					retry = append(retry, w)
				case vMine:
					res.Written++
				case vStale:
					res.Stale++
					dropped = append(dropped, w)
				default:
					dropped = append(dropped, w)
				}
			}
		}
		pending = retry
	}
	return res, nil
}

// fixedItems counts the items a record transaction holds besides records:
// run, job and purge checks, and the deltas.
func fixedItems(scope integration.WriteScope) int {
	if scope.RunID != "" {
		return 4
	}
	return 2
}

// writeTo says where a write's count deltas go: with the job until it
// completes (job), or to the counts item at once.
type writeTo struct {
	scope integration.WriteScope
	// job: the scope names a job not completed yet. A job completed
	// already (a redelivery after its completion) will not apply deltas
	// again, so its writes count at once.
	job bool
}

// groupSize is how many of ws fit in one transaction.
func groupSize(integrationID string, scope integration.WriteScope, ws []*recWrite) int {
	items, bytes := fixedItems(scope), 0
	for i, w := range ws {
		n := 2
		if old := len(w.superseded(integrationID)); old <= inlineDeletes {
			n += old
		}
		if i > 0 && (i == txRecords || items+n > txItems || bytes+w.size() > txBytes) {
			return i
		}
		items, bytes = items+n, bytes+w.size()
	}
	return len(ws)
}

// addUpdate returns an ADD of deltas to attributes prefix+model.
func addUpdate(prefix string, deltas map[string]int64) (string, map[string]string, map[string]types.AttributeValue) {
	var adds []string
	names := map[string]string{}
	values := map[string]types.AttributeValue{}
	i := 0
	for m, d := range deltas {
		if d == 0 {
			continue
		}
		adds = append(adds, fmt.Sprintf("#m%d :m%d", i, i))
		names[fmt.Sprintf("#m%d", i)], values[fmt.Sprintf(":m%d", i)] = prefix+m, num(d)
		i++
	}
	if len(adds) == 0 {
		return "", nil, nil
	}
	return strings.Join(adds, ", "), names, values
}

type txRole int

const (
	roleOther  txRole = iota
	roleStop          // a check that the write's run or integration is still there
	roleRecord        // the record's own items: its put, its outbox entry
	roleJob           // the check that the job is (not) completed
)

// errJobChanged: the job completed between the write's read and its
// transaction.
var errJobChanged = errors.New("the job's completion changed")

// commitRecords writes one group in a transaction. It returns the
// records whose condition failed (to read again) and those to retry as
// they are; both nil when the group committed.
func (s *Store) commitRecords(ctx context.Context, to writeTo, integrationID string, group []*recWrite) (failed, again []*recWrite, err error) {
	scope := to.scope
	var items []types.TransactWriteItem
	type role struct {
		r txRole
		w *recWrite
	}
	var roles []role
	add := func(r txRole, w *recWrite, it types.TransactWriteItem) {
		items, roles = append(items, it), append(roles, role{r, w})
	}
	if scope.RunID != "" {
		add(roleStop, nil, types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{TableName: &s.table, Key: pk(runPK(integrationID), scope.RunID),
			ConditionExpression: aws.String("#s = :running"), ExpressionAttributeNames: map[string]string{"#s": "status"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":running": str(string(integration.RunRunning))}}})
	}
	add(roleStop, nil, types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{TableName: &s.table, Key: purgedKey(integrationID),
		ConditionExpression: aws.String("attribute_not_exists(PK)")}})
	if scope.RunID != "" && scope.JobID != "" {
		cond := "attribute_exists(PK)"
		if to.job {
			cond = "attribute_not_exists(PK)"
		}
		add(roleJob, nil, types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{TableName: &s.table, Key: pk(jobPK(integrationID, scope.RunID), scope.JobID),
			ConditionExpression: aws.String(cond)}})
	}
	deltas := map[string]int64{}
	var later []types.WriteRequest // superseded parts too many for the transaction
	for _, w := range group {
		_, d := integration.Transition(w.st.exists, w.st.deleted, w.st.counted, w.rec.Deleted)
		deltas[w.rec.Model] += d
		names := map[string]string{}
		values := map[string]types.AttributeValue{}
		cond := "attribute_not_exists(PK)"
		if w.st.exists {
			cond = "#ca = :ca AND #h = :h"
			names["#ca"], names["#h"] = "changed_at", "hash"
			values[":ca"], values[":h"] = str(w.st.changedAt), str(w.st.hash)
			names["#ma"] = "modified_at"
			if w.rec.ModifiedAt.IsZero() {
				cond += " AND attribute_not_exists(#ma)"
			} else {
				cond += " AND (attribute_not_exists(#ma) OR #ma <= :ma)"
				values[":ma"] = str(feedTime(w.rec.ModifiedAt))
			}
		}
		put := &types.Put{TableName: &s.table, Item: w.item(integrationID), ConditionExpression: aws.String(cond)}
		if len(names) > 0 {
			put.ExpressionAttributeNames, put.ExpressionAttributeValues = names, values
		}
		add(roleRecord, w, types.TransactWriteItem{Put: put})
		ob := pk(outboxPK(integrationID), w.sk+"#"+feedTime(w.rec.ChangedAt))
		change, _ := integration.Transition(w.st.exists, w.st.deleted, w.st.counted, w.rec.Deleted)
		ob["type"], ob["model"], ob["external_id"] = str(change), str(w.rec.Model), str(w.rec.ExternalID)
		ob["changed_at"], ob["expires_at"] = str(feedTime(w.rec.ChangedAt)), expiresIn(OutboxRetention)
		markPending(ob, integrationID, feedTime(w.rec.ChangedAt))
		if scope.AccountID != "" {
			ob["account_id"] = str(scope.AccountID)
		}
		add(roleRecord, w, types.TransactWriteItem{Put: &types.Put{TableName: &s.table, Item: ob, ConditionExpression: aws.String("attribute_not_exists(PK)")}})
		old := w.superseded(integrationID)
		for _, k := range old {
			if len(old) > inlineDeletes {
				later = append(later, types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: k}})
				continue
			}
			add(roleOther, nil, types.TransactWriteItem{Delete: &types.Delete{TableName: &s.table, Key: k}})
		}
	}
	if to.job {
		// Kept with the job until CompleteJob applies it, once.
		if update, names, values := addUpdate("d_", deltas); update != "" {
			names["#v"], values[":one"], values[":exp"] = "v", num(1), expiresIn(markerRetention)
			add(roleOther, nil, types.TransactWriteItem{Update: &types.Update{TableName: &s.table, Key: pk(deltaPK(integrationID, scope.RunID), scope.JobID),
				UpdateExpression: aws.String("ADD " + update + ", #v :one SET expires_at = :exp"), ExpressionAttributeNames: names, ExpressionAttributeValues: values}})
		}
	} else if update, names, values := addUpdate("n_", deltas); update != "" {
		add(roleOther, nil, types.TransactWriteItem{Update: &types.Update{TableName: &s.table, Key: countKey(integrationID),
			UpdateExpression: aws.String("ADD " + update), ExpressionAttributeNames: names, ExpressionAttributeValues: values}})
	}
	_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	if err == nil {
		if err := s.batchWrite(ctx, later); err != nil {
			return nil, nil, fmt.Errorf("delete superseded record parts: %w", err)
		}
		return nil, nil, nil
	}
	var tce *types.TransactionCanceledException
	if !errors.As(err, &tce) {
		return nil, nil, fmt.Errorf("write records: %w", err)
	}
	seen := map[*recWrite]bool{}
	jobChanged := false
	for i, reason := range tce.CancellationReasons {
		if i >= len(roles) {
			break
		}
		switch code := aws.ToString(reason.Code); code {
		case "", "None":
		case "ConditionalCheckFailed":
			switch roles[i].r {
			case roleStop:
				return nil, nil, integration.ErrRunStopped
			case roleJob:
				jobChanged = true
			case roleRecord:
				if !seen[roles[i].w] {
					seen[roles[i].w] = true
					failed = append(failed, roles[i].w)
				}
			}
		case "ValidationError":
			return nil, nil, fmt.Errorf("write records: %w", err)
		}
	}
	if jobChanged {
		return nil, nil, errJobChanged
	}
	for _, w := range group {
		if !seen[w] {
			again = append(again, w)
		}
	}
	if failed == nil && again == nil {
		again = group // cancelled without a reason given: try again
	}
	return failed, again, nil
}

// encodeData returns what an item stores of a record's data: as is,
// gzipped, or gzipped and cut into parts.
func encodeData(data []byte) (stored []byte, gz bool, parts [][]byte, err error) {
	if len(data) <= compressAbove {
		return data, false, nil, nil
	}
	z, err := gzipBytes(data)
	if err != nil {
		return nil, false, nil, err
	}
	if len(z) <= partSize {
		return z, true, nil, nil
	}
	for len(z) > 0 {
		n := min(partSize, len(z))
		parts = append(parts, z[:n])
		z = z[n:]
	}
	return nil, true, parts, nil
}

func decodeData(stored []byte, gz bool) ([]byte, error) {
	if !gz {
		return stored, nil
	}
	r, err := gzip.NewReader(bytes.NewReader(stored))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

// batchWrite writes requests 25 at a time, retrying unprocessed ones
// with a growing pause.
func (s *Store) batchWrite(ctx context.Context, reqs []types.WriteRequest) error {
	for len(reqs) > 0 {
		n := min(25, len(reqs))
		pending := map[string][]types.WriteRequest{s.table: reqs[:n]}
		reqs = reqs[n:]
		for attempt := 0; len(pending[s.table]) > 0; attempt++ {
			if attempt > 0 {
				if attempt > 20 {
					return fmt.Errorf("batch write: items left unprocessed")
				}
				if err := s.pause(ctx, backoff(attempt)); err != nil {
					return err
				}
			}
			out, err := s.db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: pending})
			if err != nil {
				return err
			}
			pending = out.UnprocessedItems
		}
	}
	return nil
}

// unreadable is a record whose stored data cannot be read back.
type unreadable struct{ why string }

func (u *unreadable) Error() string { return u.why }

func recordMeta(integrationID string, it map[string]types.AttributeValue) (integration.StoredRecord, error) {
	r := integration.StoredRecord{IntegrationID: integrationID, Model: strAttr(it, "model"), ExternalID: strAttr(it, "external_id"),
		Hash: strAttr(it, "hash"), Deleted: boolAttr(it, "deleted"), LocalID: strAttr(it, "local_id")}
	t, err := time.Parse(time.RFC3339Nano, strAttr(it, "changed_at"))
	if err != nil {
		return r, fmt.Errorf("record %s changed_at: %w", r.ExternalID, err)
	}
	r.ChangedAt = t
	if raw := strAttr(it, "modified_at"); raw != "" {
		if r.ModifiedAt, err = time.Parse(time.RFC3339Nano, raw); err != nil {
			return r, fmt.Errorf("record %s modified_at: %w", r.ExternalID, err)
		}
	}
	return r, nil
}

// recordData reads a record's data from its item or its parts, in either
// format. An *unreadable error says the data is missing or corrupt.
func (s *Store) recordData(ctx context.Context, integrationID string, it map[string]types.AttributeValue) ([]byte, error) {
	model, ext := strAttr(it, "model"), strAttr(it, "external_id")
	var stored []byte
	if n := numAttr(it, "parts"); n > 0 {
		ph := strAttr(it, "parts_hash")
		for i := range n {
			out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: pk(partPK(integrationID), partSK(model, ext, ph, i)), ConsistentRead: aws.Bool(true)})
			if err != nil {
				return nil, fmt.Errorf("record part: %w", err)
			}
			b, ok := out.Item["data"].(*types.AttributeValueMemberB)
			if !ok {
				return nil, &unreadable{fmt.Sprintf("part %d of %d of the record's data is missing", i+1, n)}
			}
			stored = append(stored, b.Value...)
		}
	} else if b, ok := it["data"].(*types.AttributeValueMemberB); ok {
		stored = b.Value
	}
	data, err := decodeData(stored, boolAttr(it, "gz"))
	if err != nil {
		return nil, &unreadable{fmt.Sprintf("the record's data is corrupt: %v", err)}
	}
	return data, nil
}

func (s *Store) getRecordItem(ctx context.Context, integrationID, sk string) (map[string]types.AttributeValue, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: pk(recPK(integrationID), sk), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, fmt.Errorf("get record: %w", err)
	}
	return out.Item, nil
}

// sameVersion reports whether two record items are the same write.
func sameVersion(a, b map[string]types.AttributeValue) bool {
	return strAttr(a, "changed_at") == strAttr(b, "changed_at") && strAttr(a, "hash") == strAttr(b, "hash")
}

// GetRecord reads one record and its data. A record whose parts vanish
// while it is read was just replaced: it is read again.
func (s *Store) GetRecord(ctx context.Context, integrationID, model, externalID string) (*integration.StoredRecord, error) {
	sk := recSK(model, externalID)
	it, err := s.getRecordItem(ctx, integrationID, sk)
	if err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		if it == nil {
			return nil, integration.Errorf(integration.ENOTFOUND, "Record %s %q not found.", model, externalID)
		}
		r, err := recordMeta(integrationID, it)
		if err != nil {
			return nil, err
		}
		data, err := s.recordData(ctx, integrationID, it)
		var u *unreadable
		if errors.As(err, &u) {
			if attempt < 3 {
				again, gerr := s.getRecordItem(ctx, integrationID, sk)
				if gerr != nil {
					return nil, gerr
				}
				if again == nil || !sameVersion(it, again) {
					it = again
					continue
				}
			}
			r.Unreadable = u.why
			return &r, nil
		}
		if err != nil {
			return nil, err
		}
		r.Data = data
		return &r, nil
	}
}

type feedCursor struct {
	S string `json:"s"` // GSI1SK of the last item
	K string `json:"k"` // its external id
}

// ListRecords queries the change feed index. The index is eventually
// consistent: a record written a moment ago may show up a moment later
// (see the README). A listed record whose parts are gone was replaced
// meanwhile: it is left out here and listed at its new place.
func (s *Store) ListRecords(ctx context.Context, q integration.RecordQuery) ([]integration.StoredRecord, string, error) {
	var c *feedCursor
	if q.Cursor != "" {
		raw, err := base64.RawURLEncoding.DecodeString(q.Cursor)
		c = &feedCursor{}
		if err != nil || json.Unmarshal(raw, c) != nil || c.S == "" || c.K == "" || !strings.HasSuffix(c.S, "#"+c.K) {
			return nil, "", badCursor()
		}
	}
	values := map[string]types.AttributeValue{":pk": str(feedPK(q.IntegrationID, q.Model))}
	// '$' sorts after '#': past every key at that exact time; keys at
	// Before ("<Before>#id") sort after "<Before>".
	lower, upper := "", ""
	if !q.ChangedAfter.IsZero() {
		lower = feedTime(q.ChangedAfter) + "$"
	}
	if !q.Before.IsZero() {
		upper = feedTime(q.Before)
	}
	if c != nil && c.S <= lower {
		c = nil // a cursor from before the lower bound: start there
	}
	if c != nil {
		lower = "" // the cursor is past the lower bound
	}
	if (upper != "" && lower != "" && lower >= upper) || (upper != "" && c != nil && c.S >= upper) {
		return []integration.StoredRecord{}, "", nil
	}
	cond := "GSI1PK = :pk"
	switch {
	case lower != "" && upper != "":
		cond += " AND GSI1SK BETWEEN :lo AND :hi"
		values[":lo"], values[":hi"] = str(lower), str(upper)
	case lower != "":
		cond += " AND GSI1SK > :lo"
		values[":lo"] = str(lower)
	case upper != "":
		cond += " AND GSI1SK < :hi"
		values[":hi"] = str(upper)
	}
	in := &dynamodb.QueryInput{TableName: &s.table, IndexName: aws.String("GSI1"), Limit: aws.Int32(int32(q.Limit)),
		KeyConditionExpression: aws.String(cond), ExpressionAttributeValues: values}
	if c != nil {
		in.ExclusiveStartKey = map[string]types.AttributeValue{"GSI1PK": str(feedPK(q.IntegrationID, q.Model)), "GSI1SK": str(c.S),
			"PK": str(recPK(q.IntegrationID)), "SK": str(recSK(q.Model, c.K))}
	}
	out, err := s.db.Query(ctx, in)
	if err != nil {
		return nil, "", fmt.Errorf("list records: %w", err)
	}
	recs := make([]integration.StoredRecord, 0, len(out.Items))
	var kept map[string]types.AttributeValue // the item of the last record kept
	stopped := false
	for _, it := range out.Items {
		r, err := recordMeta(q.IntegrationID, it)
		if err != nil {
			r.Unreadable = err.Error()
		} else {
			data, err := s.recordData(ctx, q.IntegrationID, it)
			var u *unreadable
			if errors.As(err, &u) {
				cur, gerr := s.getRecordItem(ctx, q.IntegrationID, recSK(r.Model, r.ExternalID))
				if gerr != nil {
					return nil, "", gerr
				}
				if cur == nil || !sameVersion(it, cur) {
					continue
				}
				data, err = s.recordData(ctx, q.IntegrationID, cur)
			}
			if errors.As(err, &u) {
				r.Unreadable = u.why
			} else if err != nil {
				return nil, "", err
			} else {
				r.Data = data
			}
		}
		if q.Take != nil && !q.Take(&r) && len(recs) > 0 {
			stopped = true
			break
		}
		recs = append(recs, r)
		kept = it
	}
	// The next page starts after the last record kept when Take ended
	// this one, else after the last item the query read.
	var after map[string]types.AttributeValue
	if stopped {
		after = kept
	} else if len(out.LastEvaluatedKey) > 0 && len(out.Items) > 0 {
		after = out.Items[len(out.Items)-1]
	}
	next := ""
	if after != nil {
		b, _ := json.Marshal(feedCursor{S: strAttr(after, "GSI1SK"), K: strAttr(after, "external_id")})
		next = base64.RawURLEncoding.EncodeToString(b)
	}
	return recs, next, nil
}

// CountRecords reads the model's counter from the counts item; on a
// table whose records backfill has not finished, it counts with a COUNT
// query over the model's key range instead.
func (s *Store) CountRecords(ctx context.Context, integrationID, model string) (int64, error) {
	done, err := s.recordsMigrated(ctx)
	if err != nil {
		return 0, err
	}
	if !done {
		n, err := s.count(ctx, &dynamodb.QueryInput{
			KeyConditionExpression:    aws.String("PK = :pk AND begins_with(SK, :m)"),
			FilterExpression:          aws.String("deleted = :f"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(recPK(integrationID)), ":m": str(model + "#"), ":f": &types.AttributeValueMemberBOOL{Value: false}}})
		if err != nil {
			return 0, fmt.Errorf("count records: %w", err)
		}
		return n, nil
	}
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: countKey(integrationID), ConsistentRead: aws.Bool(true),
		ProjectionExpression: aws.String("#n"), ExpressionAttributeNames: map[string]string{"#n": "n_" + model}})
	if err != nil {
		return 0, fmt.Errorf("count records: %w", err)
	}
	return max(numAttr(out.Item, "n_"+model), 0), nil
}

type changeCursor struct {
	K string `json:"k"` // the last entry's sort key
}

// ListChanges queries the outbox partition in key order, leaving out
// entries past their TTL that DynamoDB has not removed yet.
func (s *Store) ListChanges(ctx context.Context, integrationID string, limit int, cursor string) ([]integration.RecordChange, string, error) {
	if limit <= 0 {
		limit = 100
	}
	in := &dynamodb.QueryInput{TableName: &s.table, KeyConditionExpression: aws.String("PK = :pk"), ConsistentRead: aws.Bool(true),
		Limit: aws.Int32(int32(limit)), FilterExpression: aws.String("expires_at > :now"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(outboxPK(integrationID)), ":now": num(time.Now().Unix())}}
	if cursor != "" {
		raw, err := base64.RawURLEncoding.DecodeString(cursor)
		var c changeCursor
		if err != nil || json.Unmarshal(raw, &c) != nil || c.K == "" || len(c.K) > 2048 {
			return nil, "", badCursor()
		}
		in.ExclusiveStartKey = pk(outboxPK(integrationID), c.K)
	}
	out := []integration.RecordChange{}
	for {
		page, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, "", fmt.Errorf("list changes: %w", err)
		}
		for i, it := range page.Items {
			t, err := time.Parse(time.RFC3339Nano, strAttr(it, "changed_at"))
			if err != nil {
				return nil, "", fmt.Errorf("decode change: %w", err)
			}
			out = append(out, integration.RecordChange{IntegrationID: integrationID, Model: strAttr(it, "model"), ExternalID: strAttr(it, "external_id"),
				Type: strAttr(it, "type"), ChangedAt: t})
			if len(out) == limit {
				if i == len(page.Items)-1 && len(page.LastEvaluatedKey) == 0 {
					return out, "", nil
				}
				b, _ := json.Marshal(changeCursor{K: strAttr(it, "SK")})
				return out, base64.RawURLEncoding.EncodeToString(b), nil
			}
		}
		if len(page.LastEvaluatedKey) == 0 {
			return out, "", nil
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
}

// AddRetries puts the items in the retry set.
func (s *Store) AddRetries(ctx context.Context, integrationID, model string, items map[string]string) error {
	reqs := make([]types.WriteRequest, 0, len(items))
	for id, why := range items {
		it := pk(retryPK(integrationID), recSK(model, id))
		it["model"], it["external_id"], it["why"] = str(model), str(id), str(why)
		reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: it}})
	}
	if err := s.batchWrite(ctx, reqs); err != nil {
		return fmt.Errorf("add retries: %w", err)
	}
	return nil
}

// Retries queries the model's key range of the retry set.
func (s *Store) Retries(ctx context.Context, integrationID, model string, limit int) (map[string]string, error) {
	out := map[string]string{}
	if limit <= 0 {
		return out, nil
	}
	in := &dynamodb.QueryInput{TableName: &s.table, KeyConditionExpression: aws.String("PK = :pk AND begins_with(SK, :m)"), ConsistentRead: aws.Bool(true),
		Limit:                     aws.Int32(int32(limit)),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(retryPK(integrationID)), ":m": str(model + "#")}}
	for {
		page, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("retries: %w", err)
		}
		for _, it := range page.Items {
			if strAttr(it, "model") != model {
				continue // another model whose name starts with this one's and '#'
			}
			out[strAttr(it, "external_id")] = strAttr(it, "why")
			if len(out) == limit {
				return out, nil
			}
		}
		if len(page.LastEvaluatedKey) == 0 {
			return out, nil
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
}

// RemoveRetries deletes items from the retry set.
func (s *Store) RemoveRetries(ctx context.Context, integrationID, model string, ids []string) error {
	reqs := make([]types.WriteRequest, 0, len(ids))
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			continue // a batch may not name an item twice
		}
		seen[id] = true
		reqs = append(reqs, types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: pk(retryPK(integrationID), recSK(model, id))}})
	}
	if err := s.batchWrite(ctx, reqs); err != nil {
		return fmt.Errorf("remove retries: %w", err)
	}
	return nil
}
