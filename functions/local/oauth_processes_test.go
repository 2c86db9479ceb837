package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/joinery/joinery/pkg/awstest"
	"github.com/joinery/joinery/pkg/fakeplatforms"
	"github.com/joinery/joinery/pkg/integration"
	"github.com/joinery/joinery/pkg/smsecrets"
)

// TestRunnerProcess is one local-runner process of
// TestTwoRunnerProcessesRefreshOnce; run on its own it does nothing.
func TestRunnerProcess(t *testing.T) {
	args := os.Getenv("JOINERY_TEST_RUNNER_ARGS")
	if args == "" {
		return // not a skip: make test reads skips as missing dependencies
	}
	if err := run(strings.Split(args, "|"), os.Stdout, os.Stderr); err != nil {
		t.Fatal(err)
	}
}

// Two local-runner processes on one moto table and secret store, 25
// connection tests on each at once, the Slack token about to expire:
// exactly one refresh reaches Slack, and every test passes.
func TestTwoRunnerProcessesRefreshOnce(t *testing.T) {
	endpoint := awstest.Moto(t)
	slack := fakeplatforms.Start(t, "slack", fakeplatforms.Options{ClientID: "cid-slack", ClientSecret: "csecret-slack"})
	dir := t.TempDir()
	apps, _ := json.Marshal(map[string]map[string]string{"slack": {"client_id": "cid-slack", "client_secret": "csecret-slack", "signing_secret": "signing"}})
	appsFile := filepath.Join(dir, "apps.json")
	if err := os.WriteFile(appsFile, apps, 0o600); err != nil {
		t.Fatal(err)
	}
	suffix := fmt.Sprint(time.Now().UnixNano())
	prefix := "joinery-2p/" + suffix + "/"
	env := append(os.Environ(),
		"AWS_ENDPOINT_URL="+endpoint, "AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test",
		"JOINERY_BACKEND=aws", "JOINERY_TABLE=joinery-2p-"+suffix, "JOINERY_QUEUE=joinery-2p-"+suffix, "JOINERY_SECRET_PREFIX="+prefix,
		"JOINERY_APPS_FILE="+appsFile, EnvPlatformOrigins+"=slack="+slack.URL(),
		"JOINERY_OAUTH_RETURN_ORIGINS=https://app.example.com")
	data := filepath.Join(dir, "data")

	// The first process creates the table, the queue and the dev signing
	// key; the second starts on them.
	a := startRunnerProcess(t, env, data)
	b := startRunnerProcess(t, env, data)

	var tok bytes.Buffer
	if err := run([]string{"token", "--account", "acct-2p", "--role", "editor", "--data-dir", data}, &tok, io.Discard); err != nil {
		t.Fatal(err)
	}
	editor := strings.TrimSpace(tok.String())
	call := func(base, method, path, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+editor)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
			return 0, nil
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}

	st, created := call(a, "POST", "/v1/integrations", `{"site_id":"site-2p","platform":"slack"}`)
	if st != http.StatusCreated {
		t.Fatalf("create: %d %v", st, created)
	}
	id := created["id"].(string)
	st, auth := call(a, "POST", "/v1/integrations/"+id+"/oauth/authorize", `{"return_url":"https://app.example.com/done"}`)
	if st != http.StatusOK {
		t.Fatalf("authorize: %d %v", st, auth)
	}
	cb, err := slack.Consent(auth["authorize_url"].(string))
	if err != nil {
		t.Fatal(err)
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(cb)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || loc == nil || loc.Query().Get("status") != "connected" {
		t.Fatalf("callback: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}

	// The stored access token now expires within the refresh margin.
	ctx := context.Background()
	secrets := smsecrets.New(secretsmanager.NewFromConfig(awstest.Config(endpoint)), prefix, 0)
	ref := integration.SecretRef{AccountID: "acct-2p", IntegrationID: id, SiteID: "site-2p", Platform: "slack"}
	_, vals, err := secrets.CurrentSecret(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	vals["expires_at"] = time.Now().UTC().Add(time.Minute).Format(time.RFC3339)
	if _, err := secrets.PutSecret(ctx, ref, vals); err != nil {
		t.Fatal(err)
	}

	before := slack.Refreshes()
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range 50 {
		base := a
		if i%2 == 1 {
			base = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if st, res := call(base, "POST", "/v1/integrations/"+id+"/test_connection", ""); st != http.StatusOK || res["ok"] != true {
				t.Errorf("test connection %d on %s: %d %v", i, base, st, res)
			}
		}()
	}
	close(start)
	wg.Wait()
	if n := slack.Refreshes() - before; n != 1 {
		t.Fatalf("%d refreshes reached Slack from 2 processes × 25 callers, want exactly 1", n)
	}
}

// startRunnerProcess starts `local serve` as its own process (this test
// binary re-run as TestRunnerProcess) and returns its base URL once it
// answers.
func startRunnerProcess(t *testing.T, env []string, data string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^TestRunnerProcess$")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Env = append(env, "JOINERY_TEST_RUNNER_ARGS="+strings.Join([]string{"serve", "--addr", addr, "--data-dir", data}, "|"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("runner %s:\n%s", addr, out.String())
		}
	})
	base := "http://" + addr
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-done:
			t.Fatalf("runner %s stopped:\n%s", addr, out.String())
		default:
		}
		if resp, err := http.Get(base + "/v1/openapi.json"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("runner %s did not answer in 60 s:\n%s", addr, out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
