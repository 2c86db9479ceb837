package conformance

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/joinery/joinery/pkg/integration"
)

// TestSecrets runs the Secrets conformance suite.
func TestSecrets(t *testing.T, newSecrets func(t *testing.T) integration.Secrets) {
	ctx := context.Background()
	ref := func() integration.SecretRef {
		return integration.SecretRef{AccountID: uniq("acct"), IntegrationID: uniq("int"), SiteID: "site:1", Platform: "wordpress"}
	}
	t.Run("put get versions", func(t *testing.T) {
		s := newSecrets(t)
		r := ref()
		v1, err := s.PutSecret(ctx, r, map[string]string{"username": "admin", "app_password": "abcd efgh ijkl"})
		if err != nil {
			t.Fatal(err)
		}
		if v1.Name == "" || v1.VersionID == "" || !strings.Contains(v1.Name, r.IntegrationID) {
			t.Fatalf("version = %+v", v1)
		}
		v2, err := s.PutSecret(ctx, r, map[string]string{"username": "admin", "app_password": "new pass ☃"})
		if err != nil {
			t.Fatal(err)
		}
		if v2.Name != v1.Name || v2.VersionID == v1.VersionID {
			t.Fatalf("second put: %+v after %+v", v2, v1)
		}
		got1, err := s.GetSecret(ctx, v1.Name, v1.VersionID)
		if err != nil || got1["app_password"] != "abcd efgh ijkl" {
			t.Fatalf("v1 = %v, %v", got1, err)
		}
		got2, err := s.GetSecret(ctx, v2.Name, v2.VersionID)
		if err != nil || got2["app_password"] != "new pass ☃" || got2["username"] != "admin" {
			t.Fatalf("v2 = %v, %v", got2, err)
		}
	})
	t.Run("missing", func(t *testing.T) {
		s := newSecrets(t)
		r := ref()
		v, err := s.PutSecret(ctx, r, map[string]string{"api_key": "k"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.GetSecret(ctx, v.Name, "00000000-0000-4000-8000-000000000000")
		wantCode(t, err, integration.ENOTFOUND)
		_, err = s.GetSecret(ctx, v.Name+"-nope", v.VersionID)
		wantCode(t, err, integration.ENOTFOUND)
	})
	t.Run("delete is complete and idempotent", func(t *testing.T) {
		s := newSecrets(t)
		r := ref()
		v, err := s.PutSecret(ctx, r, map[string]string{"api_key": "k"})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteSecret(ctx, r); err != nil {
			t.Fatal(err)
		}
		_, err = s.GetSecret(ctx, v.Name, v.VersionID)
		wantCode(t, err, integration.ENOTFOUND)
		if err := s.DeleteSecret(ctx, r); err != nil {
			t.Fatalf("second delete: %v", err)
		}
		if err := s.DeleteSecret(ctx, ref()); err != nil {
			t.Fatalf("delete of a never-created secret: %v", err)
		}
		// The name can be used again at once (no recovery window blocks it).
		v2, err := s.PutSecret(ctx, r, map[string]string{"api_key": "again"})
		if err != nil {
			t.Fatalf("put after delete: %v", err)
		}
		if got, err := s.GetSecret(ctx, v2.Name, v2.VersionID); err != nil || got["api_key"] != "again" {
			t.Fatalf("after re-put: %v %v", got, err)
		}
	})
	t.Run("errors never carry values", func(t *testing.T) {
		s := newSecrets(t)
		_, err := s.GetSecret(ctx, "no-such-secret-"+uniq("x"), "v")
		if err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("concurrent puts each get their own version", func(t *testing.T) {
		s := newSecrets(t)
		r := ref()
		first, err := s.PutSecret(ctx, r, map[string]string{"api_key": "first"})
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		versions := map[string]string{}
		var wg sync.WaitGroup
		for i := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				val := strings.Repeat("x", i+1)
				v, err := s.PutSecret(ctx, r, map[string]string{"api_key": val})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				versions[v.VersionID] = val
				mu.Unlock()
			}()
		}
		wg.Wait()
		if len(versions) != 4 {
			t.Fatalf("%d distinct versions, want 4", len(versions))
		}
		for id, val := range versions {
			got, err := s.GetSecret(ctx, first.Name, id)
			if err != nil || got["api_key"] != val {
				t.Fatalf("version %s = %v %v, want %q", id, got, err, val)
			}
		}
	})
}
