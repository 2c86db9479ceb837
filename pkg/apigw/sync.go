package apigw

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/joinery/joinery/pkg/integration"
	"github.com/joinery/joinery/pkg/syncer"
)

// SyncAPI holds the sync handlers.
type SyncAPI struct {
	*API
	Engine *syncer.Engine
}

type progressJSON struct {
	PagesDone    int64 `json:"pages_done"`
	PagesTotal   int64 `json:"pages_total"`
	ItemsSeen    int64 `json:"items_seen"`
	ItemsWritten int64 `json:"items_written"`
	ItemsFailed  int64 `json:"items_failed"`
}

type runJSON struct {
	ID         string       `json:"id"`
	Status     string       `json:"status"`
	Direction  string       `json:"direction"`
	Models     []string     `json:"models"`
	Full       bool         `json:"full"`
	Progress   progressJSON `json:"progress"`
	Error      string       `json:"error,omitempty"`
	StartedAt  time.Time    `json:"started_at"`
	FinishedAt *time.Time   `json:"finished_at"`
}

func runToJSON(r *integration.Run) *runJSON {
	if r == nil {
		return nil
	}
	p := r.Progress
	return &runJSON{ID: r.ID, Status: string(r.Status), Direction: string(r.Direction), Models: r.Models, Full: r.Full,
		Progress: progressJSON{p.PagesDone, p.PagesTotal, p.ItemsSeen, p.ItemsWritten, p.ItemsFailed},
		Error:    r.Error, StartedAt: r.StartedAt, FinishedAt: r.FinishedAt}
}

// StartSync handles POST /v1/integrations/{id}/sync: 202 {run_id} for a
// new run, 200 {run_id} of the run already under way.
func (a *SyncAPI) StartSync() Handler {
	return a.route("POST /v1/integrations/{id}/sync", integration.RoleEditor, func(ctx context.Context, actor integration.Actor, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		var in struct {
			Direction string   `json:"direction"`
			Models    []string `json:"models"`
			Full      bool     `json:"full"`
		}
		if err := decode(req, &in); err != nil {
			return none, err
		}
		run, started, err := a.Engine.Start(ctx, actor, req.PathParameters["id"], syncer.StartInput{Direction: integration.Direction(in.Direction), Models: in.Models, Full: in.Full})
		if err != nil {
			return none, err
		}
		status := http.StatusAccepted
		if !started {
			status = http.StatusOK
		}
		return jsonResponse(status, map[string]any{"run_id": run.ID, "started": started}), nil
	})
}

// SyncStatus handles GET /v1/integrations/{id}/sync_status.
func (a *SyncAPI) SyncStatus() Handler {
	return a.route("GET /v1/integrations/{id}/sync_status", integration.RoleViewer, func(ctx context.Context, actor integration.Actor, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		st, err := a.Engine.Status(ctx, actor, req.PathParameters["id"])
		if err != nil {
			return none, err
		}
		return jsonResponse(http.StatusOK, struct {
			SyncStatus string     `json:"sync_status"`
			LastSyncAt *time.Time `json:"last_sync_at"`
			SyncError  string     `json:"sync_error"`
			Run        *runJSON   `json:"run"`
		}{string(st.Integration.SyncStatus), st.Integration.LastSyncAt, st.Integration.SyncError, runToJSON(st.Run)}), nil
	})
}

// Records handles GET /v1/integrations/{id}/records: the change feed. A
// page stops filling before its response would pass PageBudgetBytes
// (Lambda fails a response over MaxResponseBytes); next_cursor resumes
// at the first record left out.
func (a *SyncAPI) Records() Handler {
	return a.route("GET /v1/integrations/{id}/records", integration.RoleViewer, func(ctx context.Context, actor integration.Actor, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		q := req.QueryStringParameters
		limit, after, err := feedParams(q)
		if err != nil {
			return none, err
		}
		fill := newPageFill()
		var page syncer.RecordPage
		next, err := a.page(ctx, q["cursor"], func(cursor string) (int, string, error) {
			page, err = a.Engine.Records(ctx, actor, req.PathParameters["id"], q["model"], after, limit, cursor, fill.take)
			return len(page.Items), page.NextCursor, err
		})
		if err != nil {
			return none, err
		}
		items, err := fill.items(page.Items)
		if err != nil {
			return none, err
		}
		return jsonResponse(http.StatusOK, recordPage{items, next}), nil
	})
}

type recordPage struct {
	Items      []json.RawMessage `json:"items"`
	NextCursor string            `json:"next_cursor,omitempty"`
}

// pageFill encodes a page's records as the store reads them and tells it
// to stop before the response would pass PageBudgetBytes.
type pageFill struct {
	budget  int // what the items may cost in the envelope
	used    int
	encoded []json.RawMessage
	of      []recordVersion // the record each encoding is of
	err     error
}

// recordVersion tells whether a listed record is the one encoded.
type recordVersion struct {
	id, hash, unreadable string
	changedAt            time.Time
	size                 int
}

func versionOf(r *integration.StoredRecord) recordVersion {
	return recordVersion{r.ExternalID, r.Hash, r.Unreadable, r.ChangedAt, len(r.Data)}
}

func newPageFill() *pageFill {
	// The envelope of an empty page with the longest cursor: what the
	// items are added to.
	empty := jsonResponse(http.StatusOK, recordPage{[]json.RawMessage{}, strings.Repeat("x", maxCursorBytes)})
	return &pageFill{budget: PageBudgetBytes - EnvelopeSize(empty)}
}

func (f *pageFill) take(r *integration.StoredRecord) bool {
	b, err := listedRecordJSON(r)
	if err != nil {
		f.err = err
		return false
	}
	cost := escapedLen(b) + 1 // and the comma before the next
	if len(f.encoded) > 0 && f.used+cost > f.budget {
		return false
	}
	f.used += cost
	f.encoded, f.of = append(f.encoded, b), append(f.of, versionOf(r))
	return true
}

// items returns the page's records encoded: as take encoded them, unless
// the page holds others than it was offered.
func (f *pageFill) items(recs []integration.StoredRecord) ([]json.RawMessage, error) {
	if f.err != nil {
		return nil, f.err
	}
	items := make([]json.RawMessage, len(recs))
	for i := range recs {
		if i < len(f.of) && f.of[i] == versionOf(&recs[i]) {
			items[i] = f.encoded[i]
			continue
		}
		var err error
		if items[i], err = listedRecordJSON(&recs[i]); err != nil {
			return nil, err
		}
	}
	return items, nil
}

// Record handles GET /v1/integrations/{id}/records/{model}/{external_id}:
// one record as it is now, in the shape of a feed item; with
// ?field=body_html&part=N, part N of a body too large to be shown inline.
func (a *SyncAPI) Record() Handler {
	return a.route("GET /v1/integrations/{id}/records/{model}/{external_id}", integration.RoleViewer, func(ctx context.Context, actor integration.Actor, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		p := req.PathParameters
		part, err := partParams(req.QueryStringParameters)
		if err != nil {
			return none, err
		}
		r, err := a.Engine.Record(ctx, actor, p["id"], p["model"], p["external_id"])
		if err != nil {
			return none, err
		}
		if part > 0 {
			return recordPart(r, part)
		}
		b, err := listedRecordJSON(r)
		if err != nil {
			return none, err
		}
		return jsonResponse(http.StatusOK, b), nil
	})
}

// partFields are the fields that may be read in parts.
var partFields = []string{"body_html"}

// partParams reads ?field=&part= (0: the whole record is asked for).
func partParams(q map[string]string) (int, error) {
	field, hasField := q["field"]
	raw, hasPart := q["part"]
	if !hasField && !hasPart {
		return 0, nil
	}
	fields := map[string]string{}
	switch {
	case !hasField:
		fields["field"] = "required with part: body_html"
	case !slices.Contains(partFields, field):
		fields["field"] = "must be body_html"
	}
	part, err := strconv.Atoi(raw)
	switch {
	case !hasPart:
		fields["part"] = "required with field: a part number, from 1"
	case err != nil || part < 1:
		fields["part"] = "must be a whole number from 1"
	}
	if len(fields) > 0 {
		return 0, integration.Invalid(fields)
	}
	return part, nil
}

// recordPart is part n of a record's body_html, cut so that each part's
// response stays within PartBytes. changed_at tells a reader whether all
// the parts it read come from the same version of the record.
func recordPart(r *integration.StoredRecord, n int) (events.APIGatewayV2HTTPResponse, error) {
	if r.Unreadable != "" {
		return none, integration.Errorf(integration.EUNPROCESSABLE, "The record's stored data cannot be read: %s", r.Unreadable)
	}
	var rec struct {
		BodyHTML string `json:"body_html"`
	}
	if err := json.Unmarshal(r.Data, &rec); err != nil {
		return none, fmt.Errorf("record %s %s is not a JSON object: %w", r.Model, r.ExternalID, err)
	}
	parts := splitParts(rec.BodyHTML, PartBytes)
	if n > len(parts) {
		return none, integration.Invalid(map[string]string{"part": fmt.Sprintf("must be between 1 and %d: body_html has %d part(s)", len(parts), len(parts))})
	}
	return jsonResponse(http.StatusOK, struct {
		Part      int    `json:"part"`
		Parts     int    `json:"parts"`
		Data      string `json:"data"`
		ChangedAt string `json:"changed_at"`
	}{n, len(parts), parts[n-1], r.ChangedAt.UTC().Format(time.RFC3339Nano)}), nil
}

// listedRecordJSON is a record as the API shows it; one whose JSON would
// pass InlineRecordBytes is shown without body_html and with
// "body_omitted": true (read it with ?field=body_html&part=N).
func listedRecordJSON(r *integration.StoredRecord) (json.RawMessage, error) {
	m, err := recordMap(r)
	if err != nil {
		return nil, err
	}
	b, err := encodeJSON(m)
	if err != nil || len(b) <= InlineRecordBytes {
		return b, err
	}
	if _, ok := m["body_html"]; !ok {
		return b, nil
	}
	delete(m, "body_html")
	m["body_omitted"] = true
	return encodeJSON(m)
}

// recordMap is the stored record plus when Joinery changed it (the value
// to poll modified_after with). A record whose stored data could not be
// read is shown as such, alone, rather than failing its whole page.
func recordMap(r *integration.StoredRecord) (map[string]any, error) {
	m := map[string]any{}
	if r.Unreadable != "" {
		m["external_id"], m["type"], m["unreadable"], m["message"] = r.ExternalID, r.Model, true, r.Unreadable
	} else if err := json.Unmarshal(r.Data, &m); err != nil || m == nil {
		return nil, fmt.Errorf("record %s %s is not a JSON object: %v", r.Model, r.ExternalID, err)
	}
	if _, ok := m["model"]; !ok {
		// Stored content records name their model in "type" only; every
		// record the API shows carries the common field "model".
		m["model"] = r.Model
	}
	m["changed_at"] = r.ChangedAt.UTC().Format(time.RFC3339Nano)
	m["deleted"] = r.Deleted
	if r.LocalID != "" {
		m["local_id"] = r.LocalID // the push that created the item
	}
	return m, nil
}

type eventJSON struct {
	ID         string         `json:"id"`
	RunID      string         `json:"run_id,omitempty"`
	Type       string         `json:"type"`
	Status     string         `json:"status"`
	Model      string         `json:"model,omitempty"`
	ExternalID string         `json:"external_id,omitempty"`
	Message    string         `json:"message"`
	At         time.Time      `json:"at"`
	Details    map[string]any `json:"details,omitempty"`
}

// Events handles GET /v1/integrations/{id}/events, newest first.
func (a *SyncAPI) Events() Handler {
	return a.route("GET /v1/integrations/{id}/events", integration.RoleViewer, func(ctx context.Context, actor integration.Actor, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		q := req.QueryStringParameters
		limit, err := limitParam(q)
		if err != nil {
			return none, err
		}
		var page syncer.EventPage
		next, err := a.page(ctx, q["cursor"], func(cursor string) (int, string, error) {
			page, err = a.Engine.Events(ctx, actor, req.PathParameters["id"], q["status"], q["type"], limit, cursor)
			return len(page.Items), page.NextCursor, err
		})
		if err != nil {
			return none, err
		}
		out := struct {
			Items      []eventJSON `json:"items"`
			NextCursor string      `json:"next_cursor,omitempty"`
		}{Items: make([]eventJSON, len(page.Items)), NextCursor: next}
		for i, e := range page.Items {
			out.Items[i] = eventJSON{e.ID, e.RunID, e.Type, e.Status, e.Model, e.ExternalID, e.Message, e.At, e.Details}
		}
		return jsonResponse(http.StatusOK, out), nil
	})
}

// SyncHealth handles GET /v1/integrations/{id}/sync_health.
func (a *SyncAPI) SyncHealth() Handler {
	return a.route("GET /v1/integrations/{id}/sync_health", integration.RoleViewer, func(ctx context.Context, actor integration.Actor, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		h, err := a.Engine.Health(ctx, actor, req.PathParameters["id"])
		if err != nil {
			return none, err
		}
		return jsonResponse(http.StatusOK, struct {
			Records           map[string]int64 `json:"records"`
			LastSuccessAt     *time.Time       `json:"last_success_at"`
			FailedRuns24h     int64            `json:"failed_runs_24h"`
			FailedItems24h    int64            `json:"failed_items_24h"`
			FailedPushes24h   int64            `json:"failed_pushes_24h"`
			ConflictPushes24h int64            `json:"conflict_pushes_24h"`
			DeadLetters       int64            `json:"dead_letters"`
			PendingPushes     int              `json:"pending_pushes"`
			SyncStatus        string           `json:"sync_status"`
			ConnectionStatus  string           `json:"connection_status"`
			ConnectionMessage string           `json:"connection_message,omitempty"`
			LastRun           *runJSON         `json:"last_run"`
			SkippedModels     []string         `json:"skipped_models"`
		}{h.Records, h.LastSuccessAt, h.FailedRuns24h, h.FailedItems24h, h.FailedPushes24h, h.ConflictPushes24h, h.DeadLetters24h,
			h.PendingPushes, string(h.SyncStatus), string(h.ConnectionStatus), h.ConnectionMessage, runToJSON(h.LastRun), append([]string{}, h.SkippedModels...)}), nil
	})
}

type pushJSON struct {
	ID         string    `json:"id"`
	Model      string    `json:"model"`
	LocalID    string    `json:"local_id"`
	Seq        int64     `json:"seq"`
	Status     string    `json:"status"`
	ExternalID string    `json:"external_id,omitempty"`
	Error      string    `json:"error,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

func pushToJSON(p *integration.Push) pushJSON {
	return pushJSON{p.ID, p.Model, p.LocalID, p.Seq, string(p.Status), p.ExternalID, p.Error, p.CreatedAt, p.UpdatedAt}
}

// MaxPushBodyBytes bounds a push's request body: room for data of
// syncer.MaxPushData bytes and the rest of the request.
const MaxPushBodyBytes = 300_000

// Push handles POST /v1/integrations/{id}/records: 202 {push_id}; the
// worker creates or updates the item on the platform.
func (a *SyncAPI) Push() Handler {
	return a.route("POST /v1/integrations/{id}/records", integration.RoleEditor, func(ctx context.Context, actor integration.Actor, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		var in struct {
			Model   string          `json:"model"`
			LocalID string          `json:"local_id"`
			Data    json.RawMessage `json:"data"`
		}
		if err := decodeWithin(req, &in, MaxPushBodyBytes); err != nil {
			return none, err
		}
		if len(in.Data) == 0 || string(in.Data) == "null" {
			return none, integration.Invalid(map[string]string{"data": "required: the record to push"})
		}
		// The model says how to read the data: a unified model's own
		// fields, or the content fields.
		data, err := syncer.ReadPushData(in.Model, in.Data)
		if err != nil {
			return none, err
		}
		p, err := a.Engine.Push(ctx, actor, req.PathParameters["id"], in.Model, in.LocalID, data)
		if err != nil {
			return none, err
		}
		resp := jsonResponse(http.StatusAccepted, map[string]any{"push_id": p.ID, "status": p.Status, "seq": p.Seq})
		return resp, nil
	})
}

// GetPush handles GET /v1/integrations/{id}/pushes/{push_id}.
func (a *SyncAPI) GetPush() Handler {
	return a.route("GET /v1/integrations/{id}/pushes/{push_id}", integration.RoleViewer, func(ctx context.Context, actor integration.Actor, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		p, err := a.Engine.GetPush(ctx, actor, req.PathParameters["id"], req.PathParameters["push_id"])
		if err != nil {
			return none, err
		}
		return a.showPush(ctx, p)
	})
}

// feedParams reads a change feed's limit and modified_after, for an
// integration's feed and a site's alike.
func feedParams(q map[string]string) (limit int, after time.Time, err error) {
	if limit, err = limitParam(q); err != nil {
		return 0, after, err
	}
	if raw := q["modified_after"]; raw != "" {
		if after, err = time.Parse(time.RFC3339Nano, raw); err != nil {
			return 0, after, integration.Invalid(map[string]string{"modified_after": "must be an RFC 3339 time, e.g. 2026-11-30T12:00:00Z"})
		}
	}
	return limit, after, nil
}
