package embedded

import (
	"context"
	"errors"
	"time"

	"github.com/joinery/joinery/pkg/integration"
)

var errTODO = errors.New("not implemented yet")

func (s *Store) RunReads(context.Context, string, string) ([]integration.PageRead, map[string]time.Time, error) {
	return nil, nil, errTODO
}
func (s *Store) ClaimFinish(context.Context, string, string, string) (bool, error) { return true, nil }
func (s *Store) ListChanges(context.Context, string, int, string) ([]integration.RecordChange, string, error) {
	return nil, "", errTODO
}
func (s *Store) AddRetries(context.Context, string, string, map[string]string) error { return errTODO }
func (s *Store) Retries(context.Context, string, string, int) (map[string]string, error) {
	return nil, nil
}
func (s *Store) RemoveRetries(context.Context, string, string, []string) error { return errTODO }
