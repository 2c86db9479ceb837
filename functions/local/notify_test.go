package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/notify"
)

// hookReceiver is a host endpoint: it verifies each delivery with the
// secrets it is given and answers from a script (then 200).
type hookReceiver struct {
	t       *testing.T
	srv     *httptest.Server
	mu      sync.Mutex
	secrets []string
	script  []int
	hold    chan struct{} // when set, every request waits on it
	got     []hookDelivery
	raw     []string // every body and header, to look for credentials
	bad     int      // deliveries no secret verified
}

type hookDelivery struct {
	id, typ, sig string
	at           time.Time
	verifiedBy   []int // indexes of the secrets that verify it
	body         map[string]any
}

func newHookReceiver(t *testing.T) *hookReceiver {
	h := &hookReceiver{t: t}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if h.hold != nil {
			select {
			case <-h.hold:
			case <-r.Context().Done():
			}
			return
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		d := hookDelivery{id: r.Header.Get("webhook-id"), sig: r.Header.Get("webhook-signature"), at: time.Now()}
		for i, s := range h.secrets {
			if notify.Verify(s, r.Header, body, time.Now()) == nil {
				d.verifiedBy = append(d.verifiedBy, i)
			}
		}
		if len(d.verifiedBy) == 0 {
			h.bad++
		}
		_ = json.Unmarshal(body, &d.body)
		d.typ, _ = d.body["type"].(string)
		h.got = append(h.got, d)
		h.raw = append(h.raw, fmt.Sprint(r.Header)+string(body))
		status := http.StatusOK
		if len(h.script) > 0 {
			status, h.script = h.script[0], h.script[1:]
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hookReceiver) deliveries() []hookDelivery {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hookDelivery(nil), h.got...)
}

// waitFor waits until the receiver holds a delivery that matches, and
// returns it.
func (h *hookReceiver) waitFor(what string, within time.Duration, match func(hookDelivery) bool) hookDelivery {
	h.t.Helper()
	deadline := time.Now().Add(within)
	for {
		for _, d := range h.deliveries() {
			if match(d) {
				return d
			}
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("no %s within %v; got %d deliveries", what, within, len(h.deliveries()))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func ofType(typ string) func(hookDelivery) bool {
	return func(d hookDelivery) bool { return d.typ == typ }
}

// notifySite is a small WordPress: a user who may publish, two posts, and
// a created post; with fail set, every request is refused (401).
func notifySite(fail *atomic.Bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		if fail.Load() {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"code":"rest_not_logged_in","message":"You are not currently logged in.","data":{"status":401}}`)
			return
		}
		route := strings.TrimPrefix(r.URL.Path, "/wp-json/wp/v2/")
		list := func(items string, n int) {
			w.Header().Set("X-WP-Total", fmt.Sprint(n))
			w.Header().Set("X-WP-TotalPages", "1")
			fmt.Fprint(w, items)
		}
		post := func(id int) string {
			return fmt.Sprintf(`{"id":%d,"status":"publish","title":{"raw":"Post %d"},"content":{"raw":"<p>Body</p>"},"link":"https://wp.example.com/?p=%d","date_gmt":"2026-01-01T00:00:00","modified_gmt":"2026-01-01T00:00:0%d"}`, id, id, id, id)
		}
		switch {
		case route == "users/me":
			fmt.Fprint(w, `{"id":1,"name":"Editor","slug":"editor","roles":["editor"],"capabilities":{"publish_posts":true,"upload_files":true}}`)
		case route == "types" || route == "taxonomies":
			fmt.Fprint(w, `{}`)
		case route == "posts" && r.Method == http.MethodGet:
			if r.URL.Query().Get("_fields") == "id" {
				list(`[{"id":1},{"id":2}]`, 2)
				return
			}
			list("["+post(1)+","+post(2)+"]", 2)
		case strings.HasPrefix(route, "posts/") && r.Method == http.MethodGet:
			fmt.Fprint(w, post(7))
		case strings.HasPrefix(route, "posts") && r.Method == http.MethodPost:
			w.WriteHeader(http.StatusCreated)
			fmt.Fprint(w, post(7))
		case r.Method == http.MethodGet:
			list(`[]`, 0)
		default:
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"code":"rest_no_route","message":"No route."}`)
		}
	})
}

// Through the runner, on embedded and on moto: a sync, a push and a
// failing connection test reach a host endpoint as signed events it
// verifies; an endpoint that answers 500 three times gets the event on
// the fourth attempt, all four in its log; a hanging endpoint with 100
// deliveries pending does not hold up another's; a disabled endpoint gets
// nothing; a rotated secret verifies beside the new one; an admin limited
// to some sites cannot subscribe to others; no credential is ever sent.
func TestOutboundWebhooks(t *testing.T) {
	for _, backend := range []string{"embedded", "aws"} {
		t.Run(backend, func(t *testing.T) {
			var fail atomic.Bool
			site := httptest.NewServer(notifySite(&fail))
			t.Cleanup(site.Close)
			// A site connected by the plugin, whose signed deliveries edit
			// records with no sync run.
			blog := &fakeWordPress{}
			blogURL := httptestServer(t, blog)
			host := newHookReceiver(t)
			flaky := newHookReceiver(t)
			flaky.script = []int{500, 500, 500}
			off := newHookReceiver(t)
			slow := newHookReceiver(t)
			slow.hold = make(chan struct{})
			t.Setenv("JOINERY_ALLOW_PRIVATE_NETWORKS", strings.Join([]string{hostPort(t, site.URL), hostPort(t, blogURL), hostPort(t, host.srv.URL),
				hostPort(t, flaky.srv.URL), hostPort(t, off.srv.URL), hostPort(t, slow.srv.URL)}, ","))
			// A short schedule: the retries come within a second.
			t.Setenv("JOINERY_NOTIFY_RETRY_SCHEDULE", "0s,200ms,200ms,200ms")
			r := startRunner(t, backend)
			// Released before the runner stops (cleanups run last first).
			t.Cleanup(func() { close(slow.hold) })
			began := time.Now()
			defer func() { t.Logf("took %v", time.Since(began)) }()
			step := func(what string) { t.Logf("%v: %s", time.Since(began).Round(time.Millisecond), what) }

			acct := "acct-hooks-" + backend
			admin, editor := r.token(acct, "admin", ""), r.token(acct, "editor", "")
			endpoint := func(u, extra string) (string, string) {
				t.Helper()
				got := r.do("POST", "/v1/webhook_endpoints", admin, `{"url":"`+u+`"`+extra+`}`)
				want(t, got, http.StatusCreated, "create endpoint "+u)
				secret, _ := got.body["secret"].(string)
				if !strings.HasPrefix(secret, "whsec_") {
					t.Fatalf("secret %q", secret)
				}
				return got.body["id"].(string), secret
			}
			hostID, hostSecret := endpoint(host.srv.URL+"/hooks", `,"description":"the host"`)
			host.secrets = []string{hostSecret}
			flakyID, flakySecret := endpoint(flaky.srv.URL+"/hooks", `,"event_types":["sync.completed"]`)
			flaky.secrets = []string{flakySecret}
			offID, offSecret := endpoint(off.srv.URL+"/hooks", "")
			off.secrets = []string{offSecret}
			want(t, r.do("PATCH", "/v1/webhook_endpoints/"+offID, admin, `{"disabled":true}`), http.StatusOK, "disable")

			// The rules of the endpoints API.
			fieldError(t, r.do("POST", "/v1/webhook_endpoints", admin, `{"url":"`+host.srv.URL+`","event_types":["record.*","nope"]}`), "event_types")
			fieldError(t, r.do("POST", "/v1/webhook_endpoints", admin, `{"url":"http://127.0.0.2:1/hooks"}`), "url")
			want(t, r.do("POST", "/v1/webhook_endpoints", editor, `{"url":"`+host.srv.URL+`"}`), http.StatusForbidden, "an editor")
			limited := r.token(acct, "admin", "site-2")
			want(t, r.do("POST", "/v1/webhook_endpoints", limited, `{"url":"`+host.srv.URL+`","site_ids":["site-1"]}`), http.StatusForbidden, "another site")
			want(t, r.do("POST", "/v1/webhook_endpoints", limited, `{"url":"`+host.srv.URL+`"}`), http.StatusForbidden, "every site")
			want(t, r.do("GET", "/v1/webhook_endpoints/"+hostID, limited, ""), http.StatusNotFound, "an all-sites endpoint, to a limited admin")
			if got := r.do("GET", "/v1/webhook_endpoints", limited, ""); len(got.body["items"].([]any)) != 0 {
				t.Fatalf("a limited admin lists %s", got.raw)
			}
			if got := r.do("GET", "/v1/webhook_endpoints/"+hostID, admin, ""); got.body["secret"] != nil || strings.Contains(got.raw, hostSecret) {
				t.Fatalf("the secret was shown again: %s", got.raw)
			}

			step("endpoints made")
			// A sync: records and the run's end reach the host within 2 s
			// of the commit.
			created := r.do("POST", "/v1/integrations", editor, `{"site_id":"site-1","platform":"wordpress","external_site_url":"`+site.URL+`","credentials":{"username":"admin","app_password":"`+secretPassword+`"}}`)
			want(t, created, http.StatusCreated, "create integration")
			id := created.body["id"].(string)
			runID := startRun(t, r, editor, id, `{"direction":"from_external","models":["post"]}`)
			finishRun(t, r, editor, id, runID)
			done := time.Now()
			completed := host.waitFor("sync.completed", 10*time.Second, ofType("sync.completed"))
			if lag := completed.at.Sub(done); lag > 2*time.Second {
				t.Fatalf("sync.completed arrived %v after the run was seen finished", lag)
			}
			rec := host.waitFor("record.created", 2*time.Second, ofType("record.created"))
			data := rec.body["data"].(map[string]any)
			if rec.body["integration_id"] != id || rec.body["site_id"] != "site-1" || rec.body["platform"] != "wordpress" || data["model"] != "post" || data["external_id"] == nil {
				t.Fatalf("record event %v", rec.body)
			}
			got := r.do("GET", "/v1/integrations/"+id+"/records/post/"+data["external_id"].(string), editor, "")
			want(t, got, http.StatusOK, "the record an event names")

			step("sync delivered")
			// The endpoint that fails three times gets it on the fourth.
			flaky.waitFor("the fourth attempt", 10*time.Second, func(hookDelivery) bool { return len(flaky.deliveries()) >= 4 })
			var log reply
			for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
				log = r.do("GET", "/v1/webhook_endpoints/"+flakyID+"/deliveries", admin, "")
				want(t, log, http.StatusOK, "delivery log")
				items := log.body["items"].([]any)
				if len(items) == 1 && items[0].(map[string]any)["status"] == "succeeded" || time.Now().After(deadline) {
					break
				}
			}
			items := log.body["items"].([]any)
			if len(items) != 1 || items[0].(map[string]any)["status"] != "succeeded" || items[0].(map[string]any)["attempts"] != float64(4) {
				t.Fatalf("flaky endpoint's log: %s", log.raw)
			}
			fd := flaky.deliveries()
			if len(fd) != 4 || fd[0].id != fd[3].id || fd[0].typ != "sync.completed" {
				t.Fatalf("flaky endpoint got %d deliveries: %+v", len(fd), fd)
			}
			failedOnly := r.do("GET", "/v1/webhook_endpoints/"+flakyID+"/deliveries?status=failed", admin, "")
			if n := len(failedOnly.body["items"].([]any)); n != 0 {
				t.Fatalf("failed deliveries: %s", failedOnly.raw)
			}

			step("flaky done")
			// A push, and a connection test that fails.
			push := r.do("POST", "/v1/integrations/"+id+"/records", editor, `{"model":"post","local_id":"a-1","data":{"title":"Hello","status":"publish"}}`)
			want(t, push, http.StatusAccepted, "push")
			host.waitFor("push.done", 10*time.Second, ofType("push.done"))
			fail.Store(true)
			want(t, r.do("POST", "/v1/integrations/"+id+"/test_connection", editor, ""), http.StatusOK, "failing connection test")
			conn := host.waitFor("connection.error", 5*time.Second, func(d hookDelivery) bool {
				return strings.HasPrefix(d.typ, "connection.") && d.body["data"].(map[string]any)["status"] != "connected"
			})
			fail.Store(false)
			if conn.typ != "connection.error" && conn.typ != "connection.reauthorization_required" {
				t.Fatalf("connection event %v", conn.body)
			}

			step("push and connection")
			// A webhook-driven edit: the plugin's signed delivery for an
			// edited post reaches the host as record.updated.
			wpID, hookPath, hookSecret := (&hookRunner{runner: r}).onboardWordPress(t, editor, "site-blog", blogURL)
			deliver := func(deliveryID, action string) {
				t.Helper()
				h, body := wpDelivery(deliveryID, action, 5, hookSecret, time.Now())
				want(t, (&hookRunner{runner: r}).hook("POST", hookPath, h, body), http.StatusOK, "delivery "+deliveryID)
			}
			ofPost := func(typ string) func(hookDelivery) bool {
				return func(d hookDelivery) bool {
					data, _ := d.body["data"].(map[string]any)
					return d.typ == typ && d.body["integration_id"] == wpID && data["model"] == "post" && data["external_id"] == "5"
				}
			}
			blog.set(5, "Post 5", "publish")
			deliver(backend+"-created", "post_created")
			host.waitFor("record.created by a webhook", 10*time.Second, ofPost("record.created"))
			blog.set(5, "Post 5, edited", "publish")
			deliver(backend+"-edited", "post_updated")
			edited := host.waitFor("record.updated by a webhook", 10*time.Second, ofPost("record.updated"))
			if edited.body["site_id"] != "site-blog" || edited.body["platform"] != "wordpress" || len(edited.verifiedBy) == 0 {
				t.Fatalf("the webhook-driven edit's event: %v, verified by %v", edited.body, edited.verifiedBy)
			}
			got = r.do("GET", "/v1/integrations/"+wpID+"/records/post/5", editor, "")
			want(t, got, http.StatusOK, "the edited record")
			if got.body["title"] != "Post 5, edited" {
				t.Fatalf("the edited record: %s", got.raw)
			}

			step("webhook-driven edit")
			// A hanging endpoint with 100 deliveries pending holds up
			// another endpoint's by at most 2 s (at most 2 of its attempts
			// are in flight; the rest wait as new messages).
			slowID, _ := endpoint(slow.srv.URL+"/hooks", `,"event_types":["ping"]`)
			// Four callers at a time: the 100 are queued sooner.
			var pinging sync.WaitGroup
			for range 4 {
				pinging.Add(1)
				go func() {
					defer pinging.Done()
					for range 25 {
						if got := r.do("POST", "/v1/webhook_endpoints/"+slowID+"/test", admin, ""); got.status != http.StatusAccepted {
							t.Errorf("ping the slow endpoint: %d %s", got.status, got.raw)
							return
						}
					}
				}()
			}
			pinging.Wait()
			step("100 pending")
			time.Sleep(300 * time.Millisecond) // the slow endpoint's attempts are under way
			sent := time.Now()
			ping := r.do("POST", "/v1/webhook_endpoints/"+hostID+"/test", admin, "")
			want(t, ping, http.StatusAccepted, "ping the host")
			pinged := host.waitFor("the ping", 30*time.Second, func(d hookDelivery) bool { return d.id == ping.body["event_id"] })
			t.Logf("the ping arrived %v after it was sent", pinged.at.Sub(sent).Round(time.Millisecond))
			if lag := pinged.at.Sub(sent); lag > 2*time.Second {
				t.Fatalf("the ping took %v behind the hanging endpoint's deliveries", lag)
			}

			step("hanging")
			// A rotated secret: both verify during the overlap.
			rot := r.do("POST", "/v1/webhook_endpoints/"+hostID+"/rotate_secret", admin, "")
			want(t, rot, http.StatusOK, "rotate")
			fresh, _ := rot.body["secret"].(string)
			if fresh == hostSecret || !strings.HasPrefix(fresh, "whsec_") || rot.body["previous_secret_expires_at"] == nil {
				t.Fatalf("rotation: %s", rot.raw)
			}
			host.mu.Lock()
			host.secrets = []string{hostSecret, fresh}
			host.mu.Unlock()
			ping = r.do("POST", "/v1/webhook_endpoints/"+hostID+"/test", admin, "")
			after := host.waitFor("the ping after the rotation", 5*time.Second, func(d hookDelivery) bool { return d.id == ping.body["event_id"] })
			if len(after.verifiedBy) != 2 || len(strings.Fields(after.sig)) != 2 {
				t.Fatalf("after the rotation: signatures %q verified by %v", after.sig, after.verifiedBy)
			}

			// A retry from the log sends the same event again.
			hostLog := r.do("GET", "/v1/webhook_endpoints/"+hostID+"/deliveries?limit=1", admin, "")
			first := hostLog.body["items"].([]any)[0].(map[string]any)
			before := len(host.deliveries())
			want(t, r.do("POST", "/v1/webhook_endpoints/"+hostID+"/deliveries/"+first["delivery_id"].(string)+"/retry", admin, ""), http.StatusAccepted, "retry")
			again := host.waitFor("the re-sent delivery", 5*time.Second, func(hookDelivery) bool { return len(host.deliveries()) > before })
			_ = again
			if last := host.deliveries()[len(host.deliveries())-1]; last.id != first["event_id"] {
				t.Fatalf("re-sent %q, want the event %q", last.id, first["event_id"])
			}

			step("rotation and retry")
			// The disabled endpoint got nothing; every delivery verified;
			// no credential anywhere.
			if n := len(off.deliveries()); n != 0 {
				t.Fatalf("the disabled endpoint got %d deliveries", n)
			}
			for _, h := range []*hookReceiver{host, flaky} {
				h.mu.Lock()
				if h.bad > 0 {
					t.Errorf("%d deliveries did not verify", h.bad)
				}
				for _, raw := range h.raw {
					if strings.Contains(raw, secretPassword) || strings.Contains(raw, "app_password") {
						t.Errorf("a delivery carried a credential: %s", raw)
					}
				}
				h.mu.Unlock()
			}
			if strings.Contains(hostLog.raw, secretPassword) {
				t.Fatalf("the delivery log carried a credential")
			}
			want(t, r.do("DELETE", "/v1/webhook_endpoints/"+slowID, admin, ""), http.StatusNoContent, "delete")
			want(t, r.do("GET", "/v1/webhook_endpoints/"+slowID, admin, ""), http.StatusNotFound, "deleted")
		})
	}
}
