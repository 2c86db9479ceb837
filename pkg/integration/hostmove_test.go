package integration

import (
	"context"
	"testing"
	"time"
)

func TestMovesHost(t *testing.T) {
	tests := []struct {
		old, next string
		moves     bool
	}{
		{"https://blog.example.com", "https://blog.example.com/wp/", false},
		{"https://blog.example.com", "https://BLOG.Example.com.", false},
		{"http://blog.example.com", "https://blog.example.com", false},
		{"http://blog.example.com:80/", "https://blog.example.com", false},
		{"http://blog.example.com:8080", "https://blog.example.com:8080", false},
		{"https://blog.example.com", "https://blog.example.com:443", false},
		{"https://blog.example.com", "https://evil.example.net", true},
		{"https://blog.example.com", "https://blog.example.com:8443", true},
		{"http://blog.example.com:8080", "https://blog.example.com", true},
		{"https://blog.example.com", "http://blog.example.com", true},
		{"", "https://anything.example.com", false},
	}
	for _, tt := range tests {
		if got := MovesHost(tt.old, tt.next); got != tt.moves {
			t.Errorf("MovesHost(%q, %q) = %v, want %v", tt.old, tt.next, got, tt.moves)
		}
	}
}

func TestOnlyAnEditorMovesAnIntegrationToAnotherHost(t *testing.T) {
	at := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	base := Integration{ID: "i1", AccountID: "acc", SiteID: "s", Platform: "wordpress", Version: 3, ExternalSiteURL: "http://blog.example.com"}
	key := Actor{Subject: siteKeySubject + "k1", AccountID: "acc", Role: RoleEditor, Sites: []string{"s"}}
	editor := Actor{Subject: "u", AccountID: "acc", Role: RoleEditor}
	patch := func(u string) PatchInput { return PatchInput{ExternalSiteURL: &u} }
	newService := func() (*Service, *racingStore) {
		st := &racingStore{it: base}
		return &Service{Store: st, Catalog: oneCatalog{}, Now: func() time.Time { return at }}, st
	}

	s, st := newService()
	_, err := s.Update(context.Background(), key, "i1", patch("https://elsewhere.example.net"))
	if ErrorCode(err) != EFORBIDDEN || ErrorMessage(err) != "Only an editor can move this integration to another host." {
		t.Fatalf("a site key moved the integration: %v", err)
	}
	if st.puts != 0 || st.it.ExternalSiteURL != base.ExternalSiteURL {
		t.Fatalf("the refused move was written: %d writes, url %q", st.puts, st.it.ExternalSiteURL)
	}
	if _, err := s.Update(context.Background(), key, "i1", patch("https://blog.example.com/")); err != nil {
		t.Fatalf("a site key's move to https on the same host: %v", err)
	}
	if st.it.ExternalSiteURL != "https://blog.example.com/" {
		t.Fatalf("url %q", st.it.ExternalSiteURL)
	}

	s, st = newService()
	if _, err := s.Update(context.Background(), editor, "i1", patch("https://elsewhere.example.net")); err != nil {
		t.Fatalf("an editor's move: %v", err)
	}
	if st.it.ExternalSiteURL != "https://elsewhere.example.net" {
		t.Fatalf("url %q", st.it.ExternalSiteURL)
	}
	_, err = s.Update(context.Background(), editor, "i1", patch("https://elsewhere.example.net/?page_id=2"))
	if fields := ErrorFields(err); fields["external_site_url"] == "" {
		t.Fatalf("a URL with a query string: %v", err)
	}
}
