package dynamostore

// The site feed is a second index of the record items (GSI2, see
// records.go): a record written for a site carries the site feed's keys
// on its own item, so it joins the feed, moves in it and leaves it (a
// purge deletes the item) in the very write that changes the record and
// its integration's feed. GSI2 already indexes integrations by platform
// under ACCT#<account>#PLAT#<platform>: the site feed's partitions, under
// ACCT#<account>#SITE#<site>#FEED#<model>, are distinct from those.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/joinery/joinery/pkg/integration"
)

func siteFeedPK(site integration.SiteRef, model string) string {
	return "ACCT#" + site.AccountID + "#SITE#" + site.SiteID + "#FEED#" + model
}

func siteFeedSK(t time.Time, integrationID, ext string) string {
	return feedTime(t) + "#" + integrationID + "#" + ext
}

// sitePK is the site feed partition the record's item goes to: the
// write's site, else the one it is stored in.
func (w *recWrite) sitePK() string {
	if w.site != nil {
		return siteFeedPK(*w.site, w.rec.Model)
	}
	return w.st.sitePK
}

// joinSiteFeed puts records stored unchanged, but not in their site's
// feed (written before the site feed existed), into it at the place
// their changed_at gives them, without changing them otherwise: a sync
// that reads them again fills the feed. A record changed meanwhile is
// left alone: its write placed it.
func (s *Store) joinSiteFeed(ctx context.Context, integrationID string, ws []*recWrite) error {
	for _, w := range ws {
		_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: &s.table, Key: pk(recPK(integrationID), w.sk),
			UpdateExpression:         aws.String("SET GSI2PK = :pk, GSI2SK = :sk"),
			ConditionExpression:      aws.String("#ca = :ca AND #h = :h AND attribute_not_exists(GSI2PK)"),
			ExpressionAttributeNames: map[string]string{"#ca": "changed_at", "#h": "hash"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(siteFeedPK(*w.site, w.rec.Model)),
				":sk": str(w.st.changedAt + "#" + integrationID + "#" + w.rec.ExternalID), ":ca": str(w.st.changedAt), ":h": str(w.st.hash)}})
		var ccf *types.ConditionalCheckFailedException
		if err != nil && !errors.As(err, &ccf) {
			return fmt.Errorf("put record %s in its site feed: %w", w.rec.ExternalID, err)
		}
	}
	return nil
}

type siteCursor struct {
	S string `json:"s"` // GSI2SK of the last item
	I string `json:"i"` // its integration
	K string `json:"k"` // its external id
}

// ListSiteRecords queries the site feed index: one Query a page. Like the
// integration's feed, the index is eventually consistent (see the README).
func (s *Store) ListSiteRecords(ctx context.Context, q integration.SiteRecordQuery) ([]integration.StoredRecord, string, error) {
	partition := siteFeedPK(integration.SiteRef{AccountID: q.AccountID, SiteID: q.SiteID}, q.Model)
	var c *siteCursor
	if q.Cursor != "" {
		raw, err := base64.RawURLEncoding.DecodeString(q.Cursor)
		c = &siteCursor{}
		if err != nil || json.Unmarshal(raw, c) != nil || c.S == "" || c.I == "" || c.K == "" || !strings.HasSuffix(c.S, "#"+c.I+"#"+c.K) {
			return nil, "", badCursor()
		}
	}
	values := map[string]types.AttributeValue{":pk": str(partition)}
	// As in ListRecords: '$' sorts after '#', past every key at that time.
	lower, upper := "", ""
	if !q.ChangedAfter.IsZero() {
		lower = feedTime(q.ChangedAfter) + "$"
	}
	if !q.Before.IsZero() {
		upper = feedTime(q.Before)
	}
	if c != nil && c.S <= lower {
		c = nil
	}
	if c != nil {
		lower = ""
	}
	if (upper != "" && lower != "" && lower >= upper) || (upper != "" && c != nil && c.S >= upper) {
		return []integration.StoredRecord{}, "", nil
	}
	cond := "GSI2PK = :pk"
	switch {
	case lower != "" && upper != "":
		cond += " AND GSI2SK BETWEEN :lo AND :hi"
		values[":lo"], values[":hi"] = str(lower), str(upper)
	case lower != "":
		cond += " AND GSI2SK > :lo"
		values[":lo"] = str(lower)
	case upper != "":
		cond += " AND GSI2SK < :hi"
		values[":hi"] = str(upper)
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	in := &dynamodb.QueryInput{TableName: &s.table, IndexName: aws.String("GSI2"), Limit: aws.Int32(int32(limit)),
		KeyConditionExpression: aws.String(cond), ExpressionAttributeValues: values}
	if c != nil {
		in.ExclusiveStartKey = map[string]types.AttributeValue{"GSI2PK": str(partition), "GSI2SK": str(c.S),
			"PK": str(recPK(c.I)), "SK": str(recSK(q.Model, c.K))}
	}
	out, err := s.db.Query(ctx, in)
	if err != nil {
		return nil, "", fmt.Errorf("list site records: %w", err)
	}
	recs := make([]integration.StoredRecord, 0, len(out.Items))
	var kept map[string]types.AttributeValue // the item of the last record kept
	stopped := false
	for _, it := range out.Items {
		integrationID := strings.TrimSuffix(strings.TrimPrefix(strAttr(it, "PK"), "INT#"), "#REC")
		if q.Integrations != nil && !q.Integrations[integrationID] {
			continue
		}
		r, err := recordMeta(integrationID, it)
		if err != nil {
			r.Unreadable = err.Error()
		} else {
			data, err := s.recordData(ctx, integrationID, it)
			var u *unreadable
			if errors.As(err, &u) {
				cur, gerr := s.getRecordItem(ctx, integrationID, recSK(r.Model, r.ExternalID))
				if gerr != nil {
					return nil, "", gerr
				}
				if cur == nil || !sameVersion(it, cur) {
					continue // replaced meanwhile: listed at its new place
				}
				data, err = s.recordData(ctx, integrationID, cur)
			}
			if errors.As(err, &u) {
				r.Unreadable = u.why
			} else if err != nil {
				return nil, "", err
			} else {
				r.Data = data
			}
		}
		if q.Take != nil && !q.Take(&r) && len(recs) > 0 {
			stopped = true
			break
		}
		recs = append(recs, r)
		kept = it
	}
	var after map[string]types.AttributeValue
	if stopped {
		after = kept
	} else if len(out.LastEvaluatedKey) > 0 && len(out.Items) > 0 {
		after = out.Items[len(out.Items)-1]
	}
	next := ""
	if after != nil {
		id := strings.TrimSuffix(strings.TrimPrefix(strAttr(after, "PK"), "INT#"), "#REC")
		b, _ := json.Marshal(siteCursor{S: strAttr(after, "GSI2SK"), I: id, K: strAttr(after, "external_id")})
		next = base64.RawURLEncoding.EncodeToString(b)
	}
	return recs, next, nil
}
