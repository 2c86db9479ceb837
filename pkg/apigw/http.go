// Package apigw translates API Gateway HTTP API (v2) events to the domain's
// use cases and back. Handlers are translation only: event → input →
// service → response.
package apigw

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/joinery/joinery/pkg/integration"
)

// MaxBodyBytes bounds request bodies; config is capped lower by the domain.
const MaxBodyBytes = 64 << 10

// statusOf is the single table from error code to HTTP status.
var statusOf = map[string]int{
	integration.EINVALID:            http.StatusBadRequest,
	integration.EUNAUTHORIZED:       http.StatusUnauthorized,
	integration.EFORBIDDEN:          http.StatusForbidden,
	integration.ENOTFOUND:           http.StatusNotFound,
	integration.ECONFLICT:           http.StatusConflict,
	integration.EPRECONDITIONFAILED: http.StatusPreconditionFailed,
	integration.EUNPROCESSABLE:      http.StatusUnprocessableEntity,
	integration.ETOOLARGE:           http.StatusRequestEntityTooLarge,
	integration.ERATELIMITED:        http.StatusTooManyRequests,
	integration.EINTERNAL:           http.StatusInternalServerError,
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string            `json:"code"`
	Message string            `json:"message"`
	Fields  map[string]string `json:"fields,omitempty"`
}

// errorResponse renders err in the one error shape. Internal errors are
// logged here (once) and shown as "Internal error." only.
func errorResponse(ctx context.Context, log *slog.Logger, err error) events.APIGatewayV2HTTPResponse {
	code := integration.ErrorCode(err)
	if code == integration.EINTERNAL {
		log.ErrorContext(ctx, "internal error", "err", err)
	}
	status, ok := statusOf[code]
	if !ok {
		status = http.StatusInternalServerError
	}
	resp := jsonResponse(status, errorBody{Error: errorDetail{Code: code, Message: integration.ErrorMessage(err), Fields: integration.ErrorFields(err)}})
	if code == integration.ERATELIMITED {
		wait := integration.ErrorRetryAfter(err)
		resp.Headers["Retry-After"] = strconv.Itoa(max(1, int(math.Ceil(wait.Seconds()))))
	}
	return resp
}

func jsonResponse(status int, v any) events.APIGatewayV2HTTPResponse {
	headers := map[string]string{"Content-Type": "application/json", "Cache-Control": "no-store"}
	if v == nil {
		return events.APIGatewayV2HTTPResponse{StatusCode: status, Headers: headers}
	}
	b, err := encodeJSON(v)
	if err != nil {
		// Only domain-built values are marshalled here; failing is a bug.
		b = []byte(`{"error":{"code":"internal","message":"Internal error."}}`)
		status = http.StatusInternalServerError
	}
	return events.APIGatewayV2HTTPResponse{StatusCode: status, Headers: headers, Body: string(b)}
}

// header returns a request header; API Gateway v2 lower-cases names, the
// local runner does the same, but accept any case.
func header(req events.APIGatewayV2HTTPRequest, name string) string {
	if v, ok := req.Headers[strings.ToLower(name)]; ok {
		return v
	}
	for k, v := range req.Headers {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// bodyWithin reads a request body of at most limit bytes; a larger one is
// ETOOLARGE naming the body.
func bodyWithin(req events.APIGatewayV2HTTPRequest, limit int) ([]byte, error) {
	// Base64 is a third longer than what it encodes: a body far beyond
	// the limit is refused before it is decoded.
	if len(req.Body) > limit*4/3+4 {
		return nil, bodyTooLarge(limit)
	}
	b := []byte(req.Body)
	if req.IsBase64Encoded {
		var err error
		if b, err = base64.StdEncoding.DecodeString(req.Body); err != nil {
			return nil, integration.Invalid(map[string]string{"body": "is not valid base64"})
		}
	}
	if len(b) > limit {
		return nil, bodyTooLarge(limit)
	}
	return b, nil
}

func bodyTooLarge(limit int) error {
	return &integration.Error{Code: integration.ETOOLARGE, Message: "The request body is too large.",
		Fields: map[string]string{"body": fmt.Sprintf("must be at most %d bytes", limit)}}
}

// decode reads a JSON object strictly into v: unknown fields, wrong types
// and malformed JSON are EINVALID errors that name the field or the place.
func decode(req events.APIGatewayV2HTTPRequest, v any) error {
	return decodeWithin(req, v, MaxBodyBytes)
}

// decodeWithin is decode for a body of at most limit bytes.
func decodeWithin(req events.APIGatewayV2HTTPRequest, v any, limit int) error {
	b, err := bodyWithin(req, limit)
	if err != nil {
		return err
	}
	if ct := header(req, "Content-Type"); ct != "" && !strings.HasPrefix(strings.ToLower(ct), "application/json") {
		return integration.Invalid(map[string]string{"body": "must be JSON (Content-Type: application/json)"})
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return integration.Invalid(map[string]string{"body": "required: a JSON object"})
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	err = dec.Decode(v)
	if err == nil {
		if _, terr := dec.Token(); terr != io.EOF {
			return integration.Invalid(map[string]string{"body": "must contain a single JSON object"})
		}
		return nil
	}
	return decodeError(b, err)
}

func decodeError(b []byte, err error) error {
	var domain *integration.Error
	if errors.As(err, &domain) {
		return domain // a type's own reading of its value names the field
	}
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		line, col := position(b, syn.Offset)
		return integration.Invalid(map[string]string{"body": fmt.Sprintf("malformed JSON at line %d, column %d: %s", line, col, syn.Error())})
	case errors.Is(err, io.ErrUnexpectedEOF):
		line, col := position(b, int64(len(b)))
		return integration.Invalid(map[string]string{"body": fmt.Sprintf("malformed JSON: unexpected end at line %d, column %d", line, col)})
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return integration.Invalid(map[string]string{"body": "must be a JSON object"})
		}
		return integration.Invalid(map[string]string{field: "must be " + jsonKind(typ.Type.Kind().String()) + ", got " + typ.Value})
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return integration.Invalid(map[string]string{name: "unknown field"})
	}
	return integration.Invalid(map[string]string{"body": "is not valid JSON"})
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "int", "int64", "int32", "float64":
		return "a number"
	case "map", "struct":
		return "an object"
	case "slice":
		return "an array"
	}
	return "of another type"
}

func position(b []byte, offset int64) (line, col int) {
	if offset > int64(len(b)) {
		offset = int64(len(b))
	}
	line, col = 1, 1
	for _, c := range b[:offset] {
		if c == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return line, col
}

// none is the response a route function returns with an error.
var none events.APIGatewayV2HTTPResponse

// route makes a Lambda handler of a route function: the caller must hold at
// least role min (checked before the body is read, so validation tells an
// unauthorized caller nothing), and an error is rendered in the one error
// shape.
func (a *API) route(name string, min integration.Role, f func(context.Context, integration.Actor, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error)) Handler {
	return a.wrap(name, func(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		actor, client, err := a.actor(req)
		if client != "" {
			// The host backend's calls are traced to its client, never its token.
			a.log().InfoContext(ctx, "service call", "route", name, "client_id", client,
				"account_id", actor.AccountID, "request_id", req.RequestContext.RequestID)
		}
		if err == nil {
			err = actor.Require(min)
		}
		if err == nil {
			ctx, req, err = a.openCursor(ctx, name, actor, req)
		}
		if err != nil {
			return errorResponse(ctx, a.log(), err), nil
		}
		resp, err := f(ctx, actor, req)
		if err != nil {
			return errorResponse(ctx, a.log(), err), nil
		}
		return resp, nil
	})
}

// wrap turns a handler into a Lambda handler that logs one line per request
// (never bodies) and turns panics into "Internal error.".
func (a *API) wrap(route string, h func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error)) func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	return func(ctx context.Context, req events.APIGatewayV2HTTPRequest) (resp events.APIGatewayV2HTTPResponse, err error) {
		start := time.Now()
		defer func() {
			if p := recover(); p != nil {
				resp = errorResponse(ctx, a.log(), fmt.Errorf("panic in %s: %v", route, p))
			}
			a.log().InfoContext(ctx, "request", "route", route, "status", resp.StatusCode,
				"request_id", req.RequestContext.RequestID, "ms", time.Since(start).Milliseconds())
		}()
		return h(ctx, req)
	}
}

func (a *API) log() *slog.Logger {
	if a.Log == nil {
		return slog.Default()
	}
	return a.Log
}

// limitParam reads the limit query parameter of a list (0 when absent).
func limitParam(q map[string]string) (int, error) {
	raw, ok := q["limit"]
	if !ok {
		return 0, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 {
		return 0, integration.Invalid(map[string]string{"limit": "must be a whole number between 1 and 100"})
	}
	return n, nil
}
