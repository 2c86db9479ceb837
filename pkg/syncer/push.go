package syncer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/integration"
	"github.com/joinery/joinery/pkg/models"
)

// Pusher is what a connector needs beyond Connector to take pushes.
type Pusher interface {
	// PushModels are the models that can be pushed.
	PushModels() []string
	EnsureTerm(ctx context.Context, c connector.Connection, model, name string) (integration.Term, error)
	Get(ctx context.Context, c connector.Connection, model, externalID string) (integration.Record, error)
	// FindBySlug finds an item by slug in any status; false if none.
	FindBySlug(ctx context.Context, c connector.Connection, model, slug string) (integration.Record, bool, error)
	// Patch writes the patch's fields to an item and leaves the others as
	// they are; externalID "" creates one.
	Patch(ctx context.Context, c connector.Connection, model, externalID string, p connector.Patch) (integration.Record, error)
	// FetchImage downloads an image to upload and checks it (reachable,
	// an image, not too large) before anything is written.
	FetchImage(ctx context.Context, c connector.Connection, url string) (connector.ImageFile, error)
}

// Conflict policies, from config.conflict_policy.
const (
	RemoteWins = "remote_wins"
	LocalWins  = "local_wins"
	Manual     = "manual"
)

const (
	// MaxPushData bounds a push's data, JSON-encoded.
	MaxPushData = 262_144
	maxTerms    = 50
	leaseFor    = 2 * time.Minute
)

var pushStatuses = []string{"publish", "draft", "pending", "private", "future"}

func conflictPolicy(it *integration.Integration) string {
	if p, ok := it.Config["conflict_policy"].(string); ok && (p == LocalWins || p == Manual) {
		return p
	}
	return RemoteWins
}

func validLocalID(s string) bool {
	return s != "" && len(s) <= 128 && integration.ValidSiteID(s)
}

// Push queues a record to create or update on the platform.
func (e *Engine) Push(ctx context.Context, actor integration.Actor, id, model, localID string, d PushData) (*integration.Push, error) {
	if err := actor.Require(integration.RoleEditor); err != nil {
		return nil, err
	}
	it, err := e.Integrations.Get(ctx, actor, id)
	if err != nil {
		return nil, err
	}
	// As stored: only the fields sent, and markup not escaped.
	data, err := d.MarshalJSON()
	if err != nil {
		return nil, err
	}
	if len(data) > MaxPushData {
		return nil, &integration.Error{Code: integration.ETOOLARGE, Message: "The push's data is too large.",
			Fields: map[string]string{"data": fmt.Sprintf("must be at most %d bytes JSON-encoded, got %d", MaxPushData, len(data))}}
	}
	pushModels, ok := pushModelsOf(e.Connectors[it.Platform])
	fields := map[string]string{}
	switch {
	case !ok:
		return nil, integration.Errorf(integration.EUNPROCESSABLE, "Pushing to %s is not available yet.", it.Platform)
	case model == "":
		fields["model"] = fmt.Sprintf("required: one of %v", pushModels)
	case !slices.Contains(pushModels, model):
		fields["model"] = fmt.Sprintf("must be one of %v", pushModels)
	}
	if err := checkUnified(model, d, fields); err != nil {
		return nil, err
	}
	if !validLocalID(localID) {
		fields["local_id"] = "required: 1-128 letters, digits, '.', '_', ':' or '-'"
	}
	if d.Status.Value != "" && !slices.Contains(pushStatuses, d.Status.Value) {
		fields["data.status"] = fmt.Sprintf("must be one of %v, or left out to keep the item's status", pushStatuses)
	}
	for name, terms := range map[string]Field[[]string]{"data.categories": d.Categories, "data.tags": d.Tags} {
		if len(terms.Value) > maxTerms {
			fields[name] = fmt.Sprintf("must have at most %d names", maxTerms)
		}
		for i, t := range terms.Value {
			if strings.TrimSpace(t) == "" || utf8.RuneCountInString(t) > 200 {
				fields[fmt.Sprintf("%s[%d]", name, i)] = "must be a name of 1-200 characters"
			}
		}
	}
	if u := d.FeaturedImageURL.Value; u != "" {
		if u, err := url.Parse(u); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
			fields["data.featured_image_url"] = "must be an http or https URL without userinfo"
		}
	}
	if len(fields) > 0 {
		return nil, integration.Invalid(fields)
	}
	if pc, ok := e.Connectors[it.Platform].(PushChecker); ok && d.Unified != nil {
		if err := pc.CheckPush(it.Config, model, d.Unified); err != nil {
			return nil, err
		}
	}
	if !it.Credentials.HasCredentials() {
		return nil, integration.Errorf(integration.EUNPROCESSABLE, "The integration has no credentials yet; set them first.")
	}
	now := e.now()
	p := &integration.Push{ID: e.newID(), AccountID: it.AccountID, IntegrationID: it.ID, Model: model, LocalID: localID, Data: data,
		Status: integration.PushQueued, CreatedAt: now, UpdatedAt: now}
	if err := e.Store.CreatePush(ctx, p); err != nil {
		return nil, err
	}
	if err := e.send(ctx, []Job{{Kind: "push", AccountID: it.AccountID, IntegrationID: it.ID, JobID: p.ID, Model: model, LocalID: localID}}); err != nil {
		// Nothing will apply it: say so, so the host app pushes again.
		p.Status, p.Error, p.UpdatedAt = integration.PushFailed, "The push could not be queued; push again.", e.now()
		_ = e.Store.UpdatePush(context.WithoutCancel(ctx), p)
		return nil, fmt.Errorf("queue push %s: %w", p.ID, err)
	}
	return p, nil
}

// GetPush returns a push of an integration the actor may see.
func (e *Engine) GetPush(ctx context.Context, actor integration.Actor, id, pushID string) (*integration.Push, error) {
	it, err := e.Integrations.Get(ctx, actor, id)
	if err != nil {
		return nil, err
	}
	p, err := e.Store.GetPush(ctx, it.ID, pushID)
	if integration.ErrorCode(err) == integration.ENOTFOUND {
		return nil, integration.Errorf(integration.ENOTFOUND, "Push %q not found.", pushID)
	}
	return p, err
}

// pushLocalID is a push job's local id. Jobs queued by releases before
// LocalID carried it in Page (and a run id of "push"); they still run.
func (j Job) pushLocalID() string {
	if j.LocalID != "" {
		return j.LocalID
	}
	return j.Page
}

// handlePush applies a local id's queued pushes in order, under a lease on
// its mapping, so two workers never apply pushes of one local id at once.
func (e *Engine) handlePush(ctx context.Context, job Job, attempt int) error {
	localID := job.pushLocalID()
	it, err := e.Integrations.Get(ctx, system(job.AccountID), job.IntegrationID)
	if integration.ErrorCode(err) == integration.ENOTFOUND {
		return nil // deleted with its pushes
	}
	if err != nil {
		return err
	}
	if !it.IsActive {
		// No call to the platform while it is inactive: the pushes stay
		// queued, for a to_external run once it is active again.
		return e.Store.AddEvents(ctx, []integration.SyncEvent{{ID: e.newID(), IntegrationID: it.ID, Type: "push", Status: "warning", Model: job.Model,
			Message: fmt.Sprintf("pushes of %s %s stay queued: %s", job.Model, localID, inactiveMessage), At: e.now(), Details: map[string]any{"local_id": localID}}})
	}
	for {
		owner := e.newID()
		m, ok, err := e.Store.LeaseMapping(ctx, it.ID, job.Model, localID, owner, e.now().Add(leaseFor))
		if err != nil {
			return err
		}
		if !ok {
			// Another worker holds the local id. It applies ours too: it
			// looks for more pushes after it lets go, and ours was queued
			// before we found the lease held. A holder that dies comes
			// back with its message, and its lease has expired by then.
			return nil
		}
		err = e.applyQueued(ctx, it, job.Model, localID, m, owner, attempt)
		_ = e.Store.ReleaseMapping(context.WithoutCancel(ctx), it.ID, job.Model, localID, owner)
		if errors.Is(err, integration.ErrRunStopped) || errors.Is(err, errHeld) {
			return nil // moot: the integration is being deleted; or held until a conflict is resolved
		}
		if err != nil {
			return err
		}
		// A push queued after our last look, whose job found the lease
		// held and was acked, is ours to apply.
		_, err = e.Store.PushBySeq(ctx, it.ID, job.Model, localID, m.AppliedSeq+1)
		if integration.ErrorCode(err) == integration.ENOTFOUND {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// applyQueued applies, in order, the pushes of a local id after the last
// one applied, under the lease owner holds.
func (e *Engine) applyQueued(ctx context.Context, it *integration.Integration, model, localID string, m *integration.Mapping, owner string, attempt int) error {
	for {
		p, err := e.Store.PushBySeq(ctx, it.ID, model, localID, m.AppliedSeq+1)
		if integration.ErrorCode(err) == integration.ENOTFOUND {
			return nil
		}
		if err != nil {
			return err
		}
		if holds(it, p) {
			return errHeld
		}
		if p.Status == integration.PushQueued {
			if err := e.applyPush(ctx, it, m, p, owner, attempt); err != nil {
				return err
			}
			if holds(it, p) {
				// Not past it: the next job stops here too, until resolved.
				if err := e.Store.SaveMapping(ctx, m, owner); err != nil {
					return err
				}
				return errHeld
			}
		}
		m.AppliedSeq = p.Seq
		if err := e.Store.SaveMapping(ctx, m, owner); err != nil {
			return err
		}
	}
}

// applyPush applies one push and records its outcome; an error means the
// push stays queued and the job is retried.
func (e *Engine) applyPush(ctx context.Context, it *integration.Integration, m *integration.Mapping, p *integration.Push, owner string, attempt int) error {
	outcome, rec, err := e.pushOne(ctx, it, m, p, owner, false)
	if errors.Is(err, integration.ErrRunStopped) {
		return err // the integration's sync data was purged: nothing to record
	}
	if err != nil {
		ce := jobError(err)
		switch ce.Kind {
		case connector.ErrRateLimited, connector.ErrUnavailable:
			if e.MaxReceives == 0 || attempt < e.MaxReceives {
				backoff := e.Backoff
				if backoff == nil {
					backoff = Backoff
				}
				return &Retry{After: backoff(attempt, ce.RetryAfter), Err: err}
			}
		case connector.ErrAuth:
			e.lostConnection(ctx, it, "", integration.ConnectionReauthorizationNeeded, ce.Message)
		}
		p.Status, p.Error = integration.PushFailed, ce.Message
		if m.ExternalID != "" && m.RemoteModified.IsZero() && !models.Unified(p.Model) {
			// The push created a draft and never got its content through.
			// (A unified model's item is created whole, in one call: one
			// that exists is kept.)
			if derr := e.dropDraft(ctx, it, m, owner); derr != nil {
				p.Error += fmt.Sprintf(" The draft %s %s created for it could not be deleted (%s); delete it on the platform.", p.Model, m.ExternalID, jobError(derr).Message)
			}
		}
	} else {
		p.Status, p.ExternalID, p.Error = outcome, rec.ExternalID, ""
		if outcome == integration.PushConflict {
			p.Error = "The item was changed on the platform since Joinery last wrote it."
			if err := e.keepRemote(ctx, it, p, rec); err != nil {
				return err
			}
		}
	}
	p.UpdatedAt = e.now()
	if err := e.Store.UpdatePush(ctx, p); err != nil {
		return err
	}
	status, msg := "ok", fmt.Sprintf("%s %s pushed as %s", p.Model, p.LocalID, rec.ExternalID)
	switch p.Status {
	case integration.PushFailed:
		status, msg = "error", fmt.Sprintf("push of %s %s failed: %s", p.Model, p.LocalID, p.Error)
	case integration.PushConflict:
		status, msg = "warning", fmt.Sprintf("push of %s %s not applied: %s (policy %s)", p.Model, p.LocalID, p.Error, conflictPolicy(it))
	}
	typ := "push"
	if p.Status == integration.PushConflict {
		typ = "conflict"
	}
	return e.Store.AddEvents(ctx, []integration.SyncEvent{{ID: e.newID(), IntegrationID: it.ID, Type: typ, Status: status, Model: p.Model,
		ExternalID: rec.ExternalID, Message: msg, At: e.now(), Details: map[string]any{"push_id": p.ID, "local_id": p.LocalID}}})
}

// pushOne creates or updates the item, writing only the fields the push
// carries. A new item is created first as a draft under a slug derived
// from the push, and the mapping saved, before it is given the rest: a
// push retried after a crash finds it by that slug instead of creating a
// second one. Everything that can be checked (terms, the featured image)
// is checked before that draft is created.
func (e *Engine) pushOne(ctx context.Context, it *integration.Integration, m *integration.Mapping, p *integration.Push, owner string, overrule bool) (integration.PushStatus, integration.Record, error) {
	if models.Unified(p.Model) {
		return e.pushFields(ctx, it, m, p, owner, overrule)
	}
	conn, c, err := e.conn(ctx, it)
	if err != nil {
		return "", integration.Record{}, err
	}
	pusher, ok := c.(Pusher)
	if !ok {
		return "", integration.Record{}, &connector.Error{Kind: connector.ErrInvalid, Message: fmt.Sprintf("Pushing %s to %s is not available.", p.Model, it.Platform)}
	}
	var d PushData
	if err := json.Unmarshal(p.Data, &d); err != nil {
		return "", integration.Record{}, &connector.Error{Kind: connector.ErrInvalid, Message: "The push's data could not be read."}
	}
	ch := connector.Patch{Title: text(d.Title), BodyHTML: text(d.BodyHTML), Excerpt: text(d.Excerpt)}
	if s := d.slug(); s != "" {
		ch.Slug = &s
	}
	if s := d.status(); s != "" {
		ch.Status = &s
	}
	for _, tax := range []struct {
		model string
		names Field[[]string]
		into  **[]integration.Term
	}{{"category", d.Categories, &ch.Categories}, {"tag", d.Tags, &ch.Tags}} {
		if !tax.names.Set {
			continue
		}
		terms := []integration.Term{} // null or []: no terms
		for _, name := range tax.names.Value {
			t, err := pusher.EnsureTerm(ctx, conn, tax.model, name)
			if err != nil {
				return "", integration.Record{}, err
			}
			terms = append(terms, t)
		}
		*tax.into = &terms
	}
	imageURL := d.imageURL()
	switch {
	case d.FeaturedImageURL.Null:
		ch.FeaturedImage = &connector.ImageChange{Remove: true}
	case imageURL == "":
	case imageURL == m.ImageURL && m.ImageID != "":
		// Uploaded by an earlier push: reuse it, don't upload a copy.
		ch.FeaturedImage = &connector.ImageChange{ExternalID: m.ImageID}
	default:
		f, err := pusher.FetchImage(ctx, conn, imageURL)
		if err != nil {
			return "", integration.Record{}, err
		}
		ch.FeaturedImage = &connector.ImageChange{File: &f}
	}
	if d.FeaturedImageAlt.Set {
		if ch.FeaturedImage == nil {
			ch.FeaturedImage = &connector.ImageChange{}
		}
		ch.FeaturedImage.Alt = text(d.FeaturedImageAlt)
	}
	if m.ExternalID == "" || m.RemoteModified.IsZero() {
		// A new item (or the draft of one whose first push did not get
		// through): it is created as a draft unless the push says more,
		// and its slug comes from the title unless the push gives one.
		if ch.Status == nil {
			ch.Status = connector.Str("draft")
		}
		if ch.Slug == nil {
			ch.Slug = connector.Str(d.Title.Value) // "" lets WordPress choose
		}
	}
	if m.ExternalID == "" {
		marker := "joinery-" + strings.ToLower(p.ID)
		found, ok, err := pusher.FindBySlug(ctx, conn, p.Model, marker)
		if err != nil {
			return "", integration.Record{}, err
		}
		if !ok {
			// With the push's text: WordPress refuses an item whose title,
			// body and excerpt are all empty.
			found, err = pusher.Patch(ctx, conn, p.Model, "", connector.Patch{Title: ch.Title, BodyHTML: ch.BodyHTML, Excerpt: ch.Excerpt,
				Slug: &marker, Status: connector.Str("draft")})
			if err != nil {
				return "", integration.Record{}, err
			}
		}
		// The draft holds this push's text already.
		ch.Title, ch.BodyHTML, ch.Excerpt = nil, nil, nil
		m.ExternalID = found.ExternalID
		if err := e.Store.SaveMapping(ctx, m, owner); err != nil {
			return "", integration.Record{}, err
		}
	} else if policy := conflictPolicy(it); policy != LocalWins && !overrule && !m.RemoteModified.IsZero() {
		remote, err := pusher.Get(ctx, conn, p.Model, m.ExternalID)
		if err != nil {
			return "", integration.Record{}, err
		}
		if remote.ModifiedAt.After(m.RemoteModified) {
			// Someone changed the item on the platform since Joinery wrote
			// it. remote_wins keeps theirs and stores it as the record, and
			// their version is now the one Joinery knows: a later push is a
			// new decision and applies. manual keeps both (the push's data
			// on the push, theirs in a snapshot) and holds the later pushes
			// until the host app resolves it.
			m.RemoteModified = remote.ModifiedAt
			if policy == RemoteWins {
				if err := e.storeRecord(ctx, it, p.LocalID, remote); err != nil {
					return "", integration.Record{}, err
				}
			}
			return integration.PushConflict, remote, nil
		}
	}
	updated, err := pusher.Patch(ctx, conn, p.Model, m.ExternalID, ch)
	if err != nil {
		return "", integration.Record{}, err
	}
	m.RemoteModified = updated.ModifiedAt
	switch {
	case d.FeaturedImageURL.Null:
		m.ImageURL, m.ImageID = "", ""
	case imageURL != "" && updated.FeaturedImage != nil:
		m.ImageURL, m.ImageID = imageURL, updated.FeaturedImage.ExternalID
	}
	// Remembered at once: if what follows fails and the push is retried,
	// its own write must not look like someone else's change.
	if err := e.Store.SaveMapping(ctx, m, owner); err != nil {
		return "", integration.Record{}, err
	}
	if err := e.storeRecord(ctx, it, p.LocalID, updated); err != nil {
		return "", integration.Record{}, err
	}
	return integration.PushDone, updated, nil
}

// dropDraft deletes for good (never to the trash) the draft a first push
// created, when that push has failed for good, so nothing is left behind
// on the platform. The mapping forgets it, and the next push creates the
// item afresh.
func (e *Engine) dropDraft(ctx context.Context, it *integration.Integration, m *integration.Mapping, owner string) error {
	conn, c, err := e.conn(ctx, it)
	if err != nil {
		return err
	}
	// A worker that stopped after the push's write got through, but before
	// it was remembered, leaves the same mark as a draft: an item the
	// platform no longer shows as a draft is the user's, and stays.
	if pusher, ok := c.(Pusher); ok {
		cur, err := pusher.Get(ctx, conn, m.Model, m.ExternalID)
		switch {
		case err == nil && cur.Status != "" && cur.Status != "draft":
			m.RemoteModified = cur.ModifiedAt
			return e.Store.SaveMapping(ctx, m, owner)
		case err != nil && jobError(err).Kind != connector.ErrNotFound:
			return err
		}
	}
	err = c.Delete(ctx, conn, m.Model, m.ExternalID, true)
	if err != nil && jobError(err).Kind != connector.ErrNotFound {
		return err
	}
	m.ExternalID, m.RemoteModified, m.ImageURL, m.ImageID = "", time.Time{}, "", ""
	return e.Store.SaveMapping(ctx, m, owner)
}

// storeRecord writes a platform item a push created as the integration's
// record, with the push's local id.
func (e *Engine) storeRecord(ctx context.Context, it *integration.Integration, localID string, r integration.Record) error {
	data, hash, err := Encode(r)
	if err != nil {
		return err
	}
	// No run: the record's count changes with the write.
	_, err = e.put(ctx, integration.WriteScope{Site: integration.SiteOf(it)}, []integration.StoredRecord{{IntegrationID: it.ID, Model: r.Model, ExternalID: r.ExternalID,
		Hash: hash, Data: data, Deleted: r.Deleted, ModifiedAt: r.ModifiedAt, LocalID: localID}})
	return err
}

// repush queues again what a to_external run pushes: every local id whose
// latest push failed gets that push again (as a new push, after any
// newer), and every local id with queued pushes gets a job, in case its
// job was lost. It returns how many local ids it queued.
func (e *Engine) repush(ctx context.Context, it *integration.Integration, run *integration.Run) (int, error) {
	if _, ok := pushModelsOf(e.Connectors[it.Platform]); !ok {
		return 0, nil
	}
	pushes, err := e.Store.ListPushes(ctx, it.ID, integration.PushQueued, integration.PushFailed)
	if err != nil {
		return 0, err
	}
	type localID struct{ model, id string }
	latestFailed := map[localID]*integration.Push{}
	queued := map[localID]bool{}
	for _, p := range pushes {
		k := localID{p.Model, p.LocalID}
		if p.Status == integration.PushQueued {
			queued[k] = true
			continue
		}
		if cur := latestFailed[k]; cur == nil || p.Seq > cur.Seq {
			latestFailed[k] = p
		}
	}
	var jobs []Job
	for k, p := range latestFailed {
		// Only if nothing newer was pushed since: asked of the mapping,
		// which outlives the pushes (a newer push may have expired).
		m, err := e.Store.GetMapping(ctx, it.ID, k.model, k.id)
		if err != nil {
			return 0, fmt.Errorf("read the mapping of %s %s: %w", k.model, k.id, err)
		}
		if m.NextSeq > p.Seq {
			continue
		}
		now := e.now()
		again := &integration.Push{ID: e.newID(), AccountID: it.AccountID, IntegrationID: it.ID, Model: k.model, LocalID: k.id, Data: p.Data,
			Status: integration.PushQueued, CreatedAt: now, UpdatedAt: now}
		if err := e.Store.CreatePush(ctx, again); err != nil {
			return 0, err
		}
		queued[k] = true
	}
	for k := range queued {
		jobs = append(jobs, Job{Kind: "push", AccountID: it.AccountID, IntegrationID: it.ID, JobID: run.ID + "/" + k.model + "/" + k.id, Model: k.model, LocalID: k.id})
	}
	if len(jobs) > 0 {
		if err := e.send(ctx, jobs); err != nil {
			return 0, err
		}
	}
	if len(jobs) > 0 {
		_ = e.event(ctx, run, "repush", "ok", "", fmt.Sprintf("%d local ids queued to push again", len(jobs)), nil)
	}
	return len(jobs), nil
}
