package integration

import "context"

// SeenIndex keeps the ids a full run saw of a model in order, so that
// each deletion job reads only those of its own page of stored records,
// not every id the run saw: its reads stay bounded however large the
// site.
type SeenIndex interface {
	// KeepSeen stores ids, the ids the run saw of model, replacing what
	// an earlier call stored (a finishing job delivered again calls it
	// again, with the same ids).
	KeepSeen(ctx context.Context, integrationID, runID, model string, ids map[string]bool) error
	// SeenBetween returns which ids from from to to (both included, in
	// byte order: the order of stored records) the run saw, reading only
	// the stored ids in that span; kept is false if KeepSeen stored none
	// for the model (a deletion job queued by an earlier release).
	SeenBetween(ctx context.Context, integrationID, runID, model, from, to string) (seen map[string]bool, kept bool, err error)
}
