package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/joinery/joinery/pkg/integration"
	"github.com/joinery/joinery/pkg/sqsworker"
	"github.com/joinery/joinery/pkg/webhookin"
)

// webhookQueueSuffix names the webhook queue after the sync queue.
const webhookQueueSuffix = "-webhooks"

// hooks is the inbound webhook path in the runner: the platforms' function
// URLs (one receiver serves them all, on the same paths), the webhook queue
// and its worker.
type hooks struct {
	receiver *webhookin.Receiver
	queue    integration.Queue
	consume  func(ctx context.Context, h func(context.Context, events.SQSEvent) (events.SQSEventResponse, error)) error
	dead     func(ctx context.Context) ([]string, error)
	worker   *sqsworker.Worker
	// timeout is a webhook function's, from the template.
	timeout time.Duration
}

// webhookRoutes are the function URLs' paths; HEAD is Trello's check of a
// new webhook.
func (h *hooks) routes(log *slog.Logger) []route {
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.serve(w, r, log) })
	var out []route
	for _, key := range []string{"POST /webhooks/{platform}", "POST /webhooks/{platform}/{hook_id}", "HEAD /webhooks/{platform}", "HEAD /webhooks/{platform}/{hook_id}"} {
		out = append(out, route{key: key, raw: handler, timeout: h.timeout})
	}
	return out
}

// serve invokes the receiver as a function URL would: the body in full up
// to Lambda's payload limit (AWS refuses larger ones before the function;
// here they are answered 413 too_large), headers lower-cased, a body that
// is not text base64-encoded.
func (h *hooks) serve(w http.ResponseWriter, r *http.Request, log *slog.Logger) {
	body, err := io.ReadAll(io.LimitReader(r.Body, webhookin.MaxBodyBytes+1))
	if err != nil {
		gatewayError(w, http.StatusBadRequest, "Bad Request")
		return
	}
	if len(body) > webhookin.MaxBodyBytes {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		_, _ = io.WriteString(w, `{"error":{"code":"too_large","message":"The body is over 6 MB."}}`)
		return
	}
	headers := make(map[string]string, len(r.Header))
	for k, vs := range r.Header {
		headers[strings.ToLower(k)] = strings.Join(vs, ",")
	}
	ev := events.LambdaFunctionURLRequest{Version: "2.0", RawPath: r.URL.EscapedPath(), RawQueryString: r.URL.RawQuery, Headers: headers,
		RequestContext: events.LambdaFunctionURLRequestContext{RequestID: requestID(), DomainName: r.Host, TimeEpoch: time.Now().UnixMilli(),
			HTTP: events.LambdaFunctionURLRequestContextHTTPDescription{Method: r.Method, Path: r.URL.Path, Protocol: r.Proto, SourceIP: sourceIP(r), UserAgent: r.UserAgent()}}}
	if len(body) > 0 {
		if isText(r.Header.Get("Content-Type")) {
			ev.Body = string(body)
		} else {
			ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString(body), true
		}
	}
	resp, err := within(r.Context(), h.timeout, func(ctx context.Context) (events.LambdaFunctionURLResponse, error) {
		return h.receiver.HandleURL(ctx, ev)
	})
	if err != nil {
		log.Error("function error", "route", "webhooks", "err", err)
		gatewayError(w, http.StatusBadGateway, "Internal Server Error")
		return
	}
	for k, v := range resp.Headers {
		w.Header().Set(k, v)
	}
	status := resp.StatusCode
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = io.WriteString(w, resp.Body)
	}
}

// work runs the webhook worker on the webhook queue, and hands what it
// dead-letters to the dead-letter consumer, until ctx ends.
func (h *hooks) work(ctx context.Context, a *app, log *slog.Logger) func() {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			err := h.consume(ctx, func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
				return within(ctx, a.workerTimeout, func(ctx context.Context) (events.SQSEventResponse, error) { return h.worker.Handle(ctx, ev) })
			})
			if err != nil {
				log.Error("webhook queue", "err", err)
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
			}
		}
	}()
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		for ctx.Err() == nil {
			if err := a.keepDeadLetters(ctx, h.dead); err != nil {
				log.Error("webhook dead-letter queue", "err", err)
			}
			select {
			case <-ctx.Done():
			case <-time.After(dlqPoll):
			}
		}
	}()
	return func() { <-done; <-drained }
}

// keepDeadLetters hands what a queue dead-lettered to the dead-letter
// consumer, as one SQS event.
func (a *app) keepDeadLetters(ctx context.Context, take func(context.Context) ([]string, error)) error {
	bodies, err := take(ctx)
	if err != nil || len(bodies) == 0 {
		return err
	}
	ev := events.SQSEvent{Records: make([]events.SQSMessage, len(bodies))}
	for i, b := range bodies {
		ev.Records[i] = events.SQSMessage{MessageId: integration.NewID(), Body: b,
			Attributes: map[string]string{"ApproximateReceiveCount": fmt.Sprint(maxReceives)}}
	}
	resp, err := a.dlq.Handle(ctx, ev)
	if err != nil {
		return err
	}
	if len(resp.BatchItemFailures) > 0 {
		return fmt.Errorf("%d dead letters could not be kept", len(resp.BatchItemFailures))
	}
	return nil
}
