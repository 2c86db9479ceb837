package syncer

import (
	"context"
	"fmt"
	"slices"

	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/integration"
)

const (
	// retryBatch is how many items of a model's retry set a run reads
	// again, one by one, before it lists the model.
	retryBatch = 100
	// maxRetrySet bounds the retry set a full run keeps from deletion.
	maxRetrySet = 10000
)

// retryItems reads again, one by one, items of the model's retry set (the
// items earlier runs could not read). Read now: the record is stored and
// the item leaves the set. Gone: it leaves the set, and its record, if
// there is one, is marked deleted. Still failing: it stays, for the next
// run. It returns what it did and the ids that still exist (read, or still
// failing: an item that can't be read still exists), which count as seen.
func (e *Engine) retryItems(ctx context.Context, conn connector.Connection, c connector.Connector, run *integration.Run, jobID, model string) (integration.Progress, []string, error) {
	var p integration.Progress
	set, err := e.Store.Retries(ctx, run.IntegrationID, model, retryBatch)
	if err != nil {
		return p, nil, fmt.Errorf("read the %s retry set: %w", model, err)
	}
	ids := make([]string, 0, len(set))
	for id := range set {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	g, ok := c.(connector.Getter)
	if len(ids) == 0 || !ok {
		return p, ids, nil
	}
	var recs []integration.StoredRecord
	var done, pending, seen []string
	gone := 0
	for _, id := range ids {
		r, err := g.Get(ctx, conn, model, id)
		switch {
		case err == nil:
			r.Model, r.ExternalID = model, id
			data, hash, err := Encode(r)
			if err != nil {
				return p, nil, fmt.Errorf("encode %s %s: %w", model, id, err)
			}
			recs = append(recs, integration.StoredRecord{IntegrationID: run.IntegrationID, Model: model, ExternalID: id,
				Hash: hash, Data: data, Deleted: r.Deleted, ModifiedAt: r.ModifiedAt})
			done = append(done, id)
			seen = append(seen, id)
		case isKind(err, connector.ErrNotFound):
			gone++
			done = append(done, id)
			stored, err := e.Store.GetRecord(ctx, run.IntegrationID, model, id)
			if integration.ErrorCode(err) == integration.ENOTFOUND || (err == nil && (stored.Deleted || stored.Unreadable != "")) {
				continue
			}
			if err != nil {
				return p, nil, err
			}
			d, err := deletedVersion(*stored)
			if err != nil {
				return p, nil, err
			}
			recs = append(recs, d)
		case ctx.Err() != nil:
			return p, nil, ctx.Err()
		default:
			// Too large still, or the platform failing: it stays. A run
			// must not fail on one item.
			pending = append(pending, id)
			seen = append(seen, id)
		}
	}
	// Written before they leave the set: a crash in between only reads
	// them again.
	put, err := e.put(ctx, integration.WriteScope{RunID: run.ID, JobID: jobID}, recs)
	if err != nil {
		return p, nil, err
	}
	if len(done) > 0 {
		if err := e.Store.RemoveRetries(ctx, run.IntegrationID, model, done); err != nil {
			return p, nil, fmt.Errorf("remove %d items from the %s retry set: %w", len(done), model, err)
		}
	}
	read := len(done) - gone
	p.ItemsSeen, p.ItemsWritten = int64(read), int64(put.Written)
	status := "ok"
	if len(pending) > 0 {
		status = "warning"
	}
	_ = e.event(ctx, run, "retried", status, model, fmt.Sprintf("%s: %d items that could not be read before read again, %d gone, %d still failing", model, read, gone, len(pending)),
		map[string]any{"read": read, "gone": gone, "failing": len(pending)})
	return p, seen, nil
}
