package conformance

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/joinery/joinery/pkg/integration"
)

// CurrentSecretStore is a secret store that also reads and writes current
// versions.
type CurrentSecretStore interface {
	integration.Secrets
	integration.CurrentSecrets
}

// TestCurrentSecrets runs the CurrentSecrets conformance suite.
func TestCurrentSecrets(t *testing.T, newSecrets func(t *testing.T) CurrentSecretStore) {
	ctx := context.Background()
	ref := func() integration.SecretRef {
		return integration.SecretRef{AccountID: uniq("acct"), IntegrationID: uniq("int"), SiteID: "site:1", Platform: "slack"}
	}
	token := func() string { return "lease-" + strings.ReplaceAll(uniq("token-0000000000000000"), "-", "0") }

	t.Run("the current version is the last written, by either put", func(t *testing.T) {
		s, r := newSecrets(t), ref()
		v1, err := s.PutSecret(ctx, r, map[string]string{"access_token": "a1", "refresh_token": "r1"})
		if err != nil {
			t.Fatal(err)
		}
		cur, vals, err := s.CurrentSecret(ctx, r)
		if err != nil || cur != v1 || vals["refresh_token"] != "r1" {
			t.Fatalf("current after put: %+v %v %v, want %+v", cur, vals, err, v1)
		}
		tok := token()
		v2, err := s.PutSecretVersion(ctx, r, tok, map[string]string{"access_token": "a2", "refresh_token": "r2"})
		if err != nil || v2.Name != v1.Name || v2.VersionID == v1.VersionID || v2.VersionID == "" {
			t.Fatalf("put version: %+v %v after %+v", v2, err, v1)
		}
		cur, vals, err = s.CurrentSecret(ctx, r)
		if err != nil || cur != v2 || vals["access_token"] != "a2" {
			t.Fatalf("current after put version: %+v %v %v, want %+v", cur, vals, err, v2)
		}
		// Both versions stay readable by id.
		if got, err := s.GetSecret(ctx, v1.Name, v1.VersionID); err != nil || got["refresh_token"] != "r1" {
			t.Fatalf("v1 = %v %v", got, err)
		}
		if got, err := s.GetSecret(ctx, v2.Name, v2.VersionID); err != nil || got["refresh_token"] != "r2" {
			t.Fatalf("v2 = %v %v", got, err)
		}
		v3, err := s.PutSecret(ctx, r, map[string]string{"access_token": "a3"})
		if err != nil {
			t.Fatal(err)
		}
		if cur, _, err := s.CurrentSecret(ctx, r); err != nil || cur != v3 {
			t.Fatalf("current after a later put: %+v %v, want %+v", cur, err, v3)
		}
	})

	t.Run("a put retried with its token writes no second version", func(t *testing.T) {
		s, r := newSecrets(t), ref()
		if _, err := s.PutSecret(ctx, r, map[string]string{"refresh_token": "r1"}); err != nil {
			t.Fatal(err)
		}
		tok, vals := token(), map[string]string{"access_token": "a2", "refresh_token": "r2"}
		first, err := s.PutSecretVersion(ctx, r, tok, vals)
		if err != nil {
			t.Fatal(err)
		}
		again, err := s.PutSecretVersion(ctx, r, tok, map[string]string{"refresh_token": "r2", "access_token": "a2"})
		if err != nil || again != first {
			t.Fatalf("retried put: %+v %v, want %+v", again, err, first)
		}
		// A retry arriving after a newer version does not make its own
		// current again.
		later, err := s.PutSecretVersion(ctx, r, token(), map[string]string{"refresh_token": "r3"})
		if err != nil {
			t.Fatal(err)
		}
		if again, err := s.PutSecretVersion(ctx, r, tok, vals); err != nil || again != first {
			t.Fatalf("late retry: %+v %v", again, err)
		}
		if cur, vals, err := s.CurrentSecret(ctx, r); err != nil || cur != later || vals["refresh_token"] != "r3" {
			t.Fatalf("current after a late retry: %+v %v %v, want %+v", cur, vals, err, later)
		}
		// The same token with other values is refused, and changes nothing.
		_, err = s.PutSecretVersion(ctx, r, tok, map[string]string{"refresh_token": "rt-conflicting-9z"})
		wantCode(t, err, integration.ECONFLICT)
		if strings.Contains(err.Error(), "rt-conflicting-9z") || strings.Contains(err.Error(), "r2") {
			t.Fatalf("error carries a value: %v", err)
		}
		if got, err := s.GetSecret(ctx, first.Name, first.VersionID); err != nil || got["refresh_token"] != "r2" {
			t.Fatalf("first version after a conflicting put: %v %v", got, err)
		}
	})

	t.Run("concurrent retries of one token make one version", func(t *testing.T) {
		s, r := newSecrets(t), ref()
		if _, err := s.PutSecret(ctx, r, map[string]string{"refresh_token": "r1"}); err != nil {
			t.Fatal(err)
		}
		tok := token()
		var wg sync.WaitGroup
		var mu sync.Mutex
		got := map[integration.SecretVersion]bool{}
		for range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				v, err := s.PutSecretVersion(ctx, r, tok, map[string]string{"refresh_token": "r2"})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				got[v] = true
				mu.Unlock()
			}()
		}
		wg.Wait()
		if len(got) != 1 {
			t.Fatalf("versions = %v, want one", got)
		}
	})

	t.Run("no secret, a deleted one, a bad token", func(t *testing.T) {
		s, r := newSecrets(t), ref()
		_, _, err := s.CurrentSecret(ctx, r)
		wantCode(t, err, integration.ENOTFOUND)
		_, err = s.PutSecretVersion(ctx, r, token(), map[string]string{"refresh_token": "r"})
		wantCode(t, err, integration.ENOTFOUND)
		if _, err := s.PutSecret(ctx, r, map[string]string{"refresh_token": "r1"}); err != nil {
			t.Fatal(err)
		}
		_, err = s.PutSecretVersion(ctx, r, "short", map[string]string{"refresh_token": "r"})
		wantCode(t, err, integration.EINVALID)
		if err := s.DeleteSecret(ctx, r); err != nil {
			t.Fatal(err)
		}
		_, _, err = s.CurrentSecret(ctx, r)
		wantCode(t, err, integration.ENOTFOUND)
		// A refresh finishing after its integration was deleted brings
		// nothing back.
		_, err = s.PutSecretVersion(ctx, r, token(), map[string]string{"refresh_token": "r"})
		wantCode(t, err, integration.ENOTFOUND)
		_, _, err = s.CurrentSecret(ctx, r)
		wantCode(t, err, integration.ENOTFOUND)
	})
}
