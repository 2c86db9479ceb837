package syncer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/integration"
)

// Revoker ends an integration's grant at its platform when the
// integration is deleted (connector.Revoker).
type Revoker interface {
	// Revokes says whether the platform's grants are revoked at teardown.
	Revokes(platform string) bool
	// Revoke ends the grant the stored tokens belong to; nil when it is
	// revoked or was already gone.
	Revoke(ctx context.Context, platform string, tokens map[string]string) error
}

// Teardown is what a deleted integration's revoke job needs, the item
// being gone: where its secret is and which platform holds the grant.
type Teardown struct {
	Platform      string `json:"platform"`
	SiteID        string `json:"site_id,omitempty"`
	SecretName    string `json:"secret_name,omitempty"`
	SecretVersion string `json:"secret_version,omitempty"`
	// SiteURL is the integration's site, where its webhook subscriptions
	// are removed (webhooksubs.go).
	SiteURL string `json:"site_url,omitempty"`
	// Remains, on the purge jobs that follow a revocation that failed for
	// good, says what is left at the platform; the last purge job records
	// it as an event, so the purge does not take it away.
	Remains string `json:"remains,omitempty"`
}

// defaultRevokeAttempts bounds a revocation's deliveries when the queue
// sets no maxReceiveCount.
const defaultRevokeAttempts = 5

// QueueTeardown queues a deleted integration's teardown when its platform
// has a grant to revoke (Service.TeardownLater): revoke, delete the
// secret, then purge. false: nothing to revoke here.
func (e *Engine) QueueTeardown(ctx context.Context, it *integration.Integration) (bool, error) {
	revokes := e.Revoker != nil && e.Revoker.Revokes(it.Platform)
	if e.Queue == nil || !it.Credentials.HasCredentials() || !(revokes || e.subscribes(it.Platform)) {
		return false, nil
	}
	td := &Teardown{Platform: it.Platform, SiteID: it.SiteID, SecretName: it.Credentials.SecretName, SecretVersion: it.Credentials.VersionID,
		SiteURL: it.ExternalSiteURL}
	if err := e.send(ctx, []Job{{Kind: "revoke", AccountID: it.AccountID, IntegrationID: it.ID, JobID: "revoke", Teardown: td}}); err != nil {
		return false, err
	}
	return true, nil
}

// revoke runs a teardown's first steps: revoke the grant with the stored
// tokens, delete the secret, then queue the purge. A failed revocation is
// retried with backoff; on the last attempt the secret is deleted anyway
// and the purge records what remains at the platform.
func (e *Engine) revoke(ctx context.Context, job Job, attempt int) error {
	td := job.Teardown
	if td == nil {
		return fmt.Errorf("revoke job of %s without its teardown", job.IntegrationID)
	}
	ref := integration.SecretRef{AccountID: job.AccountID, IntegrationID: job.IntegrationID, SiteID: td.SiteID, Platform: td.Platform}
	tokens, err := e.teardownTokens(ctx, ref, td)
	switch {
	case integration.ErrorCode(err) == integration.ENOTFOUND:
		tokens = nil // deleted by an earlier delivery: nothing left to revoke with
	case err != nil:
		return fmt.Errorf("read the tokens of %s: %w", job.IntegrationID, err)
	}
	last := e.MaxReceives
	if last <= 0 {
		last = defaultRevokeAttempts
	}
	if err := e.unsubscribeWebhooks(ctx, job, td, tokens); err != nil {
		// Tried again while the platform is only busy; otherwise its
		// deliveries for the integration find no route, and are answered.
		if ce := jobError(err); attempt < last && (ce.Kind == connector.ErrUnavailable || ce.Kind == connector.ErrRateLimited) {
			return &Retry{After: e.backoff()(attempt, ce.RetryAfter), Err: err}
		}
	}
	remains := ""
	if tokens != nil && e.Revoker != nil && e.Revoker.Revokes(td.Platform) {
		if rerr := e.Revoker.Revoke(ctx, td.Platform, tokens); rerr != nil {
			var ce *connector.Error
			isCE := errors.As(rerr, &ce)
			// An expired token (Slack's rotated tokens after 12 hours) will
			// not work on a later try either.
			if attempt < last && !(isCE && ce.Kind == connector.ErrAuth) {
				after := e.backoff()(attempt, 0)
				if isCE {
					after = e.backoff()(attempt, ce.RetryAfter)
				}
				return &Retry{After: after, Err: rerr}
			}
			remains = remainsMessage(td.Platform, tokens, attempt, rerr)
		}
	}
	if err := e.Integrations.Secrets.DeleteSecret(ctx, ref); err != nil {
		return fmt.Errorf("delete secret of %s: %w", job.IntegrationID, err)
	}
	purge := Job{Kind: "purge", AccountID: job.AccountID, IntegrationID: job.IntegrationID, JobID: "purge"}
	if remains != "" {
		purge.Teardown = &Teardown{Platform: td.Platform, Remains: remains}
	}
	return e.send(ctx, []Job{purge})
}

// currentSecrets is what a secrets store offers when it can read an
// integration's secret as last written (refreshed tokens), whatever
// version the item pointed at.
type currentSecrets interface {
	CurrentSecret(ctx context.Context, ref integration.SecretRef) (integration.SecretVersion, map[string]string, error)
}

// teardownTokens reads the tokens to revoke with: the secret's current
// version where the store can read it (a refresh since the delete left a
// newer pair), else the version the integration pointed at.
func (e *Engine) teardownTokens(ctx context.Context, ref integration.SecretRef, td *Teardown) (map[string]string, error) {
	if cs, ok := e.Integrations.Secrets.(currentSecrets); ok {
		_, v, err := cs.CurrentSecret(ctx, ref)
		return v, err
	}
	return e.Integrations.Secrets.GetSecret(ctx, td.SecretName, td.SecretVersion)
}

func (e *Engine) backoff() func(int, time.Duration) time.Duration {
	if e.Backoff != nil {
		return e.Backoff
	}
	return Backoff
}

// remainsMessage says what a failed revocation left at the platform and
// what the user can do about it; no token, only the account's name.
func remainsMessage(platform string, tokens map[string]string, attempts int, err error) string {
	name := platform
	if e, ok := connector.NewCatalog().Entry(platform); ok {
		name = e.DisplayName
	}
	account := ""
	if n := tokens["external_account_name"]; n != "" {
		account = " (" + n + ")"
	} else if id := tokens["external_account_id"]; id != "" {
		account = " (" + id + ")"
	}
	tries := fmt.Sprintf("%d attempts", attempts)
	if attempts == 1 {
		tries = "1 attempt"
	}
	why := "the platform did not answer"
	var ce *connector.Error
	if errors.As(err, &ce) {
		why = ce.Message
	}
	return fmt.Sprintf("Joinery could not revoke its access at %s after %s (%s). Its tokens are deleted, but the grant remains at %s%s until it expires or is removed there: remove Joinery from the account's connected apps.",
		name, tries, why, name, account)
}

// recordRemains keeps, after the purge, the event saying what a failed
// revocation left at the platform.
func (e *Engine) recordRemains(ctx context.Context, job Job) {
	if job.Teardown == nil || job.Teardown.Remains == "" {
		return
	}
	_ = e.Store.AddEvents(ctx, []integration.SyncEvent{{ID: e.newID(), IntegrationID: job.IntegrationID, Type: "connection",
		Status: "warning", Message: job.Teardown.Remains, At: e.now(), Details: map[string]any{"platform": job.Teardown.Platform, "revoked": false}}})
}
