// Package dynamostore keeps integrations in one DynamoDB table.
//
// Items (PK / SK):
//
//	integration       ACCT#<account> / INT#<id>   (attribute oauth: the grant's facts, JSON; oauthinfo.go)
//	                  GSI1: ACCT#<account>#SITE#<site> / PLAT#<platform>#INT#<id>  (by site)
//	                  GSI2: ACCT#<account>#PLAT#<platform> / INT#<id>              (by platform)
//	                  GSI3: DUE#<shard> / <next sync at>#<account>#<id>  (sparse: due integrations, for the scheduler; due.go)
//	uniqueness guard  UNIQ#ACCT#<account>#SITE#<site>#PLAT#<platform> / UNIQ
//	site key          SITEKEY#<id> / SITEKEY
//	                  GSI1: ACCT#<account>#SITE#<site> / KEY#<id>                 (by site)
//	counter           COUNT#<bucket> / COUNT   (TTL: expires_at)
//	oauth state       OAUTHSTATE#<sha256 of the state> / STATE  (TTL: expires_at; oauthstate.go)
//
// Every request path is a GetItem, a Query or a transaction: no Scan. The
// one Scan is the background records backfill (migrate.go).
package dynamostore

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/joinery/joinery/pkg/integration"
)

// Store implements integration.Store on DynamoDB.
type Store struct {
	db    *dynamodb.Client
	table string
	// Sleep waits between retries of throttled or contended writes; tests
	// replace it to run without waiting.
	Sleep func(time.Duration)
	// migrated caches that the records backfill has finished: it never
	// goes back.
	migrated atomic.Bool
	// eventsSince caches the events marker (events.go).
	eventsSince eventsSince
}

var _ integration.Store = (*Store)(nil)

// New returns a store on the given table.
func New(db *dynamodb.Client, table string) *Store {
	return &Store{db: db, table: table, Sleep: time.Sleep}
}

// pause waits d, or less if ctx ends first.
func (s *Store) pause(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.Sleep(d)
	return ctx.Err()
}

type item struct {
	PK                  string     `dynamodbav:"PK"`
	SK                  string     `dynamodbav:"SK"`
	GSI1PK              string     `dynamodbav:"GSI1PK"`
	GSI1SK              string     `dynamodbav:"GSI1SK"`
	GSI2PK              string     `dynamodbav:"GSI2PK"`
	GSI2SK              string     `dynamodbav:"GSI2SK"`
	GSI3PK              string     `dynamodbav:"GSI3PK,omitempty"`
	GSI3SK              string     `dynamodbav:"GSI3SK,omitempty"`
	Entity              string     `dynamodbav:"entity"`
	ID                  string     `dynamodbav:"id"`
	AccountID           string     `dynamodbav:"account_id"`
	SiteID              string     `dynamodbav:"site_id"`
	Platform            string     `dynamodbav:"platform"`
	ExternalSiteURL     string     `dynamodbav:"external_site_url"`
	Config              string     `dynamodbav:"config"`                  // JSON, so any JSON round-trips exactly
	ContentTypes        string     `dynamodbav:"content_types,omitempty"` // JSON; before, config.content_types
	SecretName          string     `dynamodbav:"secret_name,omitempty"`
	SecretVersion       string     `dynamodbav:"secret_version,omitempty"`
	CredentialFields    []string   `dynamodbav:"credential_fields,omitempty"`
	IsActive            bool       `dynamodbav:"is_active"`
	SyncEnabled         bool       `dynamodbav:"sync_enabled"`
	SyncIntervalMinutes int        `dynamodbav:"sync_interval_minutes"`
	SyncStatus          string     `dynamodbav:"sync_status"`
	LastSyncAt          *time.Time `dynamodbav:"last_sync_at,omitempty"`
	SyncError           string     `dynamodbav:"sync_error,omitempty"`
	NextSyncAt          *time.Time `dynamodbav:"next_sync_at,omitempty"`
	ConnectionStatus    string     `dynamodbav:"connection_status"`
	ConnectionMessage   string     `dynamodbav:"connection_message,omitempty"`
	ConnectionCheckedAt *time.Time `dynamodbav:"connection_checked_at,omitempty"`
	OAuth               string     `dynamodbav:"oauth,omitempty"` // JSON (oauthinfo.go)
	CreatedAt           time.Time  `dynamodbav:"created_at"`
	UpdatedAt           time.Time  `dynamodbav:"updated_at"`
	Version             int64      `dynamodbav:"version"`
	// Rev is absent from items written before revisions existed; such an
	// item is at the revision of its version.
	Rev           int64      `dynamodbav:"rev,omitempty"`
	DeletingSince *time.Time `dynamodbav:"deleting_since,omitempty"`
}

func acctPK(account string) string           { return "ACCT#" + account }
func intSK(id string) string                 { return "INT#" + id }
func sitePK(account, site string) string     { return "ACCT#" + account + "#SITE#" + site }
func platPK(account, platform string) string { return "ACCT#" + account + "#PLAT#" + platform }
func siteSK(platform, id string) string      { return "PLAT#" + platform + "#INT#" + id }
func uniqPK(account, site, platform string) string {
	return "UNIQ#ACCT#" + account + "#SITE#" + site + "#PLAT#" + platform
}

func toItem(in *integration.Integration) (map[string]types.AttributeValue, error) {
	cfg, err := json.Marshal(in.Config)
	if err != nil {
		return nil, fmt.Errorf("encode config of %s: %w", in.ID, err)
	}
	var ct []byte
	if in.ContentTypes != nil {
		if ct, err = json.Marshal(in.ContentTypes); err != nil {
			return nil, fmt.Errorf("encode content types of %s: %w", in.ID, err)
		}
	}
	oauth, err := encodeOAuth(in.OAuth)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", in.ID, err)
	}
	it := item{
		PK: acctPK(in.AccountID), SK: intSK(in.ID), OAuth: oauth,
		GSI1PK: sitePK(in.AccountID, in.SiteID), GSI1SK: siteSK(in.Platform, in.ID),
		GSI2PK: platPK(in.AccountID, in.Platform), GSI2SK: intSK(in.ID),
		Entity: "integration", ID: in.ID, AccountID: in.AccountID, SiteID: in.SiteID, Platform: in.Platform,
		ExternalSiteURL: in.ExternalSiteURL, Config: string(cfg), ContentTypes: string(ct),
		SecretName: in.Credentials.SecretName, SecretVersion: in.Credentials.VersionID, CredentialFields: in.Credentials.Fields,
		IsActive: in.IsActive, SyncEnabled: in.SyncEnabled, SyncIntervalMinutes: in.SyncIntervalMinutes,
		SyncStatus: string(in.SyncStatus), LastSyncAt: in.LastSyncAt, SyncError: in.SyncError, NextSyncAt: in.NextSyncAt,
		ConnectionStatus: string(in.ConnectionStatus), ConnectionMessage: in.ConnectionMessage,
		ConnectionCheckedAt: in.ConnectionCheckedAt, CreatedAt: in.CreatedAt, UpdatedAt: in.UpdatedAt,
		Version: in.Version, Rev: in.Rev, DeletingSince: in.DeletingSince,
	}
	// Only integrations with a next sync (or a grant to renew) are in
	// the scheduler's sparse index, and not while they are being deleted.
	if due := integration.DueAt(in); due != nil && in.DeletingSince == nil {
		it.GSI3PK, it.GSI3SK = dueShardPK(in.ID), feedTime(*due)+"#"+in.AccountID+"#"+in.ID
	}
	return attributevalue.MarshalMap(it)
}

// fromItems decodes a page of integration items.
func fromItems(avs []map[string]types.AttributeValue) ([]*integration.Integration, error) {
	items := make([]*integration.Integration, 0, len(avs))
	for _, av := range avs {
		it, err := fromItem(av)
		if err != nil {
			return nil, err
		}
		items = append(items, it)
	}
	return items, nil
}

func fromItem(av map[string]types.AttributeValue) (*integration.Integration, error) {
	var it item
	if err := attributevalue.UnmarshalMap(av, &it); err != nil {
		return nil, fmt.Errorf("decode integration: %w", err)
	}
	var cfg map[string]any
	if err := json.Unmarshal([]byte(it.Config), &cfg); err != nil {
		return nil, fmt.Errorf("decode config of %s: %w", it.ID, err)
	}
	var ct map[string]any
	if it.ContentTypes != "" {
		if err := json.Unmarshal([]byte(it.ContentTypes), &ct); err != nil {
			return nil, fmt.Errorf("decode content types of %s: %w", it.ID, err)
		}
	}
	oauth, err := decodeOAuth(it.OAuth)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", it.ID, err)
	}
	out := &integration.Integration{
		OAuth: oauth,
		ID:    it.ID, AccountID: it.AccountID, SiteID: it.SiteID, Platform: it.Platform, ExternalSiteURL: it.ExternalSiteURL,
		Config: cfg, ContentTypes: ct,
		Credentials: integration.CredentialsRef{SecretName: it.SecretName, VersionID: it.SecretVersion, Fields: it.CredentialFields},
		IsActive:    it.IsActive, SyncEnabled: it.SyncEnabled, SyncIntervalMinutes: it.SyncIntervalMinutes,
		SyncStatus: integration.SyncStatus(it.SyncStatus), LastSyncAt: it.LastSyncAt, SyncError: it.SyncError, NextSyncAt: it.NextSyncAt,
		ConnectionStatus: integration.ConnectionStatus(it.ConnectionStatus), ConnectionMessage: it.ConnectionMessage,
		ConnectionCheckedAt: it.ConnectionCheckedAt, CreatedAt: it.CreatedAt, UpdatedAt: it.UpdatedAt,
		Version: it.Version, Rev: revOf(it), DeletingSince: it.DeletingSince,
	}
	integration.LiftContentTypes(out) // an item an earlier release wrote
	return out, nil
}

func revOf(it item) int64 {
	if it.Rev == 0 {
		return it.Version
	}
	return it.Rev
}

// atRev is the condition that an integration item is at revision :rev,
// counting an item written before revisions existed as at its version.
const atRev = "(rev = :rev OR (attribute_not_exists(rev) AND version = :rev))"

func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }
func num(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

func key(account, id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"PK": str(acctPK(account)), "SK": str(intSK(id))}
}

func uniqKey(account, site, platform string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"PK": str(uniqPK(account, site, platform)), "SK": str("UNIQ")}
}

// cancelled reports whether a transaction was cancelled by a failed condition.
func cancelled(err error) bool {
	var tce *types.TransactionCanceledException
	if !errors.As(err, &tce) {
		return false
	}
	for _, r := range tce.CancellationReasons {
		if aws.ToString(r.Code) == "ConditionalCheckFailed" {
			return true
		}
	}
	return false
}

// CreateIntegration writes the item and its uniqueness guard in one transaction.
func (s *Store) CreateIntegration(ctx context.Context, in *integration.Integration) error {
	av, err := toItem(in)
	if err != nil {
		return err
	}
	guard := uniqKey(in.AccountID, in.SiteID, in.Platform)
	guard["integration_id"] = str(in.ID)
	_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Put: &types.Put{TableName: &s.table, Item: av, ConditionExpression: aws.String("attribute_not_exists(PK)")}},
		{Put: &types.Put{TableName: &s.table, Item: guard, ConditionExpression: aws.String("attribute_not_exists(PK)")}},
	}})
	if cancelled(err) {
		// The SDK retries a transaction whose answer was lost; the retry then
		// meets its own first, committed attempt. That is a success.
		if s.isStored(ctx, in.AccountID, in.ID, av) {
			return nil
		}
		return integration.Errorf(integration.ECONFLICT, "Site %q already has a %s integration.", in.SiteID, in.Platform)
	}
	if err != nil {
		return fmt.Errorf("create integration %s: %w", in.ID, err)
	}
	return nil
}

// isStored reports whether the stored item is exactly av (the guard was
// written in the same transaction, so it holds too).
func (s *Store) isStored(ctx context.Context, account, id string, av map[string]types.AttributeValue) bool {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: key(account, id), ConsistentRead: aws.Bool(true)})
	return err == nil && reflect.DeepEqual(out.Item, av)
}

// GetIntegration reads one integration, strongly consistent.
func (s *Store) GetIntegration(ctx context.Context, accountID, id string) (*integration.Integration, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: key(accountID, id), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, fmt.Errorf("get integration %s: %w", id, err)
	}
	if out.Item == nil {
		return nil, integration.Errorf(integration.ENOTFOUND, "Integration %q not found.", id)
	}
	return fromItem(out.Item)
}

// FindIntegration reads the uniqueness guard, then the item, both strongly
// consistent (an index would be only eventually consistent).
func (s *Store) FindIntegration(ctx context.Context, accountID, siteID, platform string) (*integration.Integration, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: uniqKey(accountID, siteID, platform), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, fmt.Errorf("find integration: %w", err)
	}
	idAV, ok := out.Item["integration_id"].(*types.AttributeValueMemberS)
	if !ok {
		return nil, integration.Errorf(integration.ENOTFOUND, "No %s integration for site %q.", platform, siteID)
	}
	return s.GetIntegration(ctx, accountID, idAV.Value)
}

// UpdateIntegration replaces the item if it is still at revision prevRev.
func (s *Store) UpdateIntegration(ctx context.Context, in *integration.Integration, prevRev int64) error {
	next := *in
	next.Rev = prevRev + 1
	av, err := toItem(&next)
	if err != nil {
		return err
	}
	if in.Emit != nil {
		if done, err := s.updateWithEvent(ctx, in, av, prevRev); done {
			return err
		}
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: &s.table, Item: av,
		ConditionExpression:                 aws.String("attribute_exists(PK) AND " + atRev + " AND site_id = :site AND platform = :platform"),
		ExpressionAttributeValues:           map[string]types.AttributeValue{":rev": num(prevRev), ":site": str(in.SiteID), ":platform": str(in.Platform)},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		if len(ccf.Item) == 0 {
			return integration.Errorf(integration.ENOTFOUND, "Integration %q not found.", in.ID)
		}
		// A retried write that had in fact succeeded finds exactly itself:
		// the same item, attribute for attribute.
		if reflect.DeepEqual(ccf.Item, av) {
			return nil
		}
		return integration.Errorf(integration.EPRECONDITIONFAILED, "The integration was changed by someone else.")
	}
	if err != nil {
		return fmt.Errorf("update integration %s: %w", in.ID, err)
	}
	return nil
}

// DeleteIntegration deletes the item at revision rev and its uniqueness guard.
func (s *Store) DeleteIntegration(ctx context.Context, accountID, id string, rev int64) error {
	cur, err := s.GetIntegration(ctx, accountID, id)
	if err != nil {
		return err
	}
	_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Delete: &types.Delete{TableName: &s.table, Key: key(accountID, id),
			ConditionExpression:       aws.String(atRev),
			ExpressionAttributeValues: map[string]types.AttributeValue{":rev": num(rev)}}},
		{Delete: &types.Delete{TableName: &s.table, Key: uniqKey(accountID, cur.SiteID, cur.Platform)}},
	}})
	if cancelled(err) {
		if _, gerr := s.GetIntegration(ctx, accountID, id); integration.ErrorCode(gerr) == integration.ENOTFOUND {
			return gerr
		}
		return integration.Errorf(integration.EPRECONDITIONFAILED, "The integration was changed by someone else.")
	}
	if err != nil {
		return fmt.Errorf("delete integration %s: %w", id, err)
	}
	return nil
}

// cursor is what a page's cursor encodes: only the last item's id and
// platform. The key is rebuilt from the caller's own account and query, so
// a cursor can never reach into another account.
type cursor struct {
	ID       string `json:"i"`
	Platform string `json:"p,omitempty"`
}

func badCursor() error {
	return integration.Invalid(map[string]string{"cursor": "is not a cursor this API issued"})
}

// ListIntegrations queries the base table (by account), GSI1 (by site) or
// GSI2 (by platform).
func (s *Store) ListIntegrations(ctx context.Context, q integration.ListQuery) ([]*integration.Integration, string, error) {
	var after *cursor
	if q.Cursor != "" {
		raw, err := base64.RawURLEncoding.DecodeString(q.Cursor)
		if err != nil {
			return nil, "", badCursor()
		}
		after = &cursor{}
		if err := json.Unmarshal(raw, after); err != nil || after.ID == "" || strings.Contains(after.ID, "#") || strings.Contains(after.Platform, "#") {
			return nil, "", badCursor()
		}
	}
	in := &dynamodb.QueryInput{TableName: &s.table, Limit: aws.Int32(int32(q.Limit))}
	values := map[string]types.AttributeValue{}
	var start map[string]types.AttributeValue
	switch {
	case q.SiteID != "":
		in.IndexName = aws.String("GSI1")
		in.KeyConditionExpression = aws.String("GSI1PK = :pk AND begins_with(GSI1SK, :prefix)")
		values[":pk"], values[":prefix"] = str(sitePK(q.AccountID, q.SiteID)), str("PLAT#")
		if q.Platform != "" {
			values[":prefix"] = str("PLAT#" + q.Platform + "#")
		}
		if after != nil {
			if after.Platform == "" {
				return nil, "", badCursor()
			}
			start = map[string]types.AttributeValue{"GSI1PK": str(sitePK(q.AccountID, q.SiteID)), "GSI1SK": str(siteSK(after.Platform, after.ID)),
				"PK": str(acctPK(q.AccountID)), "SK": str(intSK(after.ID))}
		}
	case q.Platform != "":
		in.IndexName = aws.String("GSI2")
		in.KeyConditionExpression = aws.String("GSI2PK = :pk")
		values[":pk"] = str(platPK(q.AccountID, q.Platform))
		if after != nil {
			start = map[string]types.AttributeValue{"GSI2PK": str(platPK(q.AccountID, q.Platform)), "GSI2SK": str(intSK(after.ID)),
				"PK": str(acctPK(q.AccountID)), "SK": str(intSK(after.ID))}
		}
	default:
		in.KeyConditionExpression = aws.String("PK = :pk AND begins_with(SK, :prefix)")
		values[":pk"], values[":prefix"] = str(acctPK(q.AccountID)), str("INT#")
		if after != nil {
			start = key(q.AccountID, after.ID)
		}
	}
	in.ExpressionAttributeValues, in.ExclusiveStartKey = values, start
	out, err := s.db.Query(ctx, in)
	if err != nil {
		return nil, "", fmt.Errorf("list integrations: %w", err)
	}
	items, err := fromItems(out.Items)
	if err != nil {
		return nil, "", err
	}
	next := ""
	// DynamoDB may stop before Limit (1 MB per response): any
	// LastEvaluatedKey means there may be more.
	if len(out.LastEvaluatedKey) > 0 && len(items) > 0 {
		last := items[len(items)-1]
		c := cursor{ID: last.ID}
		if q.SiteID != "" {
			c.Platform = last.Platform
		}
		b, _ := json.Marshal(c)
		next = base64.RawURLEncoding.EncodeToString(b)
	}
	return items, next, nil
}
