package apigw_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/joinery/joinery/pkg/apigw"
	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/embedded"
	"github.com/joinery/joinery/pkg/sqsworker"
	"github.com/joinery/joinery/pkg/syncer"
)

// The sample dead letter is kept by the DLQ's consumer; the sample replay
// sends it back once.
func TestSampleEventsDeadLetters(t *testing.T) {
	api := newAPI(t)
	if resp, _ := api.CreateIntegration()(context.Background(), loadEvent(t, "integrations-create.json")); resp.StatusCode != 201 {
		t.Fatalf("create: %d %s", resp.StatusCode, resp.Body)
	}
	q := embedded.NewQueue(embedded.QueueOptions{VisibilityTimeout: time.Second})
	engine := &syncer.Engine{Integrations: api.Service, Store: api.Service.Store.(*embedded.Store), Queue: q,
		Connectors: map[string]connector.Connector{"wordpress": &onePage{}}}
	b, err := os.ReadFile(filepath.Join("..", "..", "events", "sync-dlq.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ev events.SQSEvent
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatal(err)
	}
	if resp, err := (&sqsworker.DeadLetters{Engine: engine}).Handle(context.Background(), ev); err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("dead-letter consumer: %+v %v", resp, err)
	}
	s := &apigw.SyncAPI{API: api, Engine: engine}
	if _, body, _ := call(t, s.SyncHealth(), loadEvent(t, "integrations-sync-health.json")); body["dead_letters"] != float64(1) {
		t.Fatalf("sync_health: %v", body)
	}
	for _, n := range []float64{1, 0} {
		if status, body, resp := call(t, s.ReplayDeadLetters(), loadEvent(t, "integrations-dead-letters-replay.json")); status != 200 || body["replayed"] != n {
			t.Fatalf("replay: %d %s, want %v replayed", status, resp.Body, n)
		}
	}
	if visible, _, _ := q.Stats(); visible != 1 {
		t.Fatalf("%d messages queued, want 1", visible)
	}
}
