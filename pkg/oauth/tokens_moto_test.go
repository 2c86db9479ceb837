package oauth

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/joinery/joinery/pkg/awstest"
	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/dynamostore"
	"github.com/joinery/joinery/pkg/integration"
	"github.com/joinery/joinery/pkg/smsecrets"
)

func TestMain(m *testing.M) { awstest.Main(m) }

// awsStores is one process's clients of the deployment's table and
// secrets: nothing shared with another's but moto itself.
func awsStores(endpoint, table, prefix string) stores {
	cfg := awstest.Config(endpoint)
	st := dynamostore.New(dynamodb.NewFromConfig(cfg), table)
	sec := smsecrets.New(secretsmanager.NewFromConfig(cfg), prefix, time.Minute)
	return stores{store: st, secrets: sec, svc: &integration.Service{Store: st, Secrets: sec, Catalog: connector.NewCatalog()}}
}

// TestTwoProcessesOnMotoRefreshOnce runs two processes (this test binary
// again, as TestTokensProcess) against one moto table and secret, 25
// callers each, all needing a token about to expire: the platform sees
// one refresh.
func TestTwoProcessesOnMotoRefreshOnce(t *testing.T) {
	endpoint := awstest.Moto(t)
	ctx := awstest.Context(t)
	table := fmt.Sprintf("joinery-tokens-%d", time.Now().UnixNano())
	if err := dynamostore.CreateTable(ctx, dynamodb.NewFromConfig(awstest.Config(endpoint)), table); err != nil {
		t.Fatal(err)
	}
	prefix := fmt.Sprintf("joinery-tokens-%d/", time.Now().UnixNano())
	c := newClock()
	p := startPlatform(t, "jira", c)
	s := awsStores(endpoint, table, prefix)
	it := connect(t, s, "jira", p.minted(c, 2*time.Minute))

	var wg sync.WaitGroup
	outs := make([]string, 2)
	for i := range outs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(os.Args[0], "-test.run=^TestTokensProcess$", "-test.count=1")
			cmd.Env = append(os.Environ(), "JOINERY_TOKENS_PROCESS="+strings.Join([]string{endpoint, table, prefix,
				it.AccountID, it.ID, p.URL(), c.Now().Format(time.RFC3339Nano)}, "|"))
			out, err := cmd.CombinedOutput()
			outs[i] = string(out)
			if err != nil {
				t.Errorf("process %d: %v\n%s", i, err, out)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for i, out := range outs {
		if !strings.Contains(out, "callers ok: 25") {
			t.Fatalf("process %d:\n%s", i, out)
		}
	}
	// Every refresh answered counts (a second one with the replaced
	// token would be, within Atlassian's reuse window); a refused one
	// would have failed a caller.
	if n := p.Refreshes(); n != 1 {
		t.Fatalf("%d refreshes by two processes, want exactly 1", n)
	}
	_, vals, err := s.secrets.CurrentSecret(ctx, secretRef(it))
	if err != nil || !p.Valid(vals["access_token"]) || !p.Valid(vals["refresh_token"]) {
		t.Fatalf("stored after: %v", err)
	}
}

// TestTokensProcess is one process of TestTwoProcessesOnMotoRefreshOnce;
// it does nothing run on its own.
func TestTokensProcess(t *testing.T) {
	env := os.Getenv("JOINERY_TOKENS_PROCESS")
	if env == "" {
		return // not a skip: make test counts skips as missing dependencies
	}
	f := strings.Split(env, "|")
	endpoint, table, prefix, account, id, origin := f[0], f[1], f[2], f[3], f[4], f[5]
	now, err := time.Parse(time.RFC3339Nano, f[6])
	if err != nil {
		t.Fatal(err)
	}
	s := awsStores(endpoint, table, prefix)
	it, err := s.store.GetIntegration(context.Background(), account, id)
	if err != nil {
		t.Fatal(err)
	}
	o, _ := url.Parse(origin)
	hc := &http.Client{Timeout: 10 * time.Second, Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
		r = r.Clone(r.Context())
		r.Host = r.URL.Host
		r.URL.Scheme, r.URL.Host = o.Scheme, o.Host
		return http.DefaultTransport.RoundTrip(r)
	})}
	tok := &Tokens{Leases: s.store, Secrets: s.secrets, Apps: apps{}, Catalog: connector.NewCatalog(), HTTP: hc,
		Integrations: s.svc, Events: &events{}, Now: func() time.Time { return now },
		Wait: func(ctx context.Context, _ time.Duration) error { return (&Tokens{}).wait(ctx, 20*time.Millisecond) }}
	got, errs := callAll(t, 25, func(int) *Tokens { return tok }, it)
	ok := 0
	for i, err := range errs {
		if err != nil {
			t.Errorf("caller %d: %v", i, err)
			continue
		}
		if got[i] != "" {
			ok++
		}
	}
	fmt.Println("callers ok: " + strconv.Itoa(ok))
}
