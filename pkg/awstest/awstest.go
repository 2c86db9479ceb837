// Package awstest starts moto_server for tests of the AWS adapters.
package awstest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// moto's own server is multi-threaded and its DynamoDB takes no lock, so
// two conditional writes can both win there; a single-threaded server
// serialises requests the way DynamoDB's conditions do.
//
// moto also backs up a whole table for every item of a TransactWriteItems
// call, to roll back a cancelled one: a transaction costs time in
// proportion to the table, and a sync that writes thousands of records
// slows to a crawl. The script backs up only the items the transaction
// touches and restores those; what DynamoDB answers is unchanged.
//
// moto's Query sorts every item of the table, whatever the partition or
// index asked for, before it picks the partition's: a query costs time in
// proportion to the table, and paging through 100,000 records takes
// hours. The script hands a query only the items of its partition (of the
// table or of the index), and of those the span its key condition, start
// key and limit can reach; what DynamoDB answers is unchanged.
const motoScript = `import bisect, copy, sys
import moto.dynamodb.models as dm
import moto.dynamodb.models.table as dt
from werkzeug.serving import run_simple
from moto.server import DomainDispatcherApplication, create_backend_app

class _Copy:
    @staticmethod
    def deepcopy(x, *a, **k):
        if isinstance(x, dm.Table):
            return x
        return copy.deepcopy(x, *a, **k)

_transact = dm.DynamoDBBackend.transact_write_items

def _touched(self, items):
    saved = []
    for it in items:
        kind, op = next(iter(it.items()))
        table = self.get_table(op["TableName"])
        if kind == "Put":
            key = {table.hash_key_attr: op["Item"][table.hash_key_attr]}
            if table.range_key_attr is not None:
                key[table.range_key_attr] = op["Item"][table.range_key_attr]
        else:
            key = op["Key"]
        cur = self.get_item(op["TableName"], key)
        saved.append((op["TableName"], key, cur.to_json()["Attributes"] if cur else None))
    return saved

def transact_write_items(self, transact_items):
    try:
        saved = _touched(self, transact_items)
    except Exception:
        return _transact(self, transact_items)
    dm.copy = _Copy
    try:
        return _transact(self, transact_items)
    except Exception:
        for name, key, attrs in reversed(saved):
            if attrs is None:
                if self.get_item(name, key) is not None:
                    self.delete_item(name, key)
            else:
                self.put_item(name, copy.deepcopy(attrs))
        raise
    finally:
        dm.copy = copy

dm.DynamoDBBackend.transact_write_items = transact_write_items

_query = dt.Table.query

def _arg(args, kwargs, i, name, default=None):
    return args[i] if len(args) > i else kwargs.get(name, default)

def _cut(ks, firsts, args, kwargs, start):
    # The span of ks (sorted; firsts their first parts, which the key
    # condition compares) that the query can reach: its key condition,
    # after its start key, and as far as its limit (and one more, which
    # tells moto there is more).
    lo, hi = 0, len(ks)
    cmp, objs = _arg(args, kwargs, 0, "range_comparison"), _arg(args, kwargs, 1, "range_objs") or []
    vals = [getattr(o, "value", None) for o in objs]
    if vals and all(isinstance(v, str) for v in vals):
        c = (cmp or "").upper()
        if c == "BEGINS_WITH":
            lo, hi = bisect.bisect_left(firsts, vals[0]), bisect.bisect_left(firsts, vals[0] + "\U0010ffff")
        elif c == "BETWEEN" and len(vals) == 2:
            lo, hi = bisect.bisect_left(firsts, vals[0]), bisect.bisect_right(firsts, vals[1])
        elif c in ("=", "EQ"):
            lo, hi = bisect.bisect_left(firsts, vals[0]), bisect.bisect_right(firsts, vals[0])
        elif c in (">", "GT"):
            lo = bisect.bisect_right(firsts, vals[0])
        elif c in (">=", "GE"):
            lo = bisect.bisect_left(firsts, vals[0])
        elif c in ("<", "LT"):
            hi = bisect.bisect_left(firsts, vals[0])
        elif c in ("<=", "LE"):
            hi = bisect.bisect_right(firsts, vals[0])
    forward = _arg(args, kwargs, 4, "scan_index_forward", True) is not False
    if start is not None:
        if forward:
            lo = max(lo, bisect.bisect_left(ks, start))
        else:
            hi = min(hi, bisect.bisect_right(ks, start))
    limit = _arg(args, kwargs, 2, "limit")
    filtered = any(k not in ("hash_key_conditions", "range_key_conditions", "index_name", "consistent_read",
                             "filter_expression", "scan_index_forward", "exclusive_start_key", "limit",
                             "range_comparison", "range_objs", "projection_expressions") for k in kwargs)
    if isinstance(limit, int) and limit > 0 and not filtered:
        if forward:
            hi = min(hi, lo + limit + 2)
        else:
            lo = max(lo, hi - limit - 2)
    # And the next item, even one the key condition leaves out: at the
    # limit, moto answers a last key only if it meets one more item.
    if forward:
        hi = min(len(ks), hi + 1)
    else:
        lo = max(0, lo - 1)
    return lo, max(lo, hi)

def _window(self, items, args, kwargs):
    # A partition sorted by its string sort key.
    items.sort(key=lambda it: it.range_key.value)
    ks = [it.range_key.value for it in items]
    start = _arg(args, kwargs, 3, "exclusive_start_key")
    sk = (start or {}).get(self.range_key_attr)
    sk = sk["S"] if isinstance(sk, dict) and isinstance(sk.get("S"), str) else None
    lo, hi = _cut(ks, ks, args, kwargs, sk)
    return items[lo:hi]

def _strs(it, names):
    out = []
    for n in names:
        v = it.attrs.get(n)
        if v is None or v.type != "S":
            return None
        out.append(v.value)
    return tuple(out)

def _index_window(self, args, kwargs):
    # An index query's items: those of its partition (the index hash key
    # the query names), and of those, when the index and the table have
    # string keys, the span the query can reach in the order moto sorts
    # them (index sort key, then the table's keys). None: the query is
    # one this does not narrow (moto answers it from the whole table).
    conds = kwargs.get("hash_key_conditions")
    index = {i.name: i for i in self.all_indexes()}.get(_arg(args, kwargs, 6, "index_name"))
    if index is None or not conds:
        return None
    hashes = [k["AttributeName"] for k in index.schema if k["KeyType"] == "HASH"]
    ranges = [k["AttributeName"] for k in index.schema if k["KeyType"] == "RANGE"]
    want = dict(conds)
    if sorted(want) != sorted(hashes):
        return None
    items = []
    for part in self.items.values():
        for it in part.values():
            a = it.attrs
            if all(a.get(h) is not None and a.get(h) == v for h, v in want.items()):
                items.append(it)
    if len(ranges) != 1 or len(kwargs.get("range_key_conditions") or []) > 1 or self.range_key_attr is None:
        return items
    names = [ranges[0], self.hash_key_attr, self.range_key_attr]
    keyed = []
    for it in items:
        if it.attrs.get(ranges[0]) is None:
            continue  # not in the index
        k = _strs(it, names)
        if k is None:
            return items
        keyed.append((k, it))
    keyed.sort(key=lambda p: p[0])
    ks = [p[0] for p in keyed]
    start = _arg(args, kwargs, 3, "exclusive_start_key")
    st = None
    if start:
        vals = [start.get(n) for n in names]
        if not all(isinstance(v, dict) and isinstance(v.get("S"), str) for v in vals):
            return items
        st = tuple(v["S"] for v in vals)
    lo, hi = _cut(ks, [k[0] for k in ks], args, kwargs, st)
    return [p[1] for p in keyed[lo:hi]]

def query(self, hash_key, *args, **kwargs):
    if self.range_key_attr is None:
        return _query(self, hash_key, *args, **kwargs)
    if _arg(args, kwargs, 6, "index_name"):
        items = _index_window(self, args, kwargs)
        if items is None:
            items = [it for part in self.items.values() for it in part.values()]
    else:
        part = self.items.get(hash_key)
        items = list(part.values()) if part else []
        if self.range_key_type == "S" and len(kwargs.get("range_key_conditions") or []) <= 1:
            items = _window(self, items, args, kwargs)
    # The query sorts what all_items gives it: unsorted is enough.
    self.all_items = lambda: items
    try:
        return _query(self, hash_key, *args, **kwargs)
    finally:
        del self.all_items

dt.Table.query = query
run_simple("127.0.0.1", int(sys.argv[1]), DomainDispatcherApplication(create_backend_app), threaded=False)
`

var (
	once     sync.Once
	endpoint string
	startErr error
	cmd      *exec.Cmd
)

// Main runs a package's tests and then stops moto if a test started it.
// Packages that call Moto must call Main from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	Stop()
	os.Exit(code)
}

// Stop stops moto if a test started it.
func Stop() {
	if cmd != nil && cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	}
}

// Moto returns the endpoint of a moto server on 127.0.0.1, started once per
// test binary. Without python3 and moto the test is skipped, loudly — and
// fails under CI=true, where nothing may be skipped.
func Moto(t testing.TB) string {
	t.Helper()
	once.Do(start)
	if startErr != nil {
		msg := fmt.Sprintf("SKIPPED (real dependency missing): moto_server: %v", startErr)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		// go test prints a skipped benchmark's message only with -v:
		// say it on stdout, so make bench shows what it did not measure.
		if _, bench := t.(*testing.B); bench {
			fmt.Printf("######## %s: %s measured nothing ########\n", msg, t.Name())
		}
		t.Skip(msg)
	}
	return endpoint
}

func start() {
	if _, err := exec.LookPath("python3"); err != nil {
		startErr = err
		return
	}
	if err := exec.Command("python3", "-c", "import moto.server, werkzeug").Run(); err != nil {
		startErr = fmt.Errorf("python3 cannot import moto.server (pip install 'moto[server]'): %w", err)
		return
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		startErr = err
		return
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	cmd = exec.Command("python3", "-c", motoScript, fmt.Sprint(port))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if os.Getenv("AWSTEST_VERBOSE") != "" {
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	}
	if err := cmd.Start(); err != nil {
		startErr = err
		return
	}
	endpoint = fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(endpoint + "/moto-api/")
		if err == nil {
			_ = resp.Body.Close()
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	startErr = fmt.Errorf("moto did not answer on %s within 30s", endpoint)
}

// Config is an SDK configuration for the moto endpoint with fake credentials.
//
// moto serves one connection at a time, so a connection to it can wait in
// the listen queue while the machine is loaded; the SDK's 30-second dial
// timeout then turns one stall into a minute. Connecting to 127.0.0.1 that
// takes over five seconds is a stall worth retrying.
func Config(endpoint string) aws.Config {
	return aws.Config{
		Region:           "us-east-1",
		Credentials:      credentials.NewStaticCredentialsProvider("test", "test", ""),
		BaseEndpoint:     aws.String(endpoint),
		RetryMaxAttempts: 3,
		HTTPClient: awshttp.NewBuildableClient().WithDialerOptions(func(d *net.Dialer) {
			d.Timeout = 5 * time.Second
		}),
	}
}

// Context returns a context for one test call.
func Context(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}
