package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/joinery/joinery/functions/internal/awsenv"
	"github.com/joinery/joinery/pkg/apigw"
	"github.com/joinery/joinery/pkg/embedded"
	"github.com/joinery/joinery/pkg/integration"
	"github.com/joinery/joinery/pkg/notify"
	"github.com/joinery/joinery/pkg/safehttp"
	"github.com/joinery/joinery/pkg/sqsqueue"
	"github.com/joinery/joinery/pkg/sqsworker"
)

// notifyStore is what the outbound notifications need of the store: both
// backends' stores are one.
type notifyStore interface {
	integration.NotifyStore
	notify.IntegrationReader
	notify.OwnerReader
}

// Local notification settings.
const (
	// notifyPoll is how often pending events are fanned out: well within
	// the two seconds from a change's commit to its delivery.
	notifyPoll = 200 * time.Millisecond
	// notifyConsumers take the notifications queue's batches at once, as
	// Lambda runs several invocations: a batch waiting on a slow endpoint
	// holds up only its own consumer.
	notifyConsumers = 4
)

// localNotify is the outbound notifications, as the dispatch and deliver
// functions and their schedule and queue run them in AWS.
type localNotify struct {
	queue      integration.Queue
	consume    func(ctx context.Context, h func(context.Context, events.SQSEvent) (events.SQSEventResponse, error)) error
	dispatcher *notify.Dispatcher
	deliverer  *notify.Deliverer
	worker     *sqsworker.Notifier
	endpoints  *notify.Endpoints
}

// logBus is the local stand-in for the EventBridge bus: it logs each event.
type logBus struct{ log *slog.Logger }

func (b logBus) PutEvents(ctx context.Context, evs []notify.BusEvent) (int, error) {
	for _, ev := range evs {
		b.log.InfoContext(ctx, "event bus", "source", "joinery", "detail_type", ev.Type, "detail", ev.Detail)
	}
	return 0, nil
}

// newLocalNotify builds the notifications on the runner's store and a
// notifications queue of the backend's kind. Endpoint URLs must be https
// to public addresses, but for the hosts JOINERY_ALLOW_PRIVATE_NETWORKS
// allows, which may be plain http.
func newLocalNotify(ctx context.Context, s settings, store integration.Store, log *slog.Logger) (*localNotify, error) {
	st, ok := store.(notifyStore)
	if !ok {
		return nil, fmt.Errorf("the %s store keeps no notifications", s.Backend)
	}
	schedule, err := notify.ParseSchedule(os.Getenv("JOINERY_NOTIFY_RETRY_SCHEDULE"))
	if err != nil {
		return nil, err
	}
	policy, err := safehttp.PolicyFromEnv()
	if err != nil {
		return nil, err
	}
	n := &localNotify{}
	switch s.Backend {
	case "aws":
		var opts []func(*config.LoadOptions) error
		if len(s.AWSAPIOptions) > 0 {
			opts = append(opts, config.WithAPIOptions(s.AWSAPIOptions))
		}
		cfg, err := awsenv.Load(ctx, opts...)
		if err != nil {
			return nil, fmt.Errorf("load AWS config: %w", err)
		}
		client := sqs.NewFromConfig(cfg)
		// Each retry is a new message: the receive count only counts
		// messages that failed to be recorded.
		qURL, dlqURL, err := sqsqueue.CreateQueues(ctx, client, s.QueueName+"-notify", 60*time.Second, 10)
		if err != nil {
			return nil, err
		}
		q := sqsqueue.New(client, qURL, dlqURL)
		n.queue, n.consume = q, q.Consume
	default:
		q := embedded.NewQueue(embedded.QueueOptions{VisibilityTimeout: 60 * time.Second, MaxReceives: 10, ARN: "arn:aws:sqs:local:000000000000:" + s.QueueName + "-notify"})
		n.queue, n.consume = q, q.Consume
	}
	n.dispatcher = &notify.Dispatcher{Store: st, Integrations: st, Owners: st, Queue: n.queue, Bus: logBus{log: log}, Log: log}
	client := safehttp.New(safehttp.Options{Policy: policy, MaxRedirects: -1, Timeout: notify.AttemptTimeout, MaxBodyBytes: notify.ResponseLimit * 4})
	n.deliverer = &notify.Deliverer{Store: st, Queue: n.queue, HTTP: client, Schedule: schedule, Log: log}
	n.worker = &sqsworker.Notifier{Deliverer: n.deliverer, Log: log}
	n.endpoints = &notify.Endpoints{Store: st, Queue: n.queue, CheckURL: func(ctx context.Context, u *url.URL) error {
		return safehttp.CheckURL(ctx, u, safehttp.Options{Policy: policy})
	}}
	return n, nil
}

// routes are the endpoints API's.
func (n *localNotify) routes(api *apigw.API) []route {
	e := &apigw.EndpointsAPI{API: api, Endpoints: n.endpoints}
	return []route{
		{key: "POST /v1/webhook_endpoints", authJWT: true, handler: e.CreateEndpoint()},
		{key: "GET /v1/webhook_endpoints", authJWT: true, handler: e.ListEndpoints()},
		{key: "GET /v1/webhook_endpoints/{id}", authJWT: true, handler: e.GetEndpoint()},
		{key: "PATCH /v1/webhook_endpoints/{id}", authJWT: true, handler: e.UpdateEndpoint()},
		{key: "DELETE /v1/webhook_endpoints/{id}", authJWT: true, handler: e.DeleteEndpoint()},
		{key: "POST /v1/webhook_endpoints/{id}/test", authJWT: true, handler: e.TestEndpoint()},
		{key: "POST /v1/webhook_endpoints/{id}/rotate_secret", authJWT: true, handler: e.RotateEndpointSecret()},
		{key: "GET /v1/webhook_endpoints/{id}/deliveries", authJWT: true, handler: e.EndpointDeliveries()},
		{key: "POST /v1/webhook_endpoints/{id}/deliveries/{delivery_id}/retry", authJWT: true, handler: e.RetryDelivery()},
	}
}

// work fans out and delivers until ctx ends; the returned func waits for
// it to stop.
func (n *localNotify) work(ctx context.Context, log *slog.Logger) func() {
	done := make(chan struct{}, notifyConsumers+1)
	go func() {
		defer func() { done <- struct{}{} }()
		n.dispatcher.Run(ctx, notifyPoll)
	}()
	for range notifyConsumers {
		go func() {
			defer func() { done <- struct{}{} }()
			for ctx.Err() == nil {
				if err := n.consume(ctx, n.worker.Handle); err != nil {
					log.Error("notifications queue", "err", err)
					select {
					case <-ctx.Done():
					case <-time.After(time.Second):
					}
				}
			}
		}()
	}
	return func() {
		for range notifyConsumers + 1 {
			<-done
		}
	}
}
