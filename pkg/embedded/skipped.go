package embedded

import (
	"context"
	"slices"

	bolt "go.etcd.io/bbolt"

	"github.com/joinery/joinery/pkg/integration"
)

var _ integration.SkippedModels = (*Store)(nil)

// SkipModel adds model to the run's skipped models, once.
func (s *Store) SkipModel(_ context.Context, integrationID, runID, model string) (bool, error) {
	added := false
	err := s.db.Update(func(tx *bolt.Tx) error {
		added = false
		r, err := loadRun(tx, integrationID, runID)
		if err != nil {
			return err
		}
		if slices.Contains(r.Skipped, model) {
			return nil
		}
		r.Skipped = append(r.Skipped, model)
		slices.Sort(r.Skipped)
		added = true
		return putJSON(tx, bucketRuns, runKey(integrationID, runID), r)
	})
	return added, err
}
