package apigw

import (
	"context"
	"slices"
	"time"

	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/integration"
	"github.com/joinery/joinery/pkg/webhook"
)

// webhooksJSON is what an integration shows of its inbound webhooks.
type webhooksJSON struct {
	// URL is where the platform posts them, for the platforms whose URL
	// names the integration and is not a secret (WordPress); null
	// otherwise.
	URL            *string    `json:"url"`
	LastReceivedAt *time.Time `json:"last_received_at"`
	Received24h    int64      `json:"received_24h"`
	Rejected24h    int64      `json:"rejected_24h"`
}

// webhooksView reads the integration's webhook counts of the last 24
// hours with one bounded query; nil for a platform without webhooks.
func (a *API) webhooksView(ctx context.Context, it *integration.Integration) (*webhooksJSON, error) {
	if !slices.Contains(webhook.Platforms, it.Platform) {
		return nil, nil
	}
	now := time.Now()
	if a.Service.Now != nil {
		now = a.Service.Now()
	}
	st, err := a.Service.Store.WebhookStats(ctx, it.AccountID, it.ID, now.Add(-24*time.Hour))
	if err != nil {
		return nil, err
	}
	v := &webhooksJSON{LastReceivedAt: st.LastReceivedAt, Received24h: st.Received24h, Rejected24h: st.Rejected24h}
	if it.Platform == "wordpress" {
		if u := connector.WebhookURL(a.WebhookURLs[it.Platform], it.Platform, it.ID); u != "" {
			v.URL = &u
		}
	}
	return v, nil
}
