package dynamostore

// Sync items (PK / SK):
//
//	run            INT#<id>#RUN / <run id>                (ULIDs: newest last)
//	active run     INT#<id>#ACTIVE / ACTIVE               (run_id, started_at)
//	job done       INT#<id>#RUN#<run>#JOB / <job id>      (seen ids; TTL)
//	jobs spawned   INT#<id>#RUN#<run>#SPAWN / <job id>    (TTL)
//	cursors        INT#<id>#CURSOR / CURSOR               (c_<model> = time)
//	record         INT#<id>#REC / <model>#<external id>   (hash, data, deleted, changed_at)
//	               GSI1: INT#<id>#FEED#<model> / <changed at>#<external id>   (the change feed)
//	record part    INT#<id>#RECPART / <model>#<external id>#<n>   (records too big for one item)
//	event          INT#<id>#EVT / <event id>              (TTL: expires_at)

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/joinery/joinery/pkg/integration"
)

var _ integration.SyncStore = (*Store)(nil)

const (
	// EventRetention is how long sync events are kept (DynamoDB TTL).
	EventRetention = 30 * 24 * time.Hour
	// markerRetention is how long job bookkeeping outlives its run.
	markerRetention = 7 * 24 * time.Hour
	// Record data above compressAbove is gzipped; compressed data above
	// partSize is split over part items: DynamoDB items hold 400 KB.
	compressAbove = 64 << 10
	partSize      = 300 << 10
)

func runPK(id string) string                { return "INT#" + id + "#RUN" }
func jobPK(id, run string) string           { return "INT#" + id + "#RUN#" + run + "#JOB" }
func spawnPK(id, run string) string         { return "INT#" + id + "#RUN#" + run + "#SPAWN" }
func recPK(id string) string                { return "INT#" + id + "#REC" }
func recSK(model, ext string) string        { return model + "#" + ext }
func partPK(id string) string               { return "INT#" + id + "#RECPART" }
func feedPK(id, model string) string        { return "INT#" + id + "#FEED#" + model }
func feedSK(t time.Time, ext string) string { return feedTime(t) + "#" + ext }
func feedTime(t time.Time) string           { return t.UTC().Format("2006-01-02T15:04:05.000000000Z") }
func pk(p, s string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"PK": str(p), "SK": str(s)}
}
func activeKey(id string) map[string]types.AttributeValue { return pk("INT#"+id+"#ACTIVE", "ACTIVE") }

// runStatic is the part of a run that never changes after it starts.
type runStatic struct {
	ID        string               `json:"id"`
	AccountID string               `json:"account_id"`
	Direction string               `json:"direction"`
	Models    []string             `json:"models"`
	Full      bool                 `json:"full,omitempty"`
	Since     map[string]time.Time `json:"since,omitempty"`
	ListedAt  time.Time            `json:"listed_at"`
	StartedAt time.Time            `json:"started_at"`
}

func runItem(r *integration.Run) (map[string]types.AttributeValue, error) {
	static, err := json.Marshal(runStatic{r.ID, r.AccountID, string(r.Direction), r.Models, r.Full, r.Since, r.ListedAt, r.StartedAt})
	if err != nil {
		return nil, err
	}
	av := pk(runPK(r.IntegrationID), r.ID)
	av["entity"], av["integration_id"], av["run"], av["status"] = str("run"), str(r.IntegrationID), str(string(static)), str(string(r.Status))
	p := r.Progress
	for k, v := range map[string]int64{"jobs_total": r.JobsTotal, "jobs_done": r.JobsDone, "pages_done": p.PagesDone, "pages_total": p.PagesTotal,
		"items_seen": p.ItemsSeen, "items_written": p.ItemsWritten, "items_failed": p.ItemsFailed} {
		av[k] = num(v)
	}
	return av, nil
}

func numAttr(av map[string]types.AttributeValue, name string) int64 {
	if n, ok := av[name].(*types.AttributeValueMemberN); ok {
		v, _ := strconv.ParseInt(n.Value, 10, 64)
		return v
	}
	return 0
}

func strAttr(av map[string]types.AttributeValue, name string) string {
	if s, ok := av[name].(*types.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}

func runFromItem(av map[string]types.AttributeValue) (*integration.Run, error) {
	var st runStatic
	if err := json.Unmarshal([]byte(strAttr(av, "run")), &st); err != nil {
		return nil, fmt.Errorf("decode run: %w", err)
	}
	r := &integration.Run{ID: st.ID, AccountID: st.AccountID, IntegrationID: strAttr(av, "integration_id"), Direction: integration.Direction(st.Direction),
		Models: st.Models, Full: st.Full, Since: st.Since, ListedAt: st.ListedAt, StartedAt: st.StartedAt,
		Status: integration.RunStatus(strAttr(av, "status")), Error: strAttr(av, "error"),
		JobsTotal: numAttr(av, "jobs_total"), JobsDone: numAttr(av, "jobs_done"),
		Progress: integration.Progress{PagesDone: numAttr(av, "pages_done"), PagesTotal: numAttr(av, "pages_total"), ItemsSeen: numAttr(av, "items_seen"),
			ItemsWritten: numAttr(av, "items_written"), ItemsFailed: numAttr(av, "items_failed")}}
	if raw := strAttr(av, "totals"); raw != "" {
		if err := json.Unmarshal([]byte(raw), &r.Totals); err != nil {
			return nil, fmt.Errorf("decode run totals: %w", err)
		}
	}
	if raw := strAttr(av, "finished_at"); raw != "" {
		t, err := time.Parse(time.RFC3339Nano, raw)
		if err != nil {
			return nil, fmt.Errorf("decode run finish: %w", err)
		}
		r.FinishedAt = &t
	}
	return r, nil
}

// conditionFailedAt reports whether a cancelled transaction failed on the
// condition of its item i.
func conditionFailedAt(err error, i int) bool {
	var tce *types.TransactionCanceledException
	if !errors.As(err, &tce) || i >= len(tce.CancellationReasons) {
		return false
	}
	return aws.ToString(tce.CancellationReasons[i].Code) == "ConditionalCheckFailed"
}

// StartRun takes the integration's active-run item and stores the run in
// one transaction.
func (s *Store) StartRun(ctx context.Context, run *integration.Run, staleAfter time.Duration) (*integration.Run, bool, error) {
	av, err := runItem(run)
	if err != nil {
		return nil, false, err
	}
	lock := activeKey(run.IntegrationID)
	lock["run_id"], lock["started_at"] = str(run.ID), num(run.StartedAt.Unix())
	cond := "attribute_not_exists(PK) OR started_at < :stale"
	values := map[string]types.AttributeValue{":stale": num(time.Now().Add(-staleAfter).Unix())}
	for attempt := 0; attempt < 3; attempt++ {
		_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
			{Put: &types.Put{TableName: &s.table, Item: lock, ConditionExpression: aws.String(cond), ExpressionAttributeValues: values}},
			{Put: &types.Put{TableName: &s.table, Item: av, ConditionExpression: aws.String("attribute_not_exists(PK)")}},
		}})
		if err == nil {
			return run, true, nil
		}
		if !cancelled(err) {
			return nil, false, fmt.Errorf("start run: %w", err)
		}
		out, gerr := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: activeKey(run.IntegrationID), ConsistentRead: aws.Bool(true)})
		if gerr != nil {
			return nil, false, fmt.Errorf("read active run: %w", gerr)
		}
		holder := strAttr(out.Item, "run_id")
		if holder == run.ID {
			return run, true, nil // a retried start that had succeeded
		}
		if holder == "" {
			continue // freed meanwhile
		}
		cur, gerr := s.GetRun(ctx, run.IntegrationID, holder)
		if gerr == nil && cur.Active() {
			return cur, false, nil
		}
		if gerr != nil && integration.ErrorCode(gerr) != integration.ENOTFOUND {
			return nil, false, gerr
		}
		// The holder finished but its lock was left (a crash between the
		// two writes of FinishRun): take it over.
		cond = "run_id = :old"
		values = map[string]types.AttributeValue{":old": str(holder)}
	}
	return nil, false, integration.Errorf(integration.ECONFLICT, "Another run is starting; try again.")
}

// GetRun reads a run, strongly consistent.
func (s *Store) GetRun(ctx context.Context, integrationID, runID string) (*integration.Run, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: pk(runPK(integrationID), runID), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, fmt.Errorf("get run %s: %w", runID, err)
	}
	if out.Item == nil {
		return nil, integration.Errorf(integration.ENOTFOUND, "Run %q not found.", runID)
	}
	return runFromItem(out.Item)
}

// LatestRun queries the runs newest first.
func (s *Store) LatestRun(ctx context.Context, integrationID string) (*integration.Run, error) {
	out, err := s.db.Query(ctx, &dynamodb.QueryInput{TableName: &s.table, KeyConditionExpression: aws.String("PK = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(runPK(integrationID))},
		ScanIndexForward:          aws.Bool(false), Limit: aws.Int32(1), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, fmt.Errorf("latest run: %w", err)
	}
	if len(out.Items) == 0 {
		return nil, integration.Errorf(integration.ENOTFOUND, "No runs yet.")
	}
	return runFromItem(out.Items[0])
}

func expiresIn(d time.Duration) types.AttributeValue { return num(time.Now().Add(d).Unix()) }

// AddJobs records the parent's children (gzipped JSON: a plan's page
// jobs differ only in their page) and adds to the totals, in one
// transaction; a replay reads back the children recorded first.
func (s *Store) AddJobs(ctx context.Context, integrationID, runID, parentJobID string, children []string, totals map[string]int64) ([]string, error) {
	if children == nil {
		children = []string{}
	}
	raw, err := json.Marshal(children)
	if err != nil {
		return nil, err
	}
	z, err := gzipBytes(raw)
	if err != nil {
		return nil, err
	}
	if len(z) > partSize {
		return nil, fmt.Errorf("add jobs to run %s: %d children are too many for one job to spawn", runID, len(children))
	}
	mark := pk(spawnPK(integrationID, runID), parentJobID)
	mark["expires_at"] = expiresIn(markerRetention)
	mark["children"] = &types.AttributeValueMemberB{Value: z}
	n := int64(len(children))
	update := "ADD jobs_total :n, pages_total :n"
	values := map[string]types.AttributeValue{":n": num(n)}
	if totals != nil {
		b, err := json.Marshal(totals)
		if err != nil {
			return nil, err
		}
		update += " SET totals = :t"
		values[":t"] = str(string(b))
	}
	_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Put: &types.Put{TableName: &s.table, Item: mark, ConditionExpression: aws.String("attribute_not_exists(PK)")}},
		{Update: &types.Update{TableName: &s.table, Key: pk(runPK(integrationID), runID), UpdateExpression: aws.String(update),
			ConditionExpression: aws.String("attribute_exists(PK)"), ExpressionAttributeValues: values}},
	}})
	if conditionFailedAt(err, 0) {
		// This parent's jobs were added before: hand back those.
		out, gerr := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: pk(spawnPK(integrationID, runID), parentJobID), ConsistentRead: aws.Bool(true)})
		if gerr != nil {
			return nil, fmt.Errorf("read spawned jobs: %w", gerr)
		}
		b, _ := out.Item["children"].(*types.AttributeValueMemberB)
		if b == nil {
			return nil, fmt.Errorf("spawned jobs of %s: missing", parentJobID)
		}
		raw, err := decodeData(b.Value, true)
		if err != nil {
			return nil, err
		}
		var prev []string
		return prev, json.Unmarshal(raw, &prev)
	}
	if conditionFailedAt(err, 1) {
		return nil, integration.Errorf(integration.ENOTFOUND, "Run %q not found.", runID)
	}
	if err != nil {
		return nil, fmt.Errorf("add jobs to run %s: %w", runID, err)
	}
	return children, nil
}

func gzipBytes(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	if _, err := w.Write(b); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// CompleteJob writes the job's marker and adds its result in one
// transaction; an existing marker means it was counted already.
func (s *Store) CompleteJob(ctx context.Context, integrationID, runID, jobID string, res integration.JobResult) (*integration.Run, bool, error) {
	seen, err := json.Marshal(res.Seen)
	if err != nil {
		return nil, false, err
	}
	mark := pk(jobPK(integrationID, runID), jobID)
	mark["seen"], mark["expires_at"] = str(string(seen)), expiresIn(markerRetention)
	p := res.Progress
	_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Put: &types.Put{TableName: &s.table, Item: mark, ConditionExpression: aws.String("attribute_not_exists(PK)")}},
		{Update: &types.Update{TableName: &s.table, Key: pk(runPK(integrationID), runID),
			UpdateExpression:    aws.String("ADD jobs_done :one, pages_done :pd, pages_total :pt, items_seen :is, items_written :iw, items_failed :if"),
			ConditionExpression: aws.String("attribute_exists(PK)"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":one": num(1), ":pd": num(p.PagesDone), ":pt": num(p.PagesTotal),
				":is": num(p.ItemsSeen), ":iw": num(p.ItemsWritten), ":if": num(p.ItemsFailed)}}},
	}})
	first := err == nil
	if conditionFailedAt(err, 1) {
		return nil, false, integration.Errorf(integration.ENOTFOUND, "Run %q not found.", runID)
	}
	if err != nil && !conditionFailedAt(err, 0) {
		return nil, false, fmt.Errorf("complete job %s: %w", jobID, err)
	}
	run, err := s.GetRun(ctx, integrationID, runID)
	return run, first, err
}

// queryAll runs a query to its end, calling f for each page's items.
func (s *Store) queryAll(ctx context.Context, in *dynamodb.QueryInput, f func([]map[string]types.AttributeValue) error) error {
	for {
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return err
		}
		if err := f(out.Items); err != nil {
			return err
		}
		if len(out.LastEvaluatedKey) == 0 {
			return nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

func partition(p string) *dynamodb.QueryInput {
	return &dynamodb.QueryInput{KeyConditionExpression: aws.String("PK = :pk"), ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(p)}, ConsistentRead: aws.Bool(true)}
}

// SeenIDs reads every job marker of the run.
func (s *Store) SeenIDs(ctx context.Context, integrationID, runID, model string) (map[string]bool, error) {
	out := map[string]bool{}
	in := partition(jobPK(integrationID, runID))
	in.TableName = &s.table
	err := s.queryAll(ctx, in, func(items []map[string]types.AttributeValue) error {
		for _, it := range items {
			var seen map[string][]string
			if err := json.Unmarshal([]byte(strAttr(it, "seen")), &seen); err != nil {
				return err
			}
			for _, id := range seen[model] {
				out[id] = true
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("seen ids of run %s: %w", runID, err)
	}
	return out, nil
}

// FinishRun sets the final status if the run is running, then frees the
// active-run item if it is still this run's.
func (s *Store) FinishRun(ctx context.Context, integrationID, runID string, status integration.RunStatus, message string, at time.Time) (bool, error) {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: &s.table, Key: pk(runPK(integrationID), runID),
		UpdateExpression:         aws.String("SET #s = :s, #e = :e, finished_at = :at"),
		ConditionExpression:      aws.String("#s = :running"),
		ExpressionAttributeNames: map[string]string{"#s": "status", "#e": "error"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":s": str(string(status)), ":e": str(message),
			":at": str(at.UTC().Format(time.RFC3339Nano)), ":running": str(string(integration.RunRunning))}})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("finish run %s: %w", runID, err)
	}
	// Free the active-run item if it is still this run's. If this fails,
	// StartRun takes over an item whose run has finished.
	_, _ = s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &s.table, Key: activeKey(integrationID),
		ConditionExpression: aws.String("run_id = :r"), ExpressionAttributeValues: map[string]types.AttributeValue{":r": str(runID)}})
	return true, nil
}

// Cursors reads the cursors item.
func (s *Store) Cursors(ctx context.Context, integrationID string) (map[string]time.Time, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: pk("INT#"+integrationID+"#CURSOR", "CURSOR"), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, fmt.Errorf("cursors: %w", err)
	}
	cursors := map[string]time.Time{}
	for name, v := range out.Item {
		model, ok := strings.CutPrefix(name, "c_")
		if !ok {
			continue
		}
		if sv, ok := v.(*types.AttributeValueMemberS); ok {
			t, err := time.Parse(time.RFC3339Nano, sv.Value)
			if err != nil {
				return nil, fmt.Errorf("cursor of %s: %w", model, err)
			}
			cursors[model] = t
		}
	}
	return cursors, nil
}

// SetCursors sets each model's cursor attribute.
func (s *Store) SetCursors(ctx context.Context, integrationID string, cursors map[string]time.Time) error {
	if len(cursors) == 0 {
		return nil
	}
	var sets []string
	names := map[string]string{}
	values := map[string]types.AttributeValue{}
	i := 0
	for m, t := range cursors {
		sets = append(sets, fmt.Sprintf("#c%d = :c%d", i, i))
		names[fmt.Sprintf("#c%d", i)] = "c_" + m
		values[fmt.Sprintf(":c%d", i)] = str(t.UTC().Format(time.RFC3339Nano))
		i++
	}
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: &s.table, Key: pk("INT#"+integrationID+"#CURSOR", "CURSOR"),
		UpdateExpression: aws.String("SET " + strings.Join(sets, ", ")), ExpressionAttributeNames: names, ExpressionAttributeValues: values})
	if err != nil {
		return fmt.Errorf("set cursors: %w", err)
	}
	return nil
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

// batchWrite writes requests 25 at a time, retrying unprocessed ones.
func (s *Store) batchWrite(ctx context.Context, reqs []types.WriteRequest) error {
	for len(reqs) > 0 {
		n := min(25, len(reqs))
		pending := map[string][]types.WriteRequest{s.table: reqs[:n]}
		reqs = reqs[n:]
		for attempt := 0; len(pending[s.table]) > 0; attempt++ {
			if attempt > 0 {
				time.Sleep(time.Duration(min(attempt, 6)) * 50 * time.Millisecond)
			}
			out, err := s.db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: pending})
			if err != nil {
				return err
			}
			pending = out.UnprocessedItems
			if attempt > 20 {
				return fmt.Errorf("batch write: items left unprocessed")
			}
		}
	}
	return nil
}

// PutRecords reads the stored hashes 100 at a time and writes only the
// records that changed.
func (s *Store) PutRecords(ctx context.Context, _ integration.WriteScope, recs []integration.StoredRecord) (integration.PutResult, error) {
	n, err := s.putRecords(ctx, recs)
	return integration.PutResult{Written: n}, err
}

func (s *Store) putRecords(ctx context.Context, recs []integration.StoredRecord) (int, error) {
	// The last occurrence of a record in recs wins.
	latest := map[string]integration.StoredRecord{}
	var order []string
	for _, r := range recs {
		k := r.IntegrationID + "\x00" + recSK(r.Model, r.ExternalID)
		if _, ok := latest[k]; !ok {
			order = append(order, k)
		}
		latest[k] = r
	}
	stored := map[string]string{}
	for i := 0; i < len(order); i += 100 {
		keys := make([]map[string]types.AttributeValue, 0, 100)
		for _, k := range order[i:min(i+100, len(order))] {
			r := latest[k]
			keys = append(keys, pk(recPK(r.IntegrationID), recSK(r.Model, r.ExternalID)))
		}
		pending := map[string]types.KeysAndAttributes{s.table: {Keys: keys, ProjectionExpression: aws.String("PK, SK, #h"),
			ExpressionAttributeNames: map[string]string{"#h": "hash"}, ConsistentRead: aws.Bool(true)}}
		for attempt := 0; len(pending) > 0 && len(pending[s.table].Keys) > 0; attempt++ {
			out, err := s.db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: pending})
			if err != nil {
				return 0, fmt.Errorf("read record hashes: %w", err)
			}
			for _, it := range out.Responses[s.table] {
				stored[strings.TrimSuffix(strings.TrimPrefix(strAttr(it, "PK"), "INT#"), "#REC")+"\x00"+strAttr(it, "SK")] = strAttr(it, "hash")
			}
			pending = out.UnprocessedKeys
			if attempt > 20 {
				return 0, fmt.Errorf("read record hashes: keys left unprocessed")
			}
		}
	}
	var reqs []types.WriteRequest
	written := 0
	for _, k := range order {
		r := latest[k]
		if h, ok := stored[k]; ok && h == r.Hash {
			continue
		}
		data, gz, parts, err := encodeData(r.Data)
		if err != nil {
			return 0, err
		}
		for n, p := range parts {
			part := pk(partPK(r.IntegrationID), fmt.Sprintf("%s#%d", recSK(r.Model, r.ExternalID), n))
			part["data"] = &types.AttributeValueMemberB{Value: p}
			reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: part}})
		}
		item := pk(recPK(r.IntegrationID), recSK(r.Model, r.ExternalID))
		item["entity"], item["model"], item["external_id"], item["hash"] = str("record"), str(r.Model), str(r.ExternalID), str(r.Hash)
		item["deleted"] = &types.AttributeValueMemberBOOL{Value: r.Deleted}
		item["changed_at"] = str(feedTime(r.ChangedAt))
		item["GSI1PK"], item["GSI1SK"] = str(feedPK(r.IntegrationID, r.Model)), str(feedSK(r.ChangedAt, r.ExternalID))
		item["gz"] = &types.AttributeValueMemberBOOL{Value: gz}
		item["parts"] = num(int64(len(parts)))
		if data != nil {
			item["data"] = &types.AttributeValueMemberB{Value: data}
		}
		reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: item}})
		written++
	}
	// Parts come before their record in reqs; a batch may still apply
	// them in any order, so a reader seeing parts missing retries.
	if err := s.batchWrite(ctx, reqs); err != nil {
		return 0, fmt.Errorf("write records: %w", err)
	}
	return written, nil
}

func (s *Store) recordFromItem(ctx context.Context, integrationID string, it map[string]types.AttributeValue) (integration.StoredRecord, error) {
	r := integration.StoredRecord{IntegrationID: integrationID, Model: strAttr(it, "model"), ExternalID: strAttr(it, "external_id"), Hash: strAttr(it, "hash")}
	if b, ok := it["deleted"].(*types.AttributeValueMemberBOOL); ok {
		r.Deleted = b.Value
	}
	t, err := time.Parse(time.RFC3339Nano, strAttr(it, "changed_at"))
	if err != nil {
		return r, fmt.Errorf("record %s changed_at: %w", r.ExternalID, err)
	}
	r.ChangedAt = t
	gz := false
	if b, ok := it["gz"].(*types.AttributeValueMemberBOOL); ok {
		gz = b.Value
	}
	var stored []byte
	if n := numAttr(it, "parts"); n > 0 {
		for i := range n {
			out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: pk(partPK(integrationID), fmt.Sprintf("%s#%d", recSK(r.Model, r.ExternalID), i)), ConsistentRead: aws.Bool(true)})
			if err != nil {
				return r, fmt.Errorf("record part: %w", err)
			}
			b, ok := out.Item["data"].(*types.AttributeValueMemberB)
			if !ok {
				return r, fmt.Errorf("record %s: part %d missing", r.ExternalID, i)
			}
			stored = append(stored, b.Value...)
		}
	} else if b, ok := it["data"].(*types.AttributeValueMemberB); ok {
		stored = b.Value
	}
	r.Data, err = decodeData(stored, gz)
	return r, err
}

// GetRecord reads one record (and its parts).
func (s *Store) GetRecord(ctx context.Context, integrationID, model, externalID string) (*integration.StoredRecord, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: pk(recPK(integrationID), recSK(model, externalID)), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, fmt.Errorf("get record: %w", err)
	}
	if out.Item == nil {
		return nil, integration.Errorf(integration.ENOTFOUND, "Record %s %q not found.", model, externalID)
	}
	r, err := s.recordFromItem(ctx, integrationID, out.Item)
	return &r, err
}

type feedCursor struct {
	S string `json:"s"` // GSI1SK of the last item
	K string `json:"k"` // its external id
}

// ListRecords queries the change feed index. The index is eventually
// consistent: a record written a moment ago may show up a moment later,
// so pollers re-read a short overlap (see the README).
func (s *Store) ListRecords(ctx context.Context, q integration.RecordQuery) ([]integration.StoredRecord, string, error) {
	in := &dynamodb.QueryInput{TableName: &s.table, IndexName: aws.String("GSI1"), Limit: aws.Int32(int32(q.Limit)),
		KeyConditionExpression:    aws.String("GSI1PK = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(feedPK(q.IntegrationID, q.Model))}}
	if !q.ChangedAfter.IsZero() {
		// '$' sorts after '#': past every key at that exact time.
		in.KeyConditionExpression = aws.String("GSI1PK = :pk AND GSI1SK > :after")
		in.ExpressionAttributeValues[":after"] = str(feedTime(q.ChangedAfter) + "$")
	}
	if q.Cursor != "" {
		raw, err := base64.RawURLEncoding.DecodeString(q.Cursor)
		var c feedCursor
		if err != nil || json.Unmarshal(raw, &c) != nil || c.S == "" || c.K == "" || !strings.HasSuffix(c.S, "#"+c.K) {
			return nil, "", badCursor()
		}
		in.ExclusiveStartKey = map[string]types.AttributeValue{"GSI1PK": str(feedPK(q.IntegrationID, q.Model)), "GSI1SK": str(c.S),
			"PK": str(recPK(q.IntegrationID)), "SK": str(recSK(q.Model, c.K))}
	}
	out, err := s.db.Query(ctx, in)
	if err != nil {
		return nil, "", fmt.Errorf("list records: %w", err)
	}
	recs := make([]integration.StoredRecord, 0, len(out.Items))
	for _, it := range out.Items {
		r, err := s.recordFromItem(ctx, q.IntegrationID, it)
		if err != nil {
			return nil, "", err
		}
		recs = append(recs, r)
	}
	next := ""
	if len(out.LastEvaluatedKey) > 0 && len(recs) > 0 {
		last := recs[len(recs)-1]
		b, _ := json.Marshal(feedCursor{S: feedSK(last.ChangedAt, last.ExternalID), K: last.ExternalID})
		next = base64.RawURLEncoding.EncodeToString(b)
	}
	return recs, next, nil
}

// CountRecords counts with a COUNT query over the model's key range.
func (s *Store) CountRecords(ctx context.Context, integrationID, model string) (int64, error) {
	n, err := s.count(ctx, &dynamodb.QueryInput{
		KeyConditionExpression:    aws.String("PK = :pk AND begins_with(SK, :m)"),
		FilterExpression:          aws.String("deleted = :f"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(recPK(integrationID)), ":m": str(model + "#"), ":f": &types.AttributeValueMemberBOOL{Value: false}}})
	if err != nil {
		return 0, fmt.Errorf("count records: %w", err)
	}
	return n, nil
}

// count runs a COUNT query to its end.
func (s *Store) count(ctx context.Context, in *dynamodb.QueryInput) (int64, error) {
	in.TableName, in.Select = &s.table, types.SelectCount
	var n int64
	for {
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return 0, err
		}
		n += int64(out.Count)
		if len(out.LastEvaluatedKey) == 0 {
			return n, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// AddEvents batch-writes events with their TTL.
func (s *Store) AddEvents(ctx context.Context, evs []integration.SyncEvent) error {
	reqs := make([]types.WriteRequest, 0, len(evs))
	for _, e := range evs {
		b, err := json.Marshal(e)
		if err != nil {
			return err
		}
		item := pk("INT#"+e.IntegrationID+"#EVT", e.ID)
		item["event"], item["type"], item["status"] = str(string(b)), str(e.Type), str(e.Status)
		item["expires_at"] = num(e.At.Add(EventRetention).Unix())
		reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: item}})
	}
	if err := s.batchWrite(ctx, reqs); err != nil {
		return fmt.Errorf("add events: %w", err)
	}
	return nil
}

// ListEvents queries newest first, filtering by type and status (and
// leaving out expired events TTL has not removed yet).
func (s *Store) ListEvents(ctx context.Context, q integration.EventQuery) ([]integration.SyncEvent, string, error) {
	in := &dynamodb.QueryInput{TableName: &s.table, KeyConditionExpression: aws.String("PK = :pk"), ScanIndexForward: aws.Bool(false),
		Limit: aws.Int32(int32(q.Limit)), FilterExpression: aws.String("expires_at > :now"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str("INT#" + q.IntegrationID + "#EVT"), ":now": num(time.Now().Unix())}}
	filter := []string{"expires_at > :now"}
	names := map[string]string{}
	if q.Type != "" {
		filter = append(filter, "#t = :t")
		names["#t"], in.ExpressionAttributeValues[":t"] = "type", str(q.Type)
	}
	if q.Status != "" {
		filter = append(filter, "#s = :s")
		names["#s"], in.ExpressionAttributeValues[":s"] = "status", str(q.Status)
	}
	in.FilterExpression = aws.String(strings.Join(filter, " AND "))
	if len(names) > 0 {
		in.ExpressionAttributeNames = names
	}
	if q.Cursor != "" {
		raw, err := base64.RawURLEncoding.DecodeString(q.Cursor)
		if err != nil || len(raw) == 0 || len(raw) > 128 {
			return nil, "", badCursor()
		}
		in.ExclusiveStartKey = pk("INT#"+q.IntegrationID+"#EVT", string(raw))
	}
	out := []integration.SyncEvent{}
	for {
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
			if len(out) == q.Limit {
				return out, base64.RawURLEncoding.EncodeToString([]byte(e.ID)), nil
			}
		}
		if len(page.LastEvaluatedKey) == 0 {
			return out, "", nil
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
}

// DeleteSyncData deletes every item of the integration's sync partitions.
func (s *Store) DeleteSyncData(ctx context.Context, integrationID string) error {
	partitions := []string{"INT#" + integrationID + "#ACTIVE", "INT#" + integrationID + "#CURSOR", "INT#" + integrationID + "#EVT", recPK(integrationID), partPK(integrationID),
		"INT#" + integrationID + "#PUSH", "INT#" + integrationID + "#PUSHSEQ", "INT#" + integrationID + "#MAP"}
	in := partition(runPK(integrationID))
	in.TableName, in.ProjectionExpression = &s.table, aws.String("PK, SK")
	err := s.queryAll(ctx, in, func(items []map[string]types.AttributeValue) error {
		for _, it := range items {
			partitions = append(partitions, jobPK(integrationID, strAttr(it, "SK")), spawnPK(integrationID, strAttr(it, "SK")))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("list runs: %w", err)
	}
	partitions = append(partitions, runPK(integrationID)) // last: the runs name the job partitions
	for _, p := range partitions {
		var reqs []types.WriteRequest
		in := partition(p)
		in.TableName, in.ProjectionExpression = &s.table, aws.String("PK, SK")
		if err := s.queryAll(ctx, in, func(items []map[string]types.AttributeValue) error {
			for _, it := range items {
				reqs = append(reqs, types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: pk(strAttr(it, "PK"), strAttr(it, "SK"))}})
			}
			return nil
		}); err != nil {
			return fmt.Errorf("list %s: %w", p, err)
		}
		if err := s.batchWrite(ctx, reqs); err != nil {
			return fmt.Errorf("delete %s: %w", p, err)
		}
	}
	return nil
}
