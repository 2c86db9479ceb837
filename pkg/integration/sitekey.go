package integration

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// SiteKey lets a platform-side plugin (Joinery's WordPress plugin) call the
// few routes that have no logged-in user: onboarding and structure pushes.
// A key belongs to one site of one account and acts as an editor of that
// site only. Only a hash of its secret is stored.
type SiteKey struct {
	ID        string
	AccountID string
	SiteID    string
	Name      string
	// Hash is the hex SHA-256 of the secret part of the key. A plain hash
	// (not a password hash such as bcrypt) is right here: the secret is 32
	// random bytes, so there is nothing to guess, and every plugin request
	// is verified with one cheap hash.
	Hash      string
	Hint      string // the key's last four characters, to recognise it in a list
	CreatedAt time.Time
	CreatedBy string
	RevokedAt *time.Time
}

// SiteKeyQuery selects the keys of one site.
type SiteKeyQuery struct {
	AccountID string
	SiteID    string
	Limit     int
	Cursor    string
}

// siteKeyPrefix starts every key, so a leaked key is recognisable (secret
// scanners match on it) and a key is never confused with a JWT.
const siteKeyPrefix = "jsk_"

// Site-key limits.
const (
	maxSiteKeyName = 100
	// OnboardAttemptsPerMinute bounds onboarding attempts per key: each one
	// makes outbound calls to the site and may create an integration.
	OnboardAttemptsPerMinute = 10
	// StructurePushesPerMinute bounds structure pushes per key.
	StructurePushesPerMinute = 30
)

// SiteKeyPage is one page of site keys.
type SiteKeyPage struct {
	Items      []*SiteKey
	NextCursor string
}

// CreateSiteKey makes a new key for a site and returns it with the key
// itself, which is shown this once and never again.
func (s *Service) CreateSiteKey(ctx context.Context, actor Actor, siteID, name string) (*SiteKey, string, error) {
	if err := actor.Require(RoleEditor); err != nil {
		return nil, "", err
	}
	fields := map[string]string{}
	checkSiteID(fields, "site_id", siteID)
	switch {
	case !utf8.ValidString(name):
		fields["name"] = "must be valid UTF-8"
	case utf8.RuneCountInString(name) > maxSiteKeyName:
		fields["name"] = fmt.Sprintf("must be at most %d characters", maxSiteKeyName)
	}
	if len(fields) > 0 {
		return nil, "", Invalid(fields)
	}
	if !actor.CanSeeSite(siteID) {
		return nil, "", Errorf(EFORBIDDEN, "This token may not manage site %q.", siteID)
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, "", fmt.Errorf("site key secret: %w", err)
	}
	secret := base64.RawURLEncoding.EncodeToString(raw[:])
	k := &SiteKey{
		ID:        s.newID(),
		AccountID: actor.AccountID,
		SiteID:    siteID,
		Name:      strings.TrimSpace(name),
		Hash:      hashSecret(secret),
		Hint:      secret[len(secret)-4:],
		CreatedAt: s.now(),
		CreatedBy: actor.Subject,
	}
	if err := s.Store.CreateSiteKey(ctx, k); err != nil {
		return nil, "", err
	}
	return k, siteKeyPrefix + k.ID + "_" + secret, nil
}

// ListSiteKeys returns a page of a site's keys, revoked ones included.
func (s *Service) ListSiteKeys(ctx context.Context, actor Actor, siteID string, limit int, cursor string) (SiteKeyPage, error) {
	if err := actor.Require(RoleEditor); err != nil {
		return SiteKeyPage{}, err
	}
	fields := map[string]string{}
	checkSiteID(fields, "site_id", siteID)
	limit = CheckLimit(fields, limit)
	if len(fields) > 0 {
		return SiteKeyPage{}, Invalid(fields)
	}
	if !actor.CanSeeSite(siteID) {
		return SiteKeyPage{Items: []*SiteKey{}}, nil
	}
	items, next, err := s.Store.ListSiteKeys(ctx, SiteKeyQuery{AccountID: actor.AccountID, SiteID: siteID, Limit: limit, Cursor: cursor})
	if err != nil {
		return SiteKeyPage{}, err
	}
	if items == nil {
		items = []*SiteKey{}
	}
	return SiteKeyPage{Items: items, NextCursor: next}, nil
}

// RevokeSiteKey revokes a key at once; revoking it again changes nothing.
// A key of another account or site is ENOTFOUND.
func (s *Service) RevokeSiteKey(ctx context.Context, actor Actor, siteID, keyID string) (*SiteKey, error) {
	if err := actor.Require(RoleEditor); err != nil {
		return nil, err
	}
	notFound := Errorf(ENOTFOUND, "Site key %q not found.", keyID)
	if !actor.CanSeeSite(siteID) || keyID == "" || len(keyID) > 128 {
		return nil, notFound
	}
	k, err := s.Store.GetSiteKey(ctx, keyID)
	if ErrorCode(err) == ENOTFOUND || (err == nil && (k.AccountID != actor.AccountID || k.SiteID != siteID)) {
		return nil, notFound
	}
	if err != nil {
		return nil, err
	}
	if k.RevokedAt != nil {
		return k, nil
	}
	at := s.now()
	if err := s.Store.RevokeSiteKey(ctx, keyID, at); err != nil {
		return nil, err
	}
	return s.Store.GetSiteKey(ctx, keyID)
}

// AuthenticateSiteKey verifies a key and returns the actor it stands for:
// an editor of the key's site only. Every failure — malformed, unknown,
// wrong secret, revoked — is the same EUNAUTHORIZED, so a caller cannot
// probe which keys exist.
func (s *Service) AuthenticateSiteKey(ctx context.Context, key string) (Actor, *SiteKey, error) {
	bad := Errorf(EUNAUTHORIZED, "The site key is missing, wrong or revoked.")
	rest, ok := strings.CutPrefix(key, siteKeyPrefix)
	if !ok {
		return Actor{}, nil, bad
	}
	id, secret, ok := strings.Cut(rest, "_")
	if !ok || id == "" || len(id) > 128 || len(secret) != 43 {
		return Actor{}, nil, bad
	}
	k, err := s.Store.GetSiteKey(ctx, id)
	if ErrorCode(err) == ENOTFOUND {
		return Actor{}, nil, bad
	}
	if err != nil {
		return Actor{}, nil, err
	}
	if subtle.ConstantTimeCompare([]byte(hashSecret(secret)), []byte(k.Hash)) != 1 || k.RevokedAt != nil {
		return Actor{}, nil, bad
	}
	return Actor{Subject: siteKeySubject + k.ID, AccountID: k.AccountID, Role: RoleEditor, Sites: []string{k.SiteID}}, k, nil
}

func hashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// Allow counts one attempt against a limit of limit per window for bucket
// (e.g. one site key's onboarding attempts), and returns ERATELIMITED, with
// the time until the window ends, once the limit is used up. The count is
// kept in the store, so it holds across Lambda instances.
func (s *Service) Allow(ctx context.Context, bucket string, limit int, window time.Duration) error {
	now := s.now()
	start := now.Truncate(window)
	n, err := s.Store.CountHit(ctx, fmt.Sprintf("%s#%d", bucket, start.Unix()), start.Add(2*window))
	if err != nil {
		return err
	}
	if n > int64(limit) {
		wait := start.Add(window).Sub(now)
		e := Errorf(ERATELIMITED, "Too many attempts; try again in %d seconds.", int(wait.Seconds())+1)
		e.RetryAfter = wait
		return e
	}
	return nil
}
