package apigw

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/joinery/joinery/pkg/integration"
	"github.com/joinery/joinery/pkg/syncer"
)

// SiteRecords handles GET /v1/sites/{site_id}/records: one model across
// all of a site's integrations as one change feed, each item with its
// integration_id and platform. Its contract is the integration feed's
// (Records): the safety window, signed cursors, pages within
// PageBudgetBytes.
func (a *SyncAPI) SiteRecords() Handler {
	return a.route("GET /v1/sites/{site_id}/records", integration.RoleViewer, func(ctx context.Context, actor integration.Actor, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		q := req.QueryStringParameters
		limit, after, err := feedParams(q)
		if err != nil {
			return none, err
		}
		fill := newSiteFill()
		var page syncer.SiteRecordPage
		next, err := a.page(ctx, q["cursor"], func(cursor string) (int, string, error) {
			page, err = a.Engine.SiteRecords(ctx, actor, req.PathParameters["site_id"], q["model"], after, limit, cursor, fill.take)
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

// siteRecordJSON is a feed item (listedRecordJSON) with the integration
// and platform it came from.
func siteRecordJSON(r *syncer.SiteRecord) (json.RawMessage, error) {
	m, err := recordMap(&r.StoredRecord)
	if err != nil {
		return nil, err
	}
	m["integration_id"], m["platform"] = r.IntegrationID, r.Platform
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

// siteFill is pageFill for the site feed's items.
type siteFill struct {
	budget, used int
	encoded      []json.RawMessage
	of           []siteVersion
	err          error
}

type siteVersion struct {
	integrationID string
	recordVersion
}

func siteVersionOf(r *syncer.SiteRecord) siteVersion {
	return siteVersion{r.IntegrationID, versionOf(&r.StoredRecord)}
}

func newSiteFill() *siteFill {
	empty := jsonResponse(http.StatusOK, recordPage{[]json.RawMessage{}, strings.Repeat("x", maxCursorBytes)})
	return &siteFill{budget: PageBudgetBytes - EnvelopeSize(empty)}
}

func (f *siteFill) take(r *syncer.SiteRecord) bool {
	b, err := siteRecordJSON(r)
	if err != nil {
		f.err = err
		return false
	}
	cost := escapedLen(b) + 1
	if len(f.encoded) > 0 && f.used+cost > f.budget {
		return false
	}
	f.used += cost
	f.encoded, f.of = append(f.encoded, b), append(f.of, siteVersionOf(r))
	return true
}

func (f *siteFill) items(recs []syncer.SiteRecord) ([]json.RawMessage, error) {
	if f.err != nil {
		return nil, f.err
	}
	items := make([]json.RawMessage, len(recs))
	for i := range recs {
		if i < len(f.of) && f.of[i] == siteVersionOf(&recs[i]) {
			items[i] = f.encoded[i]
			continue
		}
		var err error
		if items[i], err = siteRecordJSON(&recs[i]); err != nil {
			return nil, err
		}
	}
	return items, nil
}
