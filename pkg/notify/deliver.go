package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/joinery/joinery/pkg/integration"
)

// DefaultSchedule is when attempts are made, from the event: the first
// entry is the first attempt (JOINERY_NOTIFY_RETRY_SCHEDULE).
const DefaultSchedule = "0s,5s,5m,30m,2h,5h,10h,10h"

// ParseSchedule reads a comma-separated list of Go durations ("" is the
// default). Each entry is the wait before that attempt.
func ParseSchedule(s string) ([]time.Duration, error) {
	if strings.TrimSpace(s) == "" {
		s = DefaultSchedule
	}
	var out []time.Duration
	for _, part := range strings.Split(s, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(part))
		if err != nil || d < 0 {
			return nil, fmt.Errorf("JOINERY_NOTIFY_RETRY_SCHEDULE: %q is not a duration such as 5s, 30m or 2h", strings.TrimSpace(part))
		}
		out = append(out, d)
	}
	return out, nil
}

// Delivery settings.
const (
	// AttemptTimeout: a 2xx within it is success.
	AttemptTimeout = 15 * time.Second
	// SlotsPerEndpoint is how many deliveries to one endpoint are in
	// flight at once.
	SlotsPerEndpoint = 2
	// ResponseLimit is how much of an answer the log keeps.
	ResponseLimit = 1024
	// slotWait is how long a delivery whose endpoint is busy waits before
	// it asks again.
	slotWait = time.Second
	// maxSlotWaitShift bounds those waits at 8 s.
	maxSlotWaitShift = 3
	// slotLease is how long a slot is held at most: an attempt's time,
	// and a margin for recording it.
	slotLease = AttemptTimeout + 30*time.Second
	// maxRetryAfter bounds the wait an endpoint's Retry-After may ask for.
	maxRetryAfter = 24 * time.Hour
)

// Deliverer makes delivery attempts: one per message, signed, through a
// client that follows no redirects (a 3xx is a failure).
type Deliverer struct {
	Store    integration.NotifyStore
	Queue    integration.Queue
	HTTP     *http.Client
	Schedule []time.Duration
	Log      *slog.Logger
	Now      func() time.Time
}

func (d *Deliverer) now() time.Time {
	if d.Now != nil {
		return d.Now().UTC()
	}
	return time.Now().UTC()
}

func (d *Deliverer) log() *slog.Logger {
	if d.Log != nil {
		return d.Log
	}
	return slog.Default()
}

// Handle makes the attempt a message asks for. An error means the
// message should come back (the store or the queue failed); an attempt
// that failed at the endpoint is not an error: its retry is a new message.
func (d *Deliverer) Handle(ctx context.Context, body string) error {
	var m Message
	if err := json.Unmarshal([]byte(body), &m); err != nil || m.DeliveryID == "" || m.EndpointID == "" || m.AccountID == "" {
		d.log().ErrorContext(ctx, "dropped a notification message that is not one", "err", err)
		return nil
	}
	now := d.now()
	if wait := m.NotBefore.Sub(now); wait > 0 {
		return d.send(ctx, m, wait)
	}
	dl, err := d.Store.GetNotifyDelivery(ctx, m.AccountID, m.EndpointID, m.DeliveryID)
	if integration.ErrorCode(err) == integration.ENOTFOUND {
		return nil // expired from the log
	}
	if err != nil {
		return err
	}
	if !m.Manual && (dl.Status != integration.NotifyPending || dl.Scheduled >= m.Attempt) {
		return nil // a duplicate message: this attempt was made
	}
	e, err := d.Store.GetEndpoint(ctx, m.AccountID, m.EndpointID)
	if integration.ErrorCode(err) == integration.ENOTFOUND {
		return d.giveUp(ctx, dl, "The endpoint was deleted.")
	}
	if err != nil {
		return err
	}
	if e.Disabled && dl.EventType != integration.EventPing {
		return d.giveUp(ctx, dl, "The endpoint is disabled.")
	}
	if wait := e.BackoffUntil.Sub(now); wait > 0 && !m.Manual {
		// The endpoint as a whole is backing off: the attempt waits,
		// and is not counted.
		m.NotBefore = e.BackoffUntil
		return d.send(ctx, m, wait)
	}
	holder := fmt.Sprintf("%s#%d", m.DeliveryID, m.Attempt)
	ok, freeAt, err := d.Store.TakeEndpointSlot(ctx, e.ID, holder, SlotsPerEndpoint, now, now.Add(slotLease))
	if err != nil {
		return err
	}
	if !ok {
		// The endpoint has its deliveries in flight: ask again shortly,
		// as a new message, so this one does not hold up the others.
		wait := busyWait(m, e, freeAt, now)
		m.Waits++
		return d.send(ctx, m, wait)
	}
	res := d.attempt(ctx, e, dl, now)
	if err := d.Store.ReleaseEndpointSlot(context.WithoutCancel(ctx), e.ID, holder); err != nil {
		d.log().WarnContext(ctx, "endpoint slot not released; it expires", "endpoint_id", e.ID, "err", err)
	}
	if err := d.endpointOutcome(ctx, e, res.ok()); err != nil {
		d.log().WarnContext(ctx, "endpoint's failure count not kept", "endpoint_id", e.ID, "err", err)
	}
	return d.record(ctx, m, dl, res)
}

// busyWait is how long an attempt that found its endpoint's slots taken
// waits before it asks again: a second, doubling to 8 s; or, when the
// soonest-ending slot (its lease ends at freeAt) has been held for a
// second or more or the endpoint is failing, until that attempt times
// out, and a share of the timeout more, the same for a delivery each
// time but spread across deliveries. A hanging endpoint's backlog then
// asks about once per attempt timeout, a few at a time, instead of all
// of it every few seconds (each ask costs store and queue requests, and
// a burst of them delays other endpoints' deliveries on a busy queue);
// a fast, healthy endpoint's holders are never that old.
func busyWait(m Message, e *integration.Endpoint, freeAt, now time.Time) time.Duration {
	wait := slotWait << min(m.Waits, maxSlotWaitShift)
	if freeAt.IsZero() {
		return wait
	}
	since := freeAt.Add(-slotLease)
	if now.Sub(since) < slotWait && e.Failures == 0 {
		return wait
	}
	return max(wait, since.Add(AttemptTimeout).Sub(now)+spread(m.DeliveryID))
}

// spread is a delivery's share of half the attempt timeout, from its id.
func spread(deliveryID string) time.Duration {
	h := fnv.New32a()
	_, _ = h.Write([]byte(deliveryID))
	return time.Duration(h.Sum32()%uint32(AttemptTimeout/2/time.Millisecond)) * time.Millisecond
}

// Endpoint health.
const (
	// BackoffAfter failed attempts in a row, an endpoint backs off as a
	// whole: its attempts wait, from a minute doubling to an hour.
	BackoffAfter = 5
	minBackoff   = time.Minute
	maxBackoff   = time.Hour
	// DisableAfter failing without a success, an endpoint is disabled,
	// and an endpoint.disabled event tells the account's other endpoints.
	DisableAfter = 5 * 24 * time.Hour
)

// endpointOutcome keeps the endpoint's run of failures: it backs off
// after BackoffAfter in a row and is disabled once failing for
// DisableAfter. Attempts race for the endpoint: a few tries.
func (d *Deliverer) endpointOutcome(ctx context.Context, e *integration.Endpoint, ok bool) error {
	for try := 0; ; try++ {
		now := d.now()
		if ok && e.Failures == 0 && e.BackoffUntil.IsZero() {
			return nil
		}
		prev := e.Version
		var disabled bool
		if ok {
			e.Failures, e.FailingSince, e.BackoffUntil = 0, time.Time{}, time.Time{}
		} else {
			e.Failures++
			if e.FailingSince.IsZero() {
				e.FailingSince = now
			}
			if e.Failures >= BackoffAfter {
				e.BackoffUntil = now.Add(min(minBackoff<<min(e.Failures-BackoffAfter, 10), maxBackoff))
			}
			if !e.Disabled && now.Sub(e.FailingSince) >= DisableAfter {
				e.Disabled, e.DisabledReason, disabled = true, fmt.Sprintf("Disabled after failing for %s since %s.", DisableAfter, e.FailingSince.Format(time.RFC3339)), true
			}
		}
		err := d.Store.UpdateEndpoint(ctx, e, prev)
		if integration.ErrorCode(err) == integration.EPRECONDITIONFAILED && try < 3 {
			if e, err = d.Store.GetEndpoint(ctx, e.AccountID, e.ID); err != nil {
				return err
			}
			continue
		}
		if err != nil || !disabled {
			return err
		}
		return d.Store.AddNotifyEvents(ctx, []integration.NotifyEvent{{ID: integration.EventID("endpoint.disabled", e.ID, e.FailingSince.Format(time.RFC3339Nano)),
			Type: integration.EventEndpointDisabledNotice, At: now, AccountID: e.AccountID,
			Data: map[string]any{"endpoint_id": e.ID, "url": e.URL, "failing_since": e.FailingSince.Format(time.RFC3339), "reason": e.DisabledReason}}})
	}
}

type attemptResult struct {
	status     int
	duration   time.Duration
	err        string
	response   string
	retryAfter time.Duration
}

func (r attemptResult) ok() bool { return r.err == "" && r.status >= 200 && r.status < 300 }

func (d *Deliverer) attempt(ctx context.Context, e *integration.Endpoint, dl *integration.NotifyDelivery, now time.Time) attemptResult {
	ts := now.Unix()
	sig, err := SignatureHeader(e.ActiveSecrets(now), dl.EventID, ts, []byte(dl.Event))
	if err != nil {
		return attemptResult{err: "The endpoint's secret cannot sign: " + err.Error()}
	}
	ctx, cancel := context.WithTimeout(ctx, AttemptTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.URL, strings.NewReader(dl.Event))
	if err != nil {
		return attemptResult{err: "The endpoint's URL cannot be requested."}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("webhook-id", dl.EventID)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("webhook-signature", sig)
	start := time.Now()
	resp, err := d.HTTP.Do(req)
	res := attemptResult{duration: time.Since(start)}
	if err != nil {
		res.err = attemptError(err)
		return res
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, ResponseLimit))
	res.status, res.response = resp.StatusCode, string(bytes.ToValidUTF8(b, []byte("�")))
	res.retryAfter = retryAfter(resp.Header.Get("Retry-After"), now)
	switch {
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		res.err = "The endpoint answered a redirect, which is not followed."
	case resp.StatusCode < 200 || resp.StatusCode >= 300:
		res.err = fmt.Sprintf("The endpoint answered %d.", resp.StatusCode)
	}
	return res
}

// attemptError says why an attempt got no answer, without the URL's
// query (it may carry a token of the host's).
func attemptError(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "Client.Timeout"):
		return fmt.Sprintf("The endpoint did not answer within %s.", AttemptTimeout)
	case strings.Contains(err.Error(), "refused to connect"):
		return "The endpoint's address is not allowed (private or special-purpose)."
	}
	return "The endpoint could not be reached."
}

// retryAfter reads a Retry-After header: seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n > 0 {
		return min(time.Duration(n)*time.Second, maxRetryAfter)
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return min(t.Sub(now), maxRetryAfter)
	}
	return 0
}

// record logs an attempt and, if it failed and the schedule has more,
// queues the next one.
func (d *Deliverer) record(ctx context.Context, m Message, dl *integration.NotifyDelivery, res attemptResult) error {
	now := d.now()
	dl.Attempts++
	if !m.Manual {
		dl.Scheduled = m.Attempt
	}
	dl.StatusCode, dl.DurationMS, dl.Error, dl.Response, dl.UpdatedAt = res.status, res.duration.Milliseconds(), res.err, res.response, now
	prevNext := dl.NextAttemptAt
	dl.NextAttemptAt = time.Time{}
	var next *Message
	switch {
	case res.ok():
		dl.Status = integration.NotifySucceeded
	case m.Manual && dl.Status == integration.NotifyPending:
		// A failed re-send leaves the schedule's retries as they were.
		dl.NextAttemptAt = prevNext
	case !m.Manual && m.Attempt < len(d.Schedule):
		wait := max(d.Schedule[m.Attempt], res.retryAfter)
		dl.Status, dl.NextAttemptAt = integration.NotifyPending, now.Add(wait)
		next = &Message{DeliveryID: m.DeliveryID, EndpointID: m.EndpointID, AccountID: m.AccountID, Attempt: m.Attempt + 1}
		if wait > maxQueueDelay {
			next.NotBefore = dl.NextAttemptAt
		}
	default:
		dl.Status = integration.NotifyFailed
	}
	if err := d.Store.PutNotifyDelivery(ctx, dl); err != nil {
		return err
	}
	if next == nil {
		return nil
	}
	return d.send(ctx, *next, dl.NextAttemptAt.Sub(now))
}

func (d *Deliverer) giveUp(ctx context.Context, dl *integration.NotifyDelivery, why string) error {
	dl.Status, dl.Error, dl.UpdatedAt, dl.NextAttemptAt = integration.NotifyFailed, why, d.now(), time.Time{}
	return d.Store.PutNotifyDelivery(ctx, dl)
}

func (d *Deliverer) send(ctx context.Context, m Message, delay time.Duration) error {
	msg, err := m.queued(delay)
	if err != nil {
		return err
	}
	return d.Queue.Send(ctx, []integration.Message{msg})
}
