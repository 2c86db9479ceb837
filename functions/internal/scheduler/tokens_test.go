package scheduler

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/joinery/joinery/pkg/oauth"
	"github.com/joinery/joinery/pkg/syncer"
)

type fakeRenewer struct {
	calls int
	res   oauth.RenewResult
}

func (f *fakeRenewer) RenewDue(context.Context) (oauth.RenewResult, error) {
	f.calls++
	return f.res, nil
}

func TestATickRenewsTokensDueSoon(t *testing.T) {
	var logs bytes.Buffer
	r := &fakeRenewer{res: oauth.RenewResult{Checked: 3, Renewed: 1, Failures: []error{errors.New("integration 01K: Jira's token endpoint did not answer")}}}
	h := Handler{Scheduler: fakeScheduler{res: syncer.TickResult{Due: 1, Started: 1}}, Tokens: r, Log: slog.New(slog.NewJSONHandler(&logs, nil))}
	if err := h.Handle(context.Background(), nil); err != nil {
		t.Fatalf("tick: %v", err)
	}
	if r.calls != 1 || !strings.Contains(logs.String(), `"renewed":1`) || !strings.Contains(logs.String(), "did not answer") {
		t.Fatalf("%d renewals; logged: %s", r.calls, logs.String())
	}
}
