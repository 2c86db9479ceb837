package embedded

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/joinery/joinery/pkg/integration"
	bolt "go.etcd.io/bbolt"
)

// bucketOAuthStates: sha256 of the state → oauthStateRecord.
var bucketOAuthStates = []byte("oauth_states")

type oauthStateRecord struct {
	IntegrationID string    `json:"integration_id"`
	AccountID     string    `json:"account_id"`
	Platform      string    `json:"platform"`
	Verifier      string    `json:"verifier,omitempty"`
	ReturnURL     string    `json:"return_url"`
	ExpiresAt     time.Time `json:"expires_at"`
}

// PutOAuthState implements integration.OAuthStates. It also drops states
// that expired long ago: nothing else cleans them up here.
func (s *Store) PutOAuthState(_ context.Context, st *integration.OAuthState) error {
	data, err := json.Marshal(oauthStateRecord{
		IntegrationID: st.IntegrationID, AccountID: st.AccountID, Platform: st.Platform,
		Verifier: st.Verifier, ReturnURL: st.ReturnURL, ExpiresAt: st.ExpiresAt.UTC(),
	})
	if err != nil {
		return fmt.Errorf("encode oauth state: %w", err)
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketOAuthStates)
		if err != nil {
			return err
		}
		k := []byte(integration.OAuthStateKey(st.State))
		if b.Get(k) != nil {
			return integration.Errorf(integration.ECONFLICT, "The authorization state is taken.")
		}
		var stale [][]byte
		cutoff := time.Now().Add(-time.Hour)
		_ = b.ForEach(func(k, v []byte) error {
			var r oauthStateRecord
			if json.Unmarshal(v, &r) != nil || r.ExpiresAt.Before(cutoff) {
				stale = append(stale, append([]byte(nil), k...))
			}
			return nil
		})
		for _, k := range stale {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return b.Put(k, data)
	})
}

// TakeOAuthState implements integration.OAuthStates in one transaction.
func (s *Store) TakeOAuthState(_ context.Context, state string, now time.Time) (*integration.OAuthState, error) {
	var out *integration.OAuthState
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketOAuthStates)
		if b == nil {
			return integration.ErrOAuthStateNotFound()
		}
		k := []byte(integration.OAuthStateKey(state))
		v := b.Get(k)
		if v == nil {
			return integration.ErrOAuthStateNotFound()
		}
		var r oauthStateRecord
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("decode oauth state: %w", err)
		}
		if !r.ExpiresAt.After(now) {
			return integration.ErrOAuthStateNotFound()
		}
		out = &integration.OAuthState{
			State: state, IntegrationID: r.IntegrationID, AccountID: r.AccountID, Platform: r.Platform,
			Verifier: r.Verifier, ReturnURL: r.ReturnURL, ExpiresAt: r.ExpiresAt,
		}
		return b.Delete(k)
	})
	return out, err
}
