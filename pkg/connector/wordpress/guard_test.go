package wordpress

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/safehttp"
)

// A refused address is reported without the address it resolved to or
// the setting that would allow it; the log has them.
func TestBlockedAddressMessage(t *testing.T) {
	var logged bytes.Buffer
	defer slog.SetDefault(slog.Default())
	slog.SetDefault(slog.New(slog.NewJSONHandler(&logged, nil)))
	conn := connector.Connection{SiteURL: "http://127.0.0.1:9", HTTP: safehttp.New(safehttp.Options{}),
		Credentials: map[string]string{"username": "u", "app_password": "p"}}
	res, err := New().TestConnection(context.Background(), conn)
	if err != nil {
		t.Fatal(err)
	}
	if res.OK || !strings.Contains(res.Message, "points at a private or reserved address") {
		t.Fatalf("message %q", res.Message)
	}
	for _, leak := range []string{"127.0.0.1", safehttp.EnvAllowPrivate, "loopback"} {
		if strings.Contains(res.Message, leak) {
			t.Errorf("message %q shows %q", res.Message, leak)
		}
		if !strings.Contains(logged.String(), leak) {
			t.Errorf("the log does not say %q: %s", leak, logged.String())
		}
	}
}

// A site slower than the function's deadline is "did not answer in time",
// reported before the deadline, so the function still answers.
func TestSlowSiteStopsBeforeTheDeadline(t *testing.T) {
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(release)
	_, port, _ := net.SplitHostPort(slow.Listener.Addr().String())
	policy, err := safehttp.ParsePolicy("127.0.0.1:" + port)
	if err != nil {
		t.Fatal(err)
	}
	conn := connector.Connection{SiteURL: slow.URL, HTTP: safehttp.New(safehttp.Options{Policy: policy}),
		Credentials: map[string]string{"username": "u", "app_password": "p"}}
	ctx, cancel := context.WithTimeout(context.Background(), 800*time.Millisecond)
	defer cancel()
	res, err := New().TestConnection(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	if ctx.Err() != nil {
		t.Fatal("the test answered only after the deadline: a Lambda would have been killed")
	}
	if res.OK || !strings.Contains(res.Message, "did not answer in time") {
		t.Fatalf("message %q", res.Message)
	}
}
