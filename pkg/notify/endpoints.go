package notify

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/joinery/joinery/pkg/integration"
)

// Endpoint limits.
const (
	MaxEndpoints      = 50 // per account
	maxURL            = 2048
	maxDescription    = 500
	maxEventTypes     = 50
	maxSiteIDs        = 100
	RotationOverlap   = 24 * time.Hour
	maxDeliveriesPage = 100
)

// Endpoints is the use cases of the host's outbound endpoints (admin and
// above). A caller limited to some sites sees and changes only endpoints
// limited to those sites.
type Endpoints struct {
	Store integration.NotifyStore
	Queue integration.Queue
	// CheckURL refuses a URL the deliveries may not go to (not https, a
	// private or special-purpose address); it names the problem.
	CheckURL func(ctx context.Context, u *url.URL) error
	Now      func() time.Time
}

func (s *Endpoints) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// EndpointInput is a new endpoint, or a change to one (nil: unchanged).
type EndpointInput struct {
	URL         *string
	EventTypes  *[]string
	SiteIDs     *[]string
	Description *string
	Disabled    *bool
}

// visible reports whether a caller may see e: one limited to sites only
// endpoints limited to some of them.
func visible(actor integration.Actor, e *integration.Endpoint) bool {
	if actor.Sites == nil {
		return true
	}
	if len(e.SiteIDs) == 0 {
		return false
	}
	for _, s := range e.SiteIDs {
		if !actor.CanSeeSite(s) {
			return false
		}
	}
	return true
}

func (s *Endpoints) check(ctx context.Context, actor integration.Actor, in EndpointInput, creating bool) error {
	fields := map[string]string{}
	if in.URL != nil || creating {
		raw := ""
		if in.URL != nil {
			raw = strings.TrimSpace(*in.URL)
		}
		u, err := url.Parse(raw)
		switch {
		case raw == "":
			fields["url"] = "required"
		case len(raw) > maxURL:
			fields["url"] = fmt.Sprintf("must be at most %d characters", maxURL)
		case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
			fields["url"] = "must be an absolute https URL"
		case u.User != nil:
			fields["url"] = "must not carry a user name or password"
		case u.Fragment != "":
			fields["url"] = "must not carry a fragment"
		case s.CheckURL != nil:
			if err := s.CheckURL(ctx, u); err != nil {
				fields["url"] = err.Error()
			}
		}
	}
	if in.EventTypes != nil {
		switch {
		case len(*in.EventTypes) > maxEventTypes:
			fields["event_types"] = fmt.Sprintf("must have at most %d entries", maxEventTypes)
		default:
			for _, t := range *in.EventTypes {
				if !integration.ValidEventPattern(t) {
					fields["event_types"] = fmt.Sprintf("%q is not an event type or <prefix>.*; the types are %s", t, strings.Join(integration.EventTypes, ", "))
					break
				}
			}
		}
	}
	if in.SiteIDs != nil {
		switch {
		case len(*in.SiteIDs) > maxSiteIDs:
			fields["site_ids"] = fmt.Sprintf("must have at most %d entries", maxSiteIDs)
		default:
			for _, id := range *in.SiteIDs {
				if !integration.ValidSiteID(id) {
					fields["site_ids"] = fmt.Sprintf("%q is not a site id (1-128 letters, digits, '.', '_', ':' or '-')", id)
					break
				}
			}
		}
	}
	if in.Description != nil && (!utf8.ValidString(*in.Description) || utf8.RuneCountInString(*in.Description) > maxDescription) {
		fields["description"] = fmt.Sprintf("must be valid UTF-8 of at most %d characters", maxDescription)
	}
	if len(fields) > 0 {
		return integration.Invalid(fields)
	}
	// The sites claim: only a caller with no sites claim may subscribe to
	// every site, and one with it only to its own sites.
	if actor.Sites != nil && (in.SiteIDs != nil || creating) {
		if in.SiteIDs == nil || len(*in.SiteIDs) == 0 {
			return integration.Errorf(integration.EFORBIDDEN, "This token is limited to some sites: give site_ids within them.")
		}
		for _, id := range *in.SiteIDs {
			if !actor.CanSeeSite(id) {
				return integration.Errorf(integration.EFORBIDDEN, "This token may not subscribe to site %q.", id)
			}
		}
	}
	return nil
}

func dedupe(in []string) []string {
	out := []string{}
	for _, v := range in {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// Create stores a new endpoint and returns it with its secret, shown
// this once.
func (s *Endpoints) Create(ctx context.Context, actor integration.Actor, in EndpointInput) (*integration.Endpoint, string, error) {
	if err := actor.Require(integration.RoleAdmin); err != nil {
		return nil, "", err
	}
	if err := s.check(ctx, actor, in, true); err != nil {
		return nil, "", err
	}
	list, err := s.Store.ListEndpoints(ctx, actor.AccountID)
	if err != nil {
		return nil, "", err
	}
	if len(list) >= MaxEndpoints {
		return nil, "", integration.Errorf(integration.ECONFLICT, "The account has %d endpoints, the most it may have.", MaxEndpoints)
	}
	secret, err := NewSecret()
	if err != nil {
		return nil, "", err
	}
	now := s.now()
	e := &integration.Endpoint{ID: "ep_" + integration.NewID(), AccountID: actor.AccountID, URL: strings.TrimSpace(*in.URL),
		EventTypes: []string{}, SiteIDs: []string{}, Secrets: []integration.EndpointSecret{{Value: secret}}, CreatedAt: now, UpdatedAt: now, Version: 1}
	apply(e, in)
	if err := s.Store.CreateEndpoint(ctx, e); err != nil {
		return nil, "", err
	}
	return e, secret, nil
}

func apply(e *integration.Endpoint, in EndpointInput) {
	if in.URL != nil {
		e.URL = strings.TrimSpace(*in.URL)
	}
	if in.EventTypes != nil {
		e.EventTypes = dedupe(*in.EventTypes)
	}
	if in.SiteIDs != nil {
		e.SiteIDs = dedupe(*in.SiteIDs)
	}
	if in.Description != nil {
		e.Description = strings.TrimSpace(*in.Description)
	}
	if in.Disabled != nil {
		e.Disabled = *in.Disabled
		if !e.Disabled {
			e.DisabledReason = ""
		}
	}
}

// Get returns an endpoint the caller may see; ENOTFOUND otherwise.
func (s *Endpoints) Get(ctx context.Context, actor integration.Actor, id string) (*integration.Endpoint, error) {
	if err := actor.Require(integration.RoleAdmin); err != nil {
		return nil, err
	}
	e, err := s.Store.GetEndpoint(ctx, actor.AccountID, id)
	if err != nil {
		return nil, err
	}
	if !visible(actor, e) {
		return nil, integration.Errorf(integration.ENOTFOUND, "No such webhook endpoint.")
	}
	return e, nil
}

// List returns the endpoints the caller may see, oldest first.
func (s *Endpoints) List(ctx context.Context, actor integration.Actor) ([]*integration.Endpoint, error) {
	if err := actor.Require(integration.RoleAdmin); err != nil {
		return nil, err
	}
	all, err := s.Store.ListEndpoints(ctx, actor.AccountID)
	if err != nil {
		return nil, err
	}
	out := []*integration.Endpoint{}
	for _, e := range all {
		if visible(actor, e) {
			out = append(out, e)
		}
	}
	return out, nil
}

// Update changes an endpoint. Deliveries write its failure count too: a
// write that lost that race is made again on what is stored.
func (s *Endpoints) Update(ctx context.Context, actor integration.Actor, id string, in EndpointInput) (*integration.Endpoint, error) {
	if err := s.check(ctx, actor, in, false); err != nil {
		if _, gerr := s.Get(ctx, actor, id); gerr != nil {
			return nil, gerr // not found first: another's endpoint is not validated
		}
		return nil, err
	}
	for try := 0; ; try++ {
		e, err := s.Get(ctx, actor, id)
		if err != nil {
			return nil, err
		}
		prev := e.Version
		apply(e, in)
		if in.Disabled != nil && !*in.Disabled {
			// Enabled again: a fresh start.
			e.Failures, e.FailingSince, e.BackoffUntil = 0, time.Time{}, time.Time{}
		}
		e.UpdatedAt = s.now()
		err = s.Store.UpdateEndpoint(ctx, e, prev)
		if integration.ErrorCode(err) == integration.EPRECONDITIONFAILED && try < 3 {
			continue
		}
		if err != nil {
			return nil, err
		}
		return e, nil
	}
}

// Delete removes an endpoint; its queued deliveries find it gone.
func (s *Endpoints) Delete(ctx context.Context, actor integration.Actor, id string) error {
	if _, err := s.Get(ctx, actor, id); err != nil {
		return err
	}
	return s.Store.DeleteEndpoint(ctx, actor.AccountID, id)
}

// RotateSecret gives the endpoint a new secret; the one it replaces keeps
// signing beside it for RotationOverlap.
func (s *Endpoints) RotateSecret(ctx context.Context, actor integration.Actor, id string) (*integration.Endpoint, string, error) {
	secret, err := NewSecret()
	if err != nil {
		return nil, "", err
	}
	for try := 0; ; try++ {
		e, err := s.rotate(ctx, actor, id, secret)
		if integration.ErrorCode(err) == integration.EPRECONDITIONFAILED && try < 3 {
			continue // a delivery wrote the endpoint meanwhile
		}
		return e, secret, err
	}
}

func (s *Endpoints) rotate(ctx context.Context, actor integration.Actor, id, secret string) (*integration.Endpoint, error) {
	e, err := s.Get(ctx, actor, id)
	if err != nil {
		return nil, err
	}
	now := s.now()
	keep := []integration.EndpointSecret{{Value: secret}}
	for _, old := range e.Secrets {
		switch {
		case old.Until.IsZero():
			keep = append(keep, integration.EndpointSecret{Value: old.Value, Until: now.Add(RotationOverlap)})
		case old.Until.After(now):
			keep = append(keep, old)
		}
	}
	prev := e.Version
	e.Secrets, e.UpdatedAt = keep, now
	if err := s.Store.UpdateEndpoint(ctx, e, prev); err != nil {
		return nil, err
	}
	return e, nil
}

// Test sends the endpoint a ping event, as any other delivery.
func (s *Endpoints) Test(ctx context.Context, actor integration.Actor, id string) (*integration.NotifyDelivery, error) {
	e, err := s.Get(ctx, actor, id)
	if err != nil {
		return nil, err
	}
	now := s.now()
	ev := &integration.NotifyEvent{ID: integration.EventID("ping", e.ID, integration.NewID()), Type: integration.EventPing, At: now,
		AccountID: e.AccountID, Data: map[string]any{"endpoint_id": e.ID}}
	body, err := Body(ev)
	if err != nil {
		return nil, err
	}
	dl, msg, err := newDelivery(ctx, s.Store, e, ev, body, now)
	if err != nil {
		return nil, err
	}
	if err := s.Queue.Send(ctx, []integration.Message{msg}); err != nil {
		return nil, err
	}
	return dl, nil
}

// Deliveries pages through an endpoint's deliveries, newest first.
func (s *Endpoints) Deliveries(ctx context.Context, actor integration.Actor, id, status string, limit int, cursor string) ([]*integration.NotifyDelivery, string, error) {
	if _, err := s.Get(ctx, actor, id); err != nil {
		return nil, "", err
	}
	switch status {
	case "", integration.NotifyPending, integration.NotifySucceeded, integration.NotifyFailed:
	default:
		return nil, "", integration.Invalid(map[string]string{"status": "must be pending, succeeded or failed"})
	}
	if limit <= 0 || limit > maxDeliveriesPage {
		limit = maxDeliveriesPage
	}
	return s.Store.ListNotifyDeliveries(ctx, integration.NotifyDeliveryQuery{AccountID: actor.AccountID, EndpointID: id, Status: status, Limit: limit, Cursor: cursor})
}

// Retry sends a delivery again, now: the same event, the same webhook-id.
func (s *Endpoints) Retry(ctx context.Context, actor integration.Actor, id, deliveryID string) (*integration.NotifyDelivery, error) {
	e, err := s.Get(ctx, actor, id)
	if err != nil {
		return nil, err
	}
	dl, err := s.Store.GetNotifyDelivery(ctx, actor.AccountID, e.ID, deliveryID)
	if err != nil {
		return nil, err
	}
	msg, err := Message{DeliveryID: dl.ID, EndpointID: e.ID, AccountID: e.AccountID, Attempt: dl.Attempts + 1, Manual: true}.queued(0)
	if err != nil {
		return nil, err
	}
	if err := s.Queue.Send(ctx, []integration.Message{msg}); err != nil {
		return nil, err
	}
	return dl, nil
}
