package integration

import (
	"errors"
	"fmt"
	"time"
)

// Error codes. Each maps to exactly one HTTP status in the transport layer.
const (
	EINVALID            = "invalid"
	EUNAUTHORIZED       = "unauthorized"
	EFORBIDDEN          = "forbidden"
	ENOTFOUND           = "not_found"
	ECONFLICT           = "conflict"
	EPRECONDITIONFAILED = "precondition_failed"
	EUNPROCESSABLE      = "unprocessable"
	ETOOLARGE           = "too_large"
	ERATELIMITED        = "rate_limited"
	EINTERNAL           = "internal"
)

// Error is a domain error: a code, a message safe to show to the caller, and
// optionally the fields at fault. Anything that is not an *Error is internal
// and is never shown to callers.
type Error struct {
	Code    string
	Message string
	Fields  map[string]string
	// RetryAfter, for ERATELIMITED, says when trying again may succeed.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	if len(e.Fields) == 0 {
		return fmt.Sprintf("%s: %s", e.Code, e.Message)
	}
	return fmt.Sprintf("%s: %s %v", e.Code, e.Message, e.Fields)
}

// Errorf returns an *Error with a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid returns an EINVALID error naming the fields at fault.
func Invalid(fields map[string]string) *Error {
	return &Error{Code: EINVALID, Message: "The request is invalid.", Fields: fields}
}

// ErrorCode returns the code of err, or EINTERNAL when err is not an *Error.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	}
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the safe message of err: its own for an *Error,
// "Internal error." for anything else.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "Internal error."
}

// ErrorFields returns the field errors of err, if any.
func ErrorFields(err error) map[string]string {
	var e *Error
	if errors.As(err, &e) {
		return e.Fields
	}
	return nil
}

// ErrorRetryAfter returns how long to wait before retrying err, or 0.
func ErrorRetryAfter(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}
