package embedded

import (
	"context"
	"sort"

	"github.com/joinery/joinery/pkg/integration"
	bolt "go.etcd.io/bbolt"
)

var _ integration.SeenIndex = (*Store)(nil)

// bucketSeenIndex: integration \x00 run \x00 model → the ids the run saw,
// sorted (JSON).
var bucketSeenIndex = []byte("seen_index")

func init() { syncBuckets = append(syncBuckets, bucketSeenIndex) }

// KeepSeen stores the ids sorted, replacing what was there.
func (s *Store) KeepSeen(_ context.Context, integrationID, runID, model string, ids map[string]bool) error {
	sorted := make([]string, 0, len(ids))
	for id := range ids {
		sorted = append(sorted, id)
	}
	sort.Strings(sorted)
	return s.db.Update(func(tx *bolt.Tx) error {
		return putJSON(tx, bucketSeenIndex, key(integrationID, runID, model), sorted)
	})
}

// SeenBetween finds the span in the sorted ids.
func (s *Store) SeenBetween(_ context.Context, integrationID, runID, model, from, to string) (map[string]bool, bool, error) {
	var sorted []string
	kept := false
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		kept, err = getJSON(tx, bucketSeenIndex, key(integrationID, runID, model), &sorted)
		return err
	})
	if err != nil || !kept {
		return nil, false, err
	}
	seen := map[string]bool{}
	for i := sort.SearchStrings(sorted, from); i < len(sorted) && sorted[i] <= to; i++ {
		seen[sorted[i]] = true
	}
	return seen, true, nil
}
