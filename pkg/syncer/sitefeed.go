package syncer

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/joinery/joinery/pkg/integration"
)

// siteRefs keeps the site of each integration a process wrote records
// of: an integration's account and site never change, so one read serves
// every later write. Bounded: it is emptied when it grows past
// maxSiteRefs.
var (
	siteRefsMu sync.Mutex
	siteRefs   = map[string]*integration.SiteRef{}
)

const maxSiteRefs = 10_000

// withSite names, in a write's scope, the site whose feed the records
// join (see integration.SiteFeed): the integration's, read once from the
// write's account (the scope's or its run's). A write whose integration
// is gone names none: the store refuses it anyway.
func (e *Engine) withSite(ctx context.Context, scope integration.WriteScope, recs []integration.StoredRecord) (integration.WriteScope, error) {
	if scope.Site != nil || len(recs) == 0 || e.Integrations == nil {
		return scope, nil
	}
	id := recs[0].IntegrationID
	for _, r := range recs {
		if r.IntegrationID != id {
			return scope, nil // a scope names one site: the engine writes one integration's records at a time
		}
	}
	siteRefsMu.Lock()
	ref := siteRefs[id]
	siteRefsMu.Unlock()
	if ref != nil {
		scope.Site = ref
		return scope, nil
	}
	account := scope.AccountID
	if account == "" && scope.RunID != "" {
		run, err := e.Store.GetRun(ctx, id, scope.RunID)
		if integration.ErrorCode(err) == integration.ENOTFOUND {
			return scope, nil
		}
		if err != nil {
			return scope, fmt.Errorf("read the run's account: %w", err)
		}
		account = run.AccountID
	}
	if account == "" {
		return scope, nil
	}
	it, err := e.Integrations.Store.GetIntegration(ctx, account, id)
	if integration.ErrorCode(err) == integration.ENOTFOUND {
		return scope, nil
	}
	if err != nil {
		return scope, fmt.Errorf("read the integration's site: %w", err)
	}
	ref = integration.SiteOf(it)
	siteRefsMu.Lock()
	if len(siteRefs) >= maxSiteRefs {
		clear(siteRefs)
	}
	siteRefs[id] = ref
	siteRefsMu.Unlock()
	scope.Site = ref
	return scope, nil
}

// SiteRecord is a record of the site feed, with its integration's platform.
type SiteRecord struct {
	integration.StoredRecord
	Platform string
}

// SiteRecordPage is a page of a site's feed.
type SiteRecordPage struct {
	Items      []SiteRecord
	NextCursor string
}

// maxSiteIntegrationPages bounds the pages of a site's integrations read
// for its feed: a site has one integration per platform.
const maxSiteIntegrationPages = 10

// SiteRecords pages through one model's records across the integrations
// of a site, in change order, with the same contract as Records (the
// safety window, take). Only the records of the site's integrations not
// being deleted are listed. A site the actor's token may not see is not
// found.
func (e *Engine) SiteRecords(ctx context.Context, actor integration.Actor, siteID, model string, changedAfter time.Time, limit int, cursor string, take func(*SiteRecord) bool) (SiteRecordPage, error) {
	if err := actor.Require(integration.RoleViewer); err != nil {
		return SiteRecordPage{}, err
	}
	fields := map[string]string{}
	if !integration.ValidSiteID(siteID) {
		fields["site_id"] = "must be 1-128 letters, digits, '.', '_', ':' or '-'"
	}
	var models []string
	for _, c := range e.Connectors {
		for _, m := range c.Models() {
			if !slices.Contains(models, m) {
				models = append(models, m)
			}
		}
	}
	slices.Sort(models)
	switch {
	case model == "" && len(models) > 0:
		fields["model"] = fmt.Sprintf("required: one of %v", models)
	case model == "":
		fields["model"] = "required"
	case len(models) > 0 && !slices.Contains(models, model):
		fields["model"] = fmt.Sprintf("must be one of %v", models)
	}
	limit = integration.CheckLimit(fields, limit)
	if len(fields) > 0 {
		return SiteRecordPage{}, integration.Invalid(fields)
	}
	if !actor.CanSeeSite(siteID) {
		return SiteRecordPage{}, integration.Errorf(integration.ENOTFOUND, "Site %q not found.", siteID)
	}
	platforms := map[string]string{} // integration → platform
	live := map[string]bool{}
	next := ""
	for range maxSiteIntegrationPages {
		its, more, err := e.Integrations.Store.ListIntegrations(ctx, integration.ListQuery{AccountID: actor.AccountID, SiteID: siteID,
			Limit: integration.MaxListLimit, Cursor: next})
		if err != nil {
			return SiteRecordPage{}, err
		}
		for _, it := range its {
			if it.DeletingSince == nil {
				platforms[it.ID], live[it.ID] = it.Platform, true
			}
		}
		if next = more; next == "" {
			break
		}
	}
	q := integration.SiteRecordQuery{AccountID: actor.AccountID, SiteID: siteID, Model: model, ChangedAfter: changedAfter, Limit: limit,
		Cursor: cursor, Integrations: live}
	if take != nil {
		q.Take = func(r *integration.StoredRecord) bool {
			return take(&SiteRecord{StoredRecord: *r, Platform: platforms[r.IntegrationID]})
		}
	}
	if w := e.feedSafety(); w > 0 {
		q.Before = e.now().Add(-w)
	}
	recs, nextCursor, err := e.Store.ListSiteRecords(ctx, q)
	if err != nil {
		return SiteRecordPage{}, err
	}
	page := SiteRecordPage{Items: make([]SiteRecord, len(recs)), NextCursor: nextCursor}
	for i, r := range recs {
		page.Items[i] = SiteRecord{StoredRecord: r, Platform: platforms[r.IntegrationID]}
	}
	return page, nil
}
