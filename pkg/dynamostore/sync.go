package dynamostore

// Sync items (PK / SK):
//
//	run            INT#<id>#RUN / <run id>                (ULIDs: newest last; finisher; TTL: 90 days after its finish)
//	active run     INT#<id>#ACTIVE / ACTIVE               (run_id, started_at; took_over: a run to sweep)
//	job done       INT#<id>#RUN#<run>#JOB / <job id>      (seen ids, pages, clock; TTL: 7 days)
//	jobs spawned   INT#<id>#RUN#<run>#SPAWN / <job id>    (TTL: 7 days)
//	cursors        INT#<id>#CURSOR / CURSOR               (c_<model> = time)
//	event          INT#<id>#EVT / <event id>              (TTL: expires_at)
//
// Events by status, health buckets and dead letters: events.go, health.go.
// Records, their parts, the outbox, count deltas and counts: records.go.

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
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
	// A run that never finishes still goes; finishing sets it anew.
	av["expires_at"] = num(r.ExpiresAt().Unix())
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
		Status: integration.RunStatus(strAttr(av, "status")), Error: strAttr(av, "error"), Finisher: strAttr(av, "finisher"),
		JobsTotal: numAttr(av, "jobs_total"), JobsDone: numAttr(av, "jobs_done"),
		Progress: integration.Progress{PagesDone: numAttr(av, "pages_done"), PagesTotal: numAttr(av, "pages_total"), ItemsSeen: numAttr(av, "items_seen"),
			ItemsWritten: numAttr(av, "items_written"), ItemsFailed: numAttr(av, "items_failed")}, Skipped: skippedOf(av)}
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
// one transaction. Over a stale run, the same transaction finishes that
// run as error, so its jobs stop writing; then the count deltas of its
// jobs that did not complete are swept into the counts (sweepDeltas). The
// item names the run taken over (took_over) until that sweep is done.
func (s *Store) StartRun(ctx context.Context, run *integration.Run, staleAfter time.Duration) (*integration.Run, bool, error) {
	av, err := runItem(run)
	if err != nil {
		return nil, false, err
	}
	lock := activeKey(run.IntegrationID)
	lock["run_id"], lock["started_at"] = str(run.ID), num(run.StartedAt.Unix())
	old, finishOld := "", false // the holder to take the item over from; whether it is still running
	for attempt := 0; attempt < 5; attempt++ {
		put := &types.Put{TableName: &s.table, Item: lock, ConditionExpression: aws.String("attribute_not_exists(PK)")}
		delete(lock, "took_over")
		if old != "" {
			put.ConditionExpression = aws.String("run_id = :old")
			put.ExpressionAttributeValues = map[string]types.AttributeValue{":old": str(old)}
			// Named until its sweep is done, so a sweep cut short is resumed.
			lock["took_over"] = str(old)
		}
		items := []types.TransactWriteItem{{Put: put}, {Put: &types.Put{TableName: &s.table, Item: av, ConditionExpression: aws.String("attribute_not_exists(PK)")}}}
		if finishOld {
			items = append(items, types.TransactWriteItem{Update: finishUpdate(&s.table, run.IntegrationID, old, integration.RunError,
				fmt.Sprintf("The run stopped making progress and was replaced by run %s.", run.ID), time.Now())})
		}
		_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
		if err == nil {
			// The start has succeeded either way: a sweep that fails here
			// stays named on the item, for the next StartRun that reads it
			// or this run's FinishRun.
			_ = s.sweepTookOver(ctx, run.IntegrationID, lock)
			return run, true, nil
		}
		if !cancelled(err) {
			return nil, false, fmt.Errorf("start run: %w", err)
		}
		if finishOld && conditionFailedAt(err, 2) && !conditionFailedAt(err, 0) && !conditionFailedAt(err, 1) {
			finishOld = false // it finished meanwhile: take its item over only
			continue
		}
		out, gerr := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: activeKey(run.IntegrationID), ConsistentRead: aws.Bool(true)})
		if gerr != nil {
			return nil, false, fmt.Errorf("read active run: %w", gerr)
		}
		holder := strAttr(out.Item, "run_id")
		if holder == run.ID {
			_ = s.sweepTookOver(ctx, run.IntegrationID, out.Item)
			return run, true, nil // a retried start that had succeeded
		}
		// A sweep the holder's start left: done before the item can be
		// replaced and the name lost.
		if err := s.sweepTookOver(ctx, run.IntegrationID, out.Item); err != nil {
			return nil, false, fmt.Errorf("start run: %w", err)
		}
		old, finishOld = holder, false
		if holder == "" {
			continue // freed meanwhile
		}
		cur, gerr := s.GetRun(ctx, run.IntegrationID, holder)
		if gerr != nil && integration.ErrorCode(gerr) != integration.ENOTFOUND {
			return nil, false, gerr
		}
		if gerr == nil && cur.Active() {
			if numAttr(out.Item, "started_at") >= time.Now().Add(-staleAfter).Unix() {
				return cur, false, nil
			}
			finishOld = true
		}
		// Otherwise the holder finished but its item was left (FinishRun
		// cut short before freeing it, its sweep perhaps too): take it
		// over, and sweep it.
	}
	return nil, false, integration.Errorf(integration.ECONFLICT, "Another run is starting; try again.")
}

// sweepTookOver sweeps the count deltas of the run that the active-run
// item lock says its holder took over (took_over), then clears the name
// (a name left costs a sweep that finds nothing).
func (s *Store) sweepTookOver(ctx context.Context, integrationID string, lock map[string]types.AttributeValue) error {
	old, holder := strAttr(lock, "took_over"), strAttr(lock, "run_id")
	if old == "" || holder == "" {
		return nil
	}
	if err := s.sweepDeltas(ctx, integrationID, old); err != nil {
		return err
	}
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: &s.table, Key: activeKey(integrationID),
		UpdateExpression:          aws.String("REMOVE took_over"),
		ConditionExpression:       aws.String("run_id = :r AND took_over = :o"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":r": str(holder), ":o": str(old)}})
	var ccf *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &ccf) {
		return fmt.Errorf("clear the run taken over: %w", err)
	}
	return nil
}

// finishUpdate sets a running run's final status.
func finishUpdate(table *string, integrationID, runID string, status integration.RunStatus, message string, at time.Time) *types.Update {
	return &types.Update{TableName: table, Key: pk(runPK(integrationID), runID),
		UpdateExpression:         aws.String("SET #s = :s, #e = :e, finished_at = :at, expires_at = :exp"),
		ConditionExpression:      aws.String("#s = :running"),
		ExpressionAttributeNames: map[string]string{"#s": "status", "#e": "error"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":s": str(string(status)), ":e": str(message),
			":at": str(at.UTC().Format(time.RFC3339Nano)), ":running": str(string(integration.RunRunning)),
			":exp": num(at.Add(integration.RunRetention).Unix())}}
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

// jobDelta is a job's count deltas not applied yet, as read.
type jobDelta struct {
	v int64            // bumped by every write of the deltas
	d map[string]int64 // per model
}

func deltaOf(it map[string]types.AttributeValue) jobDelta {
	jd := jobDelta{v: numAttr(it, "v"), d: map[string]int64{}}
	for name := range it {
		if m, ok := strings.CutPrefix(name, "d_"); ok {
			if n := numAttr(it, name); n != 0 {
				jd.d[m] = n
			}
		}
	}
	return jd
}

// takeDelta returns the transaction items that move a job's deltas, as
// read (it: nil if there was no delta item), to the counts item. They are
// conditioned on the delta item being as read, absent included: deltas
// written meanwhile by a copy of the job, or swept meanwhile because the
// job's run stopped, are neither lost nor applied twice.
func (s *Store) takeDelta(integrationID string, key map[string]types.AttributeValue, it map[string]types.AttributeValue) []types.TransactWriteItem {
	if it == nil {
		return []types.TransactWriteItem{{ConditionCheck: &types.ConditionCheck{TableName: &s.table, Key: key,
			ConditionExpression: aws.String("attribute_not_exists(PK)")}}}
	}
	jd := deltaOf(it)
	neg := map[string]int64{}
	for m, n := range jd.d {
		neg[m] = -n
	}
	take, tnames, tvalues := addUpdate("d_", neg)
	if take == "" {
		return []types.TransactWriteItem{{ConditionCheck: &types.ConditionCheck{TableName: &s.table, Key: key,
			ConditionExpression: aws.String("#v = :v"), ExpressionAttributeNames: map[string]string{"#v": "v"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":v": num(jd.v)}}}}
	}
	tnames["#v"], tvalues[":one"], tvalues[":v"] = "v", num(1), num(jd.v)
	add, anames, avalues := addUpdate("n_", jd.d)
	return []types.TransactWriteItem{
		{Update: &types.Update{TableName: &s.table, Key: key, UpdateExpression: aws.String("ADD " + take + ", #v :one"),
			ConditionExpression: aws.String("#v = :v"), ExpressionAttributeNames: tnames, ExpressionAttributeValues: tvalues}},
		{Update: &types.Update{TableName: &s.table, Key: countKey(integrationID), UpdateExpression: aws.String("ADD " + add),
			ExpressionAttributeNames: anames, ExpressionAttributeValues: avalues}},
	}
}

func (s *Store) purgedCheck(integrationID string) types.TransactWriteItem {
	return types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{TableName: &s.table, Key: purgedKey(integrationID),
		ConditionExpression: aws.String("attribute_not_exists(PK)")}}
}

// CompleteJob writes the job's marker, adds its result to the run and
// its record count deltas to the counts item, in one transaction; an
// existing marker means it was counted already. A job of a stopped run is
// still counted; its deltas were swept into the counts when the run
// stopped, so it applies none (or, if that sweep was cut short, what is
// left, which the sweep then no longer finds).
func (s *Store) CompleteJob(ctx context.Context, integrationID, runID, jobID string, res integration.JobResult) (*integration.Run, bool, error) {
	seen, err := json.Marshal(res.Seen)
	if err != nil {
		return nil, false, err
	}
	mark := pk(jobPK(integrationID, runID), jobID)
	mark["seen"], mark["expires_at"] = str(string(seen)), expiresIn(markerRetention)
	if len(res.Pages) > 0 {
		b, err := json.Marshal(res.Pages)
		if err != nil {
			return nil, false, err
		}
		mark["pages"] = str(string(b))
	}
	if len(res.Clock) > 0 {
		b, err := json.Marshal(res.Clock)
		if err != nil {
			return nil, false, err
		}
		mark["clock"] = str(string(b))
	}
	p := res.Progress
	dkey := pk(deltaPK(integrationID, runID), jobID)
	first := false
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if attempt > putRetries {
				return nil, false, fmt.Errorf("complete job %s: its count deltas kept changing", jobID)
			}
			if err := s.pause(ctx, backoff(attempt)); err != nil {
				return nil, false, fmt.Errorf("complete job %s: %w", jobID, err)
			}
		}
		out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: dkey, ConsistentRead: aws.Bool(true)})
		if err != nil {
			return nil, false, fmt.Errorf("read job deltas: %w", err)
		}
		items := []types.TransactWriteItem{
			{Put: &types.Put{TableName: &s.table, Item: mark, ConditionExpression: aws.String("attribute_not_exists(PK)")}},
			{Update: &types.Update{TableName: &s.table, Key: pk(runPK(integrationID), runID),
				UpdateExpression:    aws.String("ADD jobs_done :one, pages_done :pd, pages_total :pt, items_seen :is, items_written :iw, items_failed :if"),
				ConditionExpression: aws.String("attribute_exists(PK)"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":one": num(1), ":pd": num(p.PagesDone), ":pt": num(p.PagesTotal),
					":is": num(p.ItemsSeen), ":iw": num(p.ItemsWritten), ":if": num(p.ItemsFailed)}}},
			s.purgedCheck(integrationID),
		}
		items = append(items, s.takeDelta(integrationID, dkey, out.Item)...)
		_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
		if err == nil {
			first = true
			break
		}
		if conditionFailedAt(err, 0) {
			break // counted already
		}
		if conditionFailedAt(err, 1) {
			return nil, false, integration.Errorf(integration.ENOTFOUND, "Run %q not found.", runID)
		}
		if conditionFailedAt(err, 2) {
			return nil, false, integration.ErrRunStopped
		}
		var tce *types.TransactionCanceledException
		if !errors.As(err, &tce) {
			return nil, false, fmt.Errorf("complete job %s: %w", jobID, err)
		}
		// The deltas changed since read, or a concurrent transaction got in
		// the way: read again.
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

// FinishRun sets the final status if the run is running. Then, whether
// this call or an earlier one finished it, it sweeps the count deltas of
// the run's jobs that did not complete into the counts (sweepDeltas) and
// frees the active-run item if it is still this run's. The item is freed
// last: a sweep cut short leaves it naming a finished run, which the next
// StartRun takes over and sweeps again, as does FinishRun called again.
func (s *Store) FinishRun(ctx context.Context, integrationID, runID string, status integration.RunStatus, message string, at time.Time) (bool, error) {
	done, err := s.finishWithEvent(ctx, integrationID, runID, status, message, at)
	if err != nil {
		return false, err
	}
	if err := s.sweepDeltas(ctx, integrationID, runID); err != nil {
		return false, fmt.Errorf("finish run %s: %w", runID, err)
	}
	// The item may name a run this one took over whose sweep was cut short.
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: activeKey(integrationID), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return false, fmt.Errorf("finish run %s: read active run: %w", runID, err)
	}
	if strAttr(out.Item, "run_id") == runID {
		if err := s.sweepTookOver(ctx, integrationID, out.Item); err != nil {
			return false, fmt.Errorf("finish run %s: %w", runID, err)
		}
	}
	s.freeActive(ctx, integrationID, runID)
	return done, nil
}

// finishRun finishes a running run and frees the active-run item without
// sweeping: for a purge, whose counts go with the data.
func (s *Store) finishRun(ctx context.Context, integrationID, runID string, status integration.RunStatus, message string, at time.Time) (bool, error) {
	done, err := s.setFinished(ctx, integrationID, runID, status, message, at)
	if err != nil || !done {
		return done, err
	}
	s.freeActive(ctx, integrationID, runID)
	return true, nil
}

// setFinished sets the final status of a running run; false if it is not
// running (or not there).
func (s *Store) setFinished(ctx context.Context, integrationID, runID string, status integration.RunStatus, message string, at time.Time) (bool, error) {
	u := finishUpdate(&s.table, integrationID, runID, status, message, at)
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: u.TableName, Key: u.Key, UpdateExpression: u.UpdateExpression,
		ConditionExpression: u.ConditionExpression, ExpressionAttributeNames: u.ExpressionAttributeNames, ExpressionAttributeValues: u.ExpressionAttributeValues})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("finish run %s: %w", runID, err)
	}
	return true, nil
}

// freeActive deletes the active-run item if it is still runID's. If this
// fails, StartRun takes over an item whose run has finished.
func (s *Store) freeActive(ctx context.Context, integrationID, runID string) {
	_, _ = s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &s.table, Key: activeKey(integrationID),
		ConditionExpression: aws.String("run_id = :r"), ExpressionAttributeValues: map[string]types.AttributeValue{":r": str(runID)}})
}

// sweepGroup is how many delta items one sweep transaction applies.
const sweepGroup = 25

// sweepDeltas applies to the counts the deltas that the jobs of a stopped
// run kept and no completion applied (a job that failed, was dead-lettered
// or was stopped under its run), deleting each delta item in the same
// transaction, conditioned on it being as read. The run's status changed
// first, so no write of the run adds to a delta item any more; a
// completion racing the sweep is conditioned on the delta item as it read
// it too, so of the two exactly one applies it. Idempotent: what is swept
// is gone, and a delta item a completion applied holds nothing.
func (s *Store) sweepDeltas(ctx context.Context, integrationID, runID string) error {
	var pending []map[string]types.AttributeValue
	in := partition(deltaPK(integrationID, runID))
	in.TableName = &s.table
	err := s.queryAll(ctx, in, func(items []map[string]types.AttributeValue) error {
		for _, it := range items {
			if len(deltaOf(it).d) > 0 {
				pending = append(pending, it)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sweep count deltas of run %s: %w", runID, err)
	}
	for len(pending) > 0 {
		n := min(sweepGroup, len(pending))
		if err := s.sweepItems(ctx, integrationID, pending[:n]); err != nil {
			return fmt.Errorf("sweep count deltas of run %s: %w", runID, err)
		}
		pending = pending[n:]
	}
	return nil
}

// sweepItems applies and deletes delta items in one transaction; items
// changed meanwhile (applied by their job's completion) are read again.
func (s *Store) sweepItems(ctx context.Context, integrationID string, group []map[string]types.AttributeValue) error {
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if attempt > putRetries {
				return fmt.Errorf("the count deltas kept changing")
			}
			if err := s.pause(ctx, backoff(attempt)); err != nil {
				return err
			}
			var again []map[string]types.AttributeValue
			for _, it := range group {
				out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: pk(strAttr(it, "PK"), strAttr(it, "SK")), ConsistentRead: aws.Bool(true)})
				if err != nil {
					return fmt.Errorf("read count deltas: %w", err)
				}
				if out.Item != nil && len(deltaOf(out.Item).d) > 0 {
					again = append(again, out.Item)
				}
			}
			group = again
		}
		if len(group) == 0 {
			return nil
		}
		// The purge check first: a purge removes the counts with the data,
		// and a sweep must not bring the counts item back.
		items := []types.TransactWriteItem{s.purgedCheck(integrationID)}
		sum := map[string]int64{}
		for _, it := range group {
			jd := deltaOf(it)
			for m, n := range jd.d {
				sum[m] += n
			}
			items = append(items, types.TransactWriteItem{Delete: &types.Delete{TableName: &s.table, Key: pk(strAttr(it, "PK"), strAttr(it, "SK")),
				ConditionExpression: aws.String("#v = :v"), ExpressionAttributeNames: map[string]string{"#v": "v"},
				ExpressionAttributeValues: map[string]types.AttributeValue{":v": num(jd.v)}}})
		}
		if add, names, values := addUpdate("n_", sum); add != "" {
			items = append(items, types.TransactWriteItem{Update: &types.Update{TableName: &s.table, Key: countKey(integrationID),
				UpdateExpression: aws.String("ADD " + add), ExpressionAttributeNames: names, ExpressionAttributeValues: values}})
		}
		_, err := s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
		if err == nil {
			return nil
		}
		if conditionFailedAt(err, 0) {
			return nil // purged: the counts went with the data
		}
		var tce *types.TransactionCanceledException
		if !errors.As(err, &tce) {
			return err
		}
	}
}

// ClaimFinish names the job that finalises the run on the run item.
func (s *Store) ClaimFinish(ctx context.Context, integrationID, runID, jobID string) (bool, error) {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: &s.table, Key: pk(runPK(integrationID), runID),
		UpdateExpression:          aws.String("SET finisher = :j"),
		ConditionExpression:       aws.String("#s = :running AND (attribute_not_exists(finisher) OR finisher = :j)"),
		ExpressionAttributeNames:  map[string]string{"#s": "status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":j": str(jobID), ":running": str(string(integration.RunRunning))}})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("claim finish of run %s: %w", runID, err)
	}
	return true, nil
}

// RunReads reads every job marker of the run. A model's clock is the
// earliest any job reported: a cursor must not skip what a job missed.
func (s *Store) RunReads(ctx context.Context, integrationID, runID string) ([]integration.PageRead, map[string]time.Time, error) {
	reads := []integration.PageRead{}
	clock := map[string]time.Time{}
	in := partition(jobPK(integrationID, runID))
	in.TableName, in.ProjectionExpression = &s.table, aws.String("#p, #c")
	in.ExpressionAttributeNames = map[string]string{"#p": "pages", "#c": "clock"}
	err := s.queryAll(ctx, in, func(items []map[string]types.AttributeValue) error {
		for _, it := range items {
			if raw := strAttr(it, "pages"); raw != "" {
				var pages []integration.PageRead
				if err := json.Unmarshal([]byte(raw), &pages); err != nil {
					return err
				}
				reads = append(reads, pages...)
			}
			if raw := strAttr(it, "clock"); raw != "" {
				var c map[string]time.Time
				if err := json.Unmarshal([]byte(raw), &c); err != nil {
					return err
				}
				for m, t := range c {
					if cur, ok := clock[m]; !ok || t.Before(cur) {
						clock[m] = t
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("page reads of run %s: %w", runID, err)
	}
	sort.SliceStable(reads, func(i, j int) bool { return reads[i].Seq < reads[j].Seq })
	return reads, clock, nil
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
