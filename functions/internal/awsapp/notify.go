package awsapp

import (
	"context"
	"log"
	"net/url"

	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/joinery/joinery/pkg/apigw"
	"github.com/joinery/joinery/pkg/eventbus"
	"github.com/joinery/joinery/pkg/notify"
	"github.com/joinery/joinery/pkg/safehttp"
	"github.com/joinery/joinery/pkg/sqsqueue"
	"time"
)

// NotifyEnv configures the outbound notifications.
type NotifyEnv struct {
	// QueueURL is the notifications queue (JOINERY_NOTIFY_QUEUE_URL).
	QueueURL string
	// Schedule is the retry schedule (JOINERY_NOTIFY_RETRY_SCHEDULE).
	Schedule []time.Duration
	// Bus names the event bus every event is also put on
	// (JOINERY_EVENT_BUS; "": none).
	Bus string
}

// NotifySchedule reads JOINERY_NOTIFY_RETRY_SCHEDULE's value ("": the
// default). A bad value stops the process: the runtime reports it as an
// init error.
func NotifySchedule(raw string) []time.Duration {
	d, err := notify.ParseSchedule(raw)
	if err != nil {
		log.Fatal(err)
	}
	return d
}

// NotifyQueue is the notifications queue.
func (a *App) NotifyQueue() *sqsqueue.Queue {
	if a.notifyQ == nil {
		a.notifyQ = sqsqueue.New(sqs.NewFromConfig(a.cfg), a.Env.Notify.QueueURL, "")
	}
	return a.notifyQ
}

// Endpoints is the API of the host's outbound webhook endpoints. Their
// URLs must be https, to public addresses: in AWS the check is always
// strict.
func (a *App) Endpoints() *apigw.EndpointsAPI {
	eps := &notify.Endpoints{Store: a.Store, CheckURL: func(ctx context.Context, u *url.URL) error {
		return safehttp.CheckURL(ctx, u, safehttp.Options{})
	}}
	if a.Env.Notify.QueueURL != "" {
		eps.Queue = a.NotifyQueue()
	}
	return &apigw.EndpointsAPI{API: a.API(), Endpoints: eps}
}

// Dispatcher fans pending events out to the notifications queue and the
// event bus.
func (a *App) Dispatcher() *notify.Dispatcher {
	d := &notify.Dispatcher{Store: a.Store, Integrations: a.Store, Owners: a.Store, Queue: a.NotifyQueue()}
	if a.Env.Notify.Bus != "" {
		d.Bus = eventbus.New(eventbridge.NewFromConfig(a.cfg), a.Env.Notify.Bus)
	}
	return d
}

// Deliverer makes the delivery attempts, through the SSRF-safe client,
// strict and following no redirect.
func (a *App) Deliverer() *notify.Deliverer {
	client := Hooks.HTTP
	if client == nil {
		client = safehttp.New(safehttp.Options{MaxRedirects: -1, Timeout: notify.AttemptTimeout, MaxBodyBytes: notify.ResponseLimit * 4})
	}
	return &notify.Deliverer{Store: a.Store, Queue: a.NotifyQueue(), HTTP: client, Schedule: a.Env.Notify.Schedule}
}
