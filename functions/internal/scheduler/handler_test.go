package scheduler

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/joinery/joinery/pkg/syncer"
)

type fakeScheduler struct {
	res syncer.TickResult
	err error
}

func (f fakeScheduler) Schedule(context.Context) (syncer.TickResult, error) { return f.res, f.err }

func TestATickLogsItsFailuresAndSucceeds(t *testing.T) {
	var logs bytes.Buffer
	h := Handler{Scheduler: fakeScheduler{res: syncer.TickResult{Due: 3, Started: 2, Failures: []error{errors.New("integration 01K: the table is throttling")}}},
		Log: slog.New(slog.NewJSONHandler(&logs, nil))}
	if err := h.Handle(context.Background(), nil); err != nil {
		t.Fatalf("a tick with one failure failed: %v", err)
	}
	if !strings.Contains(logs.String(), "integration 01K: the table is throttling") || !strings.Contains(logs.String(), `"started":2`) {
		t.Fatalf("logged: %s", logs.String())
	}
	h.Scheduler = fakeScheduler{err: errors.New("read the due index: unavailable")}
	if err := h.Handle(context.Background(), nil); err == nil {
		t.Fatal("a tick that read nothing succeeded")
	}
}
