package main

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/safehttp"
)

// JOINERY_PLATFORM_ORIGINS sends every host of a platform's catalog entry
// to its stand-in, path and query kept, and lets the SSRF-safe client reach
// the stand-in (and nothing else that is private).
func TestPlatformOrigins(t *testing.T) {
	var got []string
	stand := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Host+" "+r.URL.RequestURI())
		_, _ = io.WriteString(w, "ok")
	}))
	defer stand.Close()
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "other") }))
	defer other.Close()

	c := connector.NewCatalog()
	p, err := parsePlatformOrigins("slack="+stand.URL+", shopify="+stand.URL+"/ ,jira="+stand.URL, c)
	if err != nil {
		t.Fatal(err)
	}
	hc := p.client(safehttp.New(safehttp.Options{Policy: p.policy(safehttp.Policy{})}))
	for _, u := range []string{
		"https://slack.com/api/oauth.v2.access?x=1",
		"https://acme.myshopify.com/admin/oauth/access_token",
		"https://auth.atlassian.com/oauth/token",
		"https://api.atlassian.com/ex/jira/c1/rest/api/3/myself?a=b%20c",
	} {
		resp, err := hc.Get(u)
		if err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		_ = resp.Body.Close()
	}
	wantSeen := []string{
		"slack.com /api/oauth.v2.access?x=1",
		"acme.myshopify.com /admin/oauth/access_token",
		"auth.atlassian.com /oauth/token",
		"api.atlassian.com /ex/jira/c1/rest/api/3/myself?a=b%20c",
	}
	if strings.Join(got, "\n") != strings.Join(wantSeen, "\n") {
		t.Fatalf("the stand-in saw\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantSeen, "\n"))
	}

	// The authorize URL handed out goes to the stand-in too; other hosts
	// (and look-alikes of the wildcard) are left alone.
	for in, want := range map[string]string{
		"https://slack.com/oauth/v2/authorize?client_id=1&state=s": stand.URL + "/oauth/v2/authorize?client_id=1&state=s",
		"https://acme.myshopify.com/admin/oauth/authorize?a=1":     stand.URL + "/admin/oauth/authorize?a=1",
		"https://accounts.google.com/o/oauth2/v2/auth?a=1":         "https://accounts.google.com/o/oauth2/v2/auth?a=1",
		"https://evil.com.myshopify.com/x":                         "https://evil.com.myshopify.com/x",
		"https://myshopify.com/x":                                  "https://myshopify.com/x",
	} {
		if out := p.rewrite(in); out != want {
			t.Errorf("rewrite(%s) = %s, want %s", in, out, want)
		}
	}

	// Only the stand-in's address and port are allowed: another local
	// server stays refused.
	var blocked *safehttp.BlockedError
	if _, err := hc.Get(other.URL); !errors.As(err, &blocked) {
		t.Fatalf("another private address: %v, want it refused", err)
	}

	for _, bad := range []string{
		"slack",                           // no origin
		"myspace=http://127.0.0.1:9001",   // no such platform
		"slack=ftp://127.0.0.1:9001",      // not http
		"slack=http://localhost:9001",     // a name, not an address
		"slack=http://127.0.0.1:9001/api", // a path
		"slack=http://127.0.0.1",          // no port
	} {
		_, err := parsePlatformOrigins(bad, c)
		if err == nil || !strings.Contains(err.Error(), EnvPlatformOrigins) {
			t.Errorf("%q: %v, want an error naming %s", bad, err, EnvPlatformOrigins)
		}
	}
}
