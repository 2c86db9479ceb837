package main

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A run can be listed and cancelled through the runner: it ends as error
// "Cancelled." like a failed run, its job in flight stops on its own, and
// a second cancel is a conflict. The site is a local server that holds
// every request until released, so the run is surely under way when it is
// cancelled; released, it answers 503, which a live run would retry.
func TestRunsListAndCancel(t *testing.T) {
	for _, backend := range []string{"embedded", "aws"} {
		t.Run(backend, func(t *testing.T) {
			var hits atomic.Int32
			first := make(chan struct{}, 1)
			release := make(chan struct{})
			var once sync.Once
			site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				select {
				case first <- struct{}{}:
				default:
				}
				select {
				case <-release:
				case <-r.Context().Done():
				}
				http.Error(w, "unavailable", http.StatusServiceUnavailable)
			}))
			t.Cleanup(site.Close)
			t.Setenv("JOINERY_ALLOW_PRIVATE_NETWORKS", hostPort(t, site.URL))
			r := startRunner(t, backend)
			// Before the runner stops: its worker waits for the held request.
			unblock := func() { once.Do(func() { close(release) }) }
			t.Cleanup(unblock)

			acct := "acct-runs-" + backend
			editor, viewer := r.token(acct, "editor", ""), r.token(acct, "viewer", "")
			created := r.do("POST", "/v1/integrations", editor, `{"site_id":"site-1","platform":"wordpress","external_site_url":"`+site.URL+`","credentials":{"username":"admin","app_password":"`+secretPassword+`"}}`)
			want(t, created, http.StatusCreated, "create")
			id := created.body["id"].(string)
			runs := "/v1/integrations/" + id + "/runs"
			runID := startRun(t, r, editor, id, `{"direction":"from_external","models":["post"]}`)
			select {
			case <-first:
			case <-time.After(30 * time.Second):
				t.Fatal("the run's plan job did not reach the site")
			}

			list := r.do("GET", runs, viewer, "")
			want(t, list, http.StatusOK, "runs")
			items, _ := list.body["items"].([]any)
			st := r.do("GET", "/v1/integrations/"+id+"/sync_status", viewer, "")
			if len(items) != 1 || list.body["next_cursor"] != nil || items[0].(map[string]any)["id"] != runID ||
				items[0].(map[string]any)["status"] != "running" || !reflect.DeepEqual(items[0], st.body["run"]) {
				t.Fatalf("runs: %s\nsync_status: %s", list.raw, st.raw)
			}

			cancel := runs + "/" + runID + "/cancel"
			want(t, r.do("POST", cancel, viewer, ""), http.StatusForbidden, "a viewer's cancel")
			want(t, r.do("POST", runs+"/01JNOSUCHRUN00000000000000/cancel", editor, ""), http.StatusNotFound, "an unknown run")
			want(t, r.do("POST", cancel, r.token("someone-else", "owner", ""), ""), http.StatusNotFound, "another account's cancel")
			want(t, r.do("GET", runs, r.token("someone-else", "owner", ""), ""), http.StatusNotFound, "another account's runs")
			want(t, r.do("POST", cancel, "", ""), http.StatusUnauthorized, "no token")

			done := r.do("POST", cancel, editor, "")
			want(t, done, http.StatusOK, "cancel")
			if done.body["id"] != runID || done.body["status"] != "error" || done.body["error"] != "Cancelled." || done.body["finished_at"] == nil {
				t.Fatalf("cancelled run: %s", done.raw)
			}
			st = r.do("GET", "/v1/integrations/"+id+"/sync_status", viewer, "")
			if st.body["sync_status"] != "error" || st.body["sync_error"] != "Cancelled." || !reflect.DeepEqual(st.body["run"], done.body) {
				t.Fatalf("sync_status after cancel: %s", st.raw)
			}
			evs := runEvents(t, r, viewer, id, "run_finished", runID)
			if len(evs) != 1 || evs[0]["status"] != "error" || evs[0]["message"] != "Cancelled." {
				t.Fatalf("run_finished events: %v", evs)
			}
			again := r.do("POST", cancel, editor, "")
			want(t, again, http.StatusConflict, "cancel again")
			if e, _ := again.body["error"].(map[string]any); e["code"] != "conflict" || e["message"] != "The run has already finished." {
				t.Fatalf("cancel again: %s", again.raw)
			}

			// Released, the held request fails; a live run would retry it
			// in 2 s. The cancelled run's job stops instead: the site hears
			// nothing more, and the run stays as cancelled.
			unblock()
			for deadline := time.Now().Add(6 * time.Second); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
				if n := hits.Load(); n != 1 {
					t.Fatalf("the site was called %d times after the run was cancelled", n-1)
				}
			}
			st = r.do("GET", "/v1/integrations/"+id+"/sync_status", viewer, "")
			if st.body["sync_status"] != "error" || !reflect.DeepEqual(st.body["run"], done.body) {
				t.Fatalf("the run changed after its cancel: %s", st.raw)
			}
			if evs := runEvents(t, r, viewer, id, "run_finished", runID); len(evs) != 1 {
				t.Fatalf("run_finished events: %v", evs)
			}

			// The integration is free for the next run; runs list newest first.
			second := startRun(t, r, editor, id, `{"direction":"from_external","models":["post"]}`)
			page := r.do("GET", runs+"?limit=1", viewer, "")
			want(t, page, http.StatusOK, "runs page 1")
			next, _ := page.body["next_cursor"].(string)
			if items := page.body["items"].([]any); len(items) != 1 || items[0].(map[string]any)["id"] != second || next == "" {
				t.Fatalf("runs page 1: %s", page.raw)
			}
			page = r.do("GET", runs+"?limit=1&cursor="+url.QueryEscape(next), viewer, "")
			want(t, page, http.StatusOK, "runs page 2")
			if items := page.body["items"].([]any); len(items) != 1 || items[0].(map[string]any)["id"] != runID || page.body["next_cursor"] != nil {
				t.Fatalf("runs page 2: %s", page.raw)
			}
			fieldError(t, r.do("GET", runs+"?cursor=not-a-cursor!", viewer, ""), "cursor")
			fieldError(t, r.do("GET", runs+"?limit=0", viewer, ""), "limit")
			want(t, r.do("POST", runs+"/"+second+"/cancel", editor, ""), http.StatusOK, "cancel the second run")
		})
	}
}
