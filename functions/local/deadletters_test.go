package main

import (
	"context"
	"net/http"
	"testing"

	"github.com/joinery/joinery/pkg/embedded"
)

// The runner hands its queue's dead letters to the dead-letter consumer,
// as the DLQ's function runs in AWS: sync_health counts them and the
// replay route sends them back to the queue, once.
func TestRunnerKeepsAndReplaysDeadLetters(t *testing.T) {
	r, a := startRunnerOpts(t, "embedded", runnerOptions{noWorker: true})
	editor := r.token("acct-dlq", "editor", "")
	created := r.do("POST", "/v1/integrations", editor, `{"site_id":"s","platform":"wordpress","external_site_url":"https://blog.example.com"}`)
	want(t, created, http.StatusCreated, "create")
	id := created.body["id"].(string)
	job := `{"kind":"push","account_id":"acct-dlq","integration_id":"` + id + `","run_id":"push","job_id":"p1","model":"post","page":"local-1"}`
	served := false
	a.deadLetters = func(context.Context) ([]string, error) {
		if served {
			return nil, nil
		}
		served = true
		return []string{job}, nil
	}
	for range 2 {
		if err := a.drainDeadLetters(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	health := r.do("GET", "/v1/integrations/"+id+"/sync_health", editor, "")
	want(t, health, http.StatusOK, "sync_health")
	if health.body["dead_letters"] != float64(1) {
		t.Fatalf("sync_health: %s", health.raw)
	}
	want(t, r.do("POST", "/v1/integrations/"+id+"/dead_letters/replay", r.token("acct-dlq", "viewer", ""), ""), http.StatusForbidden, "a viewer replays")
	want(t, r.do("POST", "/v1/integrations/"+id+"/dead_letters/replay", r.token("acct-other", "editor", ""), ""), http.StatusNotFound, "another account replays")
	for i, n := range []float64{1, 0} {
		got := r.do("POST", "/v1/integrations/"+id+"/dead_letters/replay", editor, "")
		want(t, got, http.StatusOK, "replay")
		if got.body["replayed"] != n {
			t.Fatalf("replay #%d: %s, want %v", i+1, got.raw, n)
		}
	}
	if visible, _, _ := a.queue.(*embedded.Queue).Stats(); visible != 1 {
		t.Fatalf("%d jobs queued after the replays, want 1", visible)
	}
}
