package syncer

import (
	"errors"
	"maps"
	"slices"
	"strings"

	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/integration"
)

// jobError says what a job's failure is. A connector's error is what it
// says. A domain error that trying again cannot mend (invalid, not found,
// unprocessable) ends the job at once with its own message. Anything else
// is an internal error, retried as the platform being unavailable is.
func jobError(err error) *connector.Error {
	var ce *connector.Error
	if errors.As(err, &ce) {
		return ce
	}
	switch integration.ErrorCode(err) {
	case integration.EINVALID, integration.ENOTFOUND, integration.EUNPROCESSABLE:
		return &connector.Error{Kind: connector.ErrInvalid, Message: domainMessage(err), Err: err}
	}
	return &connector.Error{Kind: connector.ErrUnavailable, Message: "an internal error", Err: err}
}

// domainMessage is a domain error's message with the fields at fault.
func domainMessage(err error) string {
	msg := integration.ErrorMessage(err)
	fields := integration.ErrorFields(err)
	if len(fields) == 0 {
		return msg
	}
	parts := make([]string, 0, len(fields))
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		parts = append(parts, k+": "+fields[k])
	}
	return msg + " (" + strings.Join(parts, "; ") + ")"
}
