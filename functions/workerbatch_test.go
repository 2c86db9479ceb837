package functions_test

import (
	"os"
	"testing"

	"github.com/joinery/joinery/pkg/sqsworker"
	"gopkg.in/yaml.v3"
)

// The sync worker starts every job of a batch at once: the batch its
// event source hands it must be the batch it is built for.
func TestTheSyncWorkersBatchSizeIsItsParallelism(t *testing.T) {
	b, err := os.ReadFile("../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var tpl struct {
		Resources map[string]struct {
			Properties struct {
				Events map[string]struct {
					Type       string `yaml:"Type"`
					Properties struct {
						BatchSize int `yaml:"BatchSize"`
					} `yaml:"Properties"`
				} `yaml:"Events"`
			} `yaml:"Properties"`
		} `yaml:"Resources"`
	}
	if err := yaml.Unmarshal(b, &tpl); err != nil {
		t.Fatal(err)
	}
	fn, ok := tpl.Resources["SyncWorkerFunction"]
	if !ok {
		t.Fatal("template.yaml has no SyncWorkerFunction")
	}
	sources := 0
	for name, ev := range fn.Properties.Events {
		if ev.Type != "SQS" {
			continue
		}
		sources++
		if got := ev.Properties.BatchSize; got != sqsworker.BatchSize {
			t.Errorf("SyncWorkerFunction's %s event source has BatchSize %d; the worker runs %d jobs at once (sqsworker.BatchSize)", name, got, sqsworker.BatchSize)
		}
	}
	if sources != 1 {
		t.Errorf("SyncWorkerFunction has %d SQS event sources, want 1", sources)
	}
}
