package syncer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/integration"
)

// Ways to settle a push in conflict.
const (
	UseLocal  = "local"
	UseRemote = "remote"
)

// errHeld stops a push job at a push in conflict under the manual policy:
// the pushes of its local id after it wait, queued, until it is resolved.
var errHeld = errors.New("held by a push in conflict")

// holds reports whether push p, where a local id's pushes stand, holds
// the later ones: a conflict for the host app to settle.
func holds(it *integration.Integration, p *integration.Push) bool {
	return p.Status == integration.PushConflict && conflictPolicy(it) == Manual
}

// PushPage is a page of an integration's pushes, newest first.
type PushPage struct {
	Items      []*integration.Push
	NextCursor string
}

// Pushes pages through an integration's pushes, newest first, filtered by
// status and local id.
func (e *Engine) Pushes(ctx context.Context, actor integration.Actor, id string, status, localID string, limit int, cursor string) (PushPage, error) {
	it, err := e.Integrations.Get(ctx, actor, id)
	if err != nil {
		return PushPage{}, err
	}
	fields := map[string]string{}
	limit = integration.CheckLimit(fields, limit)
	if status != "" && !slices.Contains(integration.PushStatuses, integration.PushStatus(status)) {
		fields["status"] = fmt.Sprintf("must be one of %v", integration.PushStatuses)
	}
	if localID != "" && !validLocalID(localID) {
		fields["local_id"] = "must be 1-128 letters, digits, '.', '_', ':' or '-'"
	}
	if len(fields) > 0 {
		return PushPage{}, integration.Invalid(fields)
	}
	items, next, err := e.Store.PagePushes(ctx, integration.PushQuery{IntegrationID: it.ID, Status: integration.PushStatus(status), LocalID: localID,
		Limit: limit, Cursor: cursor})
	if err != nil {
		return PushPage{}, err
	}
	return PushPage{Items: items, NextCursor: next}, nil
}

// PushRemote returns the platform's version kept for a push in conflict;
// nil for any other push, or a conflict met before snapshots were kept.
func (e *Engine) PushRemote(ctx context.Context, p *integration.Push) (*integration.PushRemote, error) {
	if p.Status != integration.PushConflict {
		return nil, nil
	}
	r, err := e.Store.GetPushRemote(ctx, p.IntegrationID, p.ID)
	if integration.ErrorCode(err) == integration.ENOTFOUND {
		return nil, nil
	}
	return r, err
}

// keepRemote stores the platform's version a push met in conflict, for the
// host app to settle: only under the manual policy, where nothing else
// decides.
func (e *Engine) keepRemote(ctx context.Context, it *integration.Integration, p *integration.Push, remote integration.Record) error {
	if conflictPolicy(it) != Manual {
		return nil
	}
	data, _, err := Encode(remote)
	if err != nil {
		return err
	}
	return e.Store.SavePushRemote(ctx, it.ID, p.ID, integration.PushRemote{Data: data, ModifiedAt: remote.ModifiedAt})
}

// ResolvePush settles a push in conflict: UseLocal applies the push's data
// over the platform's version (the push is done), UseRemote keeps the
// platform's version and stores it as the record (the push is resolved).
// Then the pushes of its local id held behind it are queued again.
func (e *Engine) ResolvePush(ctx context.Context, actor integration.Actor, id, pushID, use string) (*integration.Push, error) {
	if err := actor.Require(integration.RoleEditor); err != nil {
		return nil, err
	}
	it, err := e.Integrations.Get(ctx, actor, id)
	if err != nil {
		return nil, err
	}
	if use != UseLocal && use != UseRemote {
		return nil, integration.Invalid(map[string]string{"use": fmt.Sprintf("required: %q or %q", UseLocal, UseRemote)})
	}
	p, err := e.GetPush(ctx, actor, it.ID, pushID)
	if err != nil {
		return nil, err
	}
	notConflict := func(p *integration.Push) error {
		return integration.Errorf(integration.ECONFLICT, "Push %q is not in conflict: it is %s.", p.ID, p.Status)
	}
	if p.Status != integration.PushConflict {
		return nil, notConflict(p)
	}
	if _, ok := pushModelsOf(e.Connectors[it.Platform]); !ok {
		return nil, integration.Errorf(integration.EUNPROCESSABLE, "Pushing to %s is not available.", it.Platform)
	}
	if !it.IsActive {
		return nil, integration.Errorf(integration.EUNPROCESSABLE, "%s", inactiveMessage)
	}
	// Settled under the local id's lease, as pushes are applied: no worker
	// applies one of its pushes meanwhile. The request's end must not cut
	// what follows short.
	ctx = context.WithoutCancel(ctx)
	owner := e.newID()
	m, ok, err := e.Store.LeaseMapping(ctx, it.ID, p.Model, p.LocalID, owner, e.now().Add(leaseFor))
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, integration.Errorf(integration.ECONFLICT, "Pushes of %s %q are being applied; try again in a moment.", p.Model, p.LocalID)
	}
	defer func() { _ = e.Store.ReleaseMapping(ctx, it.ID, p.Model, p.LocalID, owner) }()
	// Read again under the lease: it may have been settled meanwhile.
	if p, err = e.Store.GetPush(ctx, it.ID, pushID); err != nil {
		return nil, err
	}
	if p.Status != integration.PushConflict {
		return nil, notConflict(p)
	}
	// A later push may have been applied over it (a conflict the policy
	// then settled): its data would undo newer changes, and so would the
	// platform's version it met.
	superseded := m.AppliedSeq > p.Seq
	if use == UseLocal && superseded {
		return nil, integration.Errorf(integration.ECONFLICT, "A later push of %s %q has been applied since; push again instead.", p.Model, p.LocalID)
	}
	var ext string
	switch use {
	case UseLocal:
		// Overruling the conflict check: applying over the platform's
		// version is the decision taken. The item is an existing one, so
		// the fields the push leaves out (its status, its slug) stay.
		outcome, rec, err := e.pushOne(ctx, it, m, p, owner, true)
		if err != nil {
			return nil, e.resolveError(ctx, it, err)
		}
		p.Status, ext = outcome, rec.ExternalID
	case UseRemote:
		// Superseded, the record already holds what came later: the
		// conflict is settled without writing the older version over it.
		if !superseded {
			if ext, err = e.keepTheirs(ctx, it, m, p); err != nil {
				return nil, e.resolveError(ctx, it, err)
			}
		}
		p.Status = integration.PushResolved
	}
	if ext != "" {
		p.ExternalID = ext
	}
	p.Error, p.UpdatedAt = "", e.now()
	if err := e.Store.UpdatePush(ctx, p); err != nil {
		return nil, err
	}
	m.AppliedSeq = max(m.AppliedSeq, p.Seq)
	if err := e.Store.SaveMapping(ctx, m, owner); err != nil {
		return nil, err
	}
	_ = e.Store.DeletePushRemote(ctx, it.ID, p.ID) // a leftover snapshot costs storage only
	_ = e.Store.AddEvents(ctx, []integration.SyncEvent{{ID: e.newID(), IntegrationID: it.ID, Type: "conflict_resolved", Status: "ok", Model: p.Model,
		ExternalID: p.ExternalID, Message: fmt.Sprintf("conflict of %s %s resolved: %s version kept", p.Model, p.LocalID, use), At: e.now(),
		Details: map[string]any{"push_id": p.ID, "local_id": p.LocalID, "use": use}}})
	// Release the pushes held behind it, in order, through a push job.
	if _, err := e.Store.PushBySeq(ctx, it.ID, p.Model, p.LocalID, m.AppliedSeq+1); err == nil {
		_ = e.Store.ReleaseMapping(ctx, it.ID, p.Model, p.LocalID, owner)
		if err := e.send(ctx, []Job{{Kind: "push", AccountID: it.AccountID, IntegrationID: it.ID, JobID: p.ID + "/resolved", Model: p.Model, LocalID: p.LocalID}}); err != nil {
			// They stay queued: a to_external run queues them again.
			_ = e.Store.AddEvents(ctx, []integration.SyncEvent{{ID: e.newID(), IntegrationID: it.ID, Type: "push", Status: "warning", Model: p.Model,
				Message: fmt.Sprintf("pushes of %s %s after the resolved conflict stay queued: they could not be queued again; a to_external run sends them", p.Model, p.LocalID),
				At:      e.now(), Details: map[string]any{"local_id": p.LocalID}}})
		}
	}
	return p, nil
}

// keepTheirs stores the platform's version of a push in conflict as the
// record: the snapshot taken when the conflict was met, or, for a conflict
// met before snapshots were kept, the item as the platform has it now.
func (e *Engine) keepTheirs(ctx context.Context, it *integration.Integration, m *integration.Mapping, p *integration.Push) (string, error) {
	r, err := e.Store.GetPushRemote(ctx, it.ID, p.ID)
	if integration.ErrorCode(err) == integration.ENOTFOUND {
		conn, c, err := e.conn(ctx, it)
		if err != nil {
			return "", err
		}
		g, ok := c.(connector.Getter)
		if !ok {
			return "", &connector.Error{Kind: connector.ErrInvalid, Message: fmt.Sprintf("%s cannot read one item: push again to settle it.", it.Platform)}
		}
		remote, err := g.Get(ctx, conn, p.Model, m.ExternalID)
		if err != nil {
			return "", err
		}
		if remote.ModifiedAt.After(m.RemoteModified) {
			m.RemoteModified = remote.ModifiedAt
		}
		return remote.ExternalID, e.storeRecord(ctx, it, p.LocalID, remote)
	}
	if err != nil {
		return "", err
	}
	var head struct {
		ExternalID string `json:"external_id"`
		Deleted    bool   `json:"deleted"`
	}
	if err := json.Unmarshal(r.Data, &head); err != nil || head.ExternalID == "" {
		return "", fmt.Errorf("push %s: the snapshot of the platform's version could not be read", p.ID)
	}
	sum := sha256.Sum256(r.Data)
	// As stored by a sync: the same bytes and hash, so a later sync that
	// reads the same version writes nothing.
	_, err = e.put(ctx, integration.WriteScope{Site: integration.SiteOf(it)}, []integration.StoredRecord{{IntegrationID: it.ID, Model: p.Model, ExternalID: head.ExternalID,
		Hash: hex.EncodeToString(sum[:]), Data: r.Data, Deleted: head.Deleted, ModifiedAt: r.ModifiedAt}})
	if r.ModifiedAt.After(m.RemoteModified) {
		m.RemoteModified = r.ModifiedAt
	}
	return head.ExternalID, err
}

// resolveError is what a failed resolution answers: the push stays in
// conflict; the platform's refusal is shown, never an internal detail.
func (e *Engine) resolveError(ctx context.Context, it *integration.Integration, err error) error {
	var ce *connector.Error
	if !errors.As(err, &ce) {
		return err
	}
	switch ce.Kind {
	case connector.ErrAuth:
		_ = e.Integrations.RecordConnection(ctx, system(it.AccountID), it.ID, integration.ConnectionReauthorizationNeeded, ce.Message, e.now())
	case connector.ErrRateLimited, connector.ErrUnavailable:
		return &integration.Error{Code: integration.ERATELIMITED, Message: "The platform is busy or unavailable; try again later. The push is still in conflict.",
			RetryAfter: ce.RetryAfter}
	}
	return integration.Errorf(integration.EUNPROCESSABLE, "The platform refused: %s. The push is still in conflict.", ce.Message)
}
