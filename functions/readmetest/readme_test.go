// Package readmetest runs the README's local commands as a reader would:
// make run, the curl walkthrough, the runner's other modes and moto mode,
// in order, in one shell, against a runner on a free port; and passes its
// CloudFormation snippets through cfn-lint.
//
// The README's commands stay copy-pasteable; the test changes only what
// must differ on a shared machine, and says so here:
//
//   - 127.0.0.1:8080 and localhost:8080 become a free port;
//   - `make run` gets ARGS with that address and a temporary data dir, and
//     runs in the background until the next `make run` or the end;
//   - `go run ./functions/local token` gets --data-dir of that same dir;
//   - moto's port 5000 becomes a free port;
//   - the WordPress site is a real one on 127.0.0.1, started for the test
//     (pkg/connector/wordpress/wptest, seeded): the walkthrough's
//     WP_URL=https://blog.example.com and WP_APP_PASSWORD='abcd efgh …'
//     become its address and its admin's Application Password, and every
//     make run gets JOINERY_ALLOW_PRIVATE_NETWORKS naming it (Joinery
//     calls no loopback address otherwise);
//   - a push's featured image, https://cdn.example.com/cover.png, is a
//     PNG the test serves on 127.0.0.1 (named there too).
//
// A README loop that waits (`until …; do sleep 1; done`) fails the test
// once a command has waited three minutes.
//
// A `# → 201 …` comment after a command says the HTTP status it answers
// (several: `# → 200, or 412`); a curl with none must answer below 400.
// A block preceded by `<!-- not run … -->` is not run: those that need AWS
// say "not run in CI".
package readmetest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/connector/wordpress/wptest"
)

// runSections are the README's sections whose shell blocks are run, in
// README order. Every one must exist: a renamed section fails the test
// rather than silently running nothing.
var runSections = []string{
	"The two commands",
	"A walk through the API",
	"The OpenAPI document",
	"Unified models and their schemas",
	"Connecting WordPress",
	"Syncing",
	"Platforms: the catalog and app credentials",
	"Connecting OAuth platforms",
	"Who may call: roles, service access and CORS",
	"Cursors",
}

// wordPressSections are the run sections that need a WordPress: without
// one (SKIPPED, loudly) the others still run.
var wordPressSections = []string{"Connecting WordPress", "Syncing"}

type block struct {
	section string // the ## heading it is under
	lang    string
	marker  string // the HTML comment on the line before the fence, if any
	line    int    // 1-based line of the opening fence
	text    string
}

func readme(t *testing.T) (string, []block) {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		blocks          []block
		section, prev   string
		cur             *block
		body            strings.Builder
		n               int
		fence           = regexp.MustCompile("^```([a-z]*)\\s*$")
		sc              = bufio.NewScanner(f)
		prevNonBlankRaw string
	)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		n++
		line := sc.Text()
		if cur != nil {
			if strings.TrimSpace(line) == "```" {
				cur.text = body.String()
				blocks = append(blocks, *cur)
				cur = nil
				body.Reset()
			} else {
				body.WriteString(line + "\n")
			}
			continue
		}
		if strings.HasPrefix(line, "## ") {
			section = strings.TrimPrefix(line, "## ")
		}
		if m := fence.FindStringSubmatch(strings.TrimSpace(line)); m != nil {
			cur = &block{section: section, lang: m[1], line: n}
			if strings.HasPrefix(prev, "<!--") {
				cur.marker = prev
			}
		}
		if strings.TrimSpace(line) != "" {
			prevNonBlankRaw = line
		}
		prev = strings.TrimSpace(prevNonBlankRaw)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if cur != nil {
		t.Fatalf("README.md:%d: the code block is never closed", cur.line)
	}
	return root, blocks
}

// need finds a tool, or skips loudly — and fails under CI=true, where
// nothing may be skipped.
func need(t *testing.T, tool string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err == nil {
		return p
	}
	msg := fmt.Sprintf("SKIPPED (real dependency missing): %s: %v", tool, err)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// needsAWS says whether a shell block runs something only AWS can answer.
var needsAWS = regexp.MustCompile(`(?m)(^|[\s$(|;&])(aws|sam)\s|amazoncognito\.com|amazonaws\.com`)

// TestREADMEMarksEveryAWSCommand checks every shell block of the README:
// one that needs AWS is marked "not run in CI", and a marked one says why.
func TestREADMEMarksEveryAWSCommand(t *testing.T) {
	_, blocks := readme(t)
	for _, b := range blocks {
		if b.lang != "sh" {
			continue
		}
		if needsAWS.MatchString(b.text) && !strings.Contains(b.marker, "not run in CI") {
			t.Errorf("README.md:%d (%s): this block needs AWS; put <!-- not run in CI: needs AWS --> on the line before it", b.line, b.section)
		}
		if strings.HasPrefix(b.marker, "<!-- not run") && !strings.Contains(b.marker, ":") {
			t.Errorf("README.md:%d: %q says a block is not run without saying why", b.line, b.marker)
		}
	}
}

// TestREADMECloudFormation passes every CloudFormation snippet of the
// README through cfn-lint.
func TestREADMECloudFormation(t *testing.T) {
	t.Parallel() // cfn-lint takes a while to start: beside the commands
	_, blocks := readme(t)
	dir := t.TempDir()
	var files []string
	for _, b := range blocks {
		if (b.lang == "yaml" || b.lang == "yml" || b.lang == "json") && strings.Contains(b.text, "AWSTemplateFormatVersion") {
			p := filepath.Join(dir, fmt.Sprintf("readme-line-%d.%s", b.line, b.lang))
			if err := os.WriteFile(p, []byte(b.text), 0o600); err != nil {
				t.Fatal(err)
			}
			files = append(files, p)
		}
	}
	if len(files) < 2 {
		t.Fatalf("found %d CloudFormation snippets in README.md, want the sign-in and service-access ones", len(files))
	}
	lint := need(t, "cfn-lint")
	out, err := exec.Command(lint, files...).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("cfn-lint on the README's CloudFormation snippets (named by their line in README.md): %v\n%s", err, out)
	}
}

var (
	statusRe  = regexp.MustCompile(`(?:→|\bor)\s+([1-5][0-9][0-9])\b`)
	makeRunRe = regexp.MustCompile(`^((?:[A-Za-z_][A-Za-z0-9_]*=\S*\s+)*)make run\s*(#.*)?$`)
)

// script turns the run sections' shell blocks into one bash script; subst
// replaces what the README names but the test must give (the WordPress
// site, the image a push uploads).
func script(t *testing.T, blocks []block, skip []string, subst *strings.Replacer) (string, []string) {
	t.Helper()
	var b strings.Builder
	var ran []string
	seen := map[string]bool{}
	for _, bl := range blocks {
		if !contains(runSections, bl.section) {
			continue
		}
		seen[bl.section] = true
		if contains(skip, bl.section) {
			continue
		}
		if bl.lang != "sh" {
			continue
		}
		if strings.HasPrefix(bl.marker, "<!-- not run") {
			t.Logf("README.md:%d not run: %s", bl.line, bl.marker)
			continue
		}
		ran = append(ran, fmt.Sprintf("README.md:%d", bl.line))
		fmt.Fprintf(&b, "\n# ---- README.md:%d (%s)\n", bl.line, bl.section)
		for _, g := range groups(bl.text) {
			fmt.Fprintf(&b, "__expect=%q __since=$SECONDS\n%s\n", strings.Join(g.statuses, " "), subst.Replace(rewrite(g.command)))
		}
	}
	for _, s := range runSections {
		if !seen[s] {
			t.Errorf("README.md has no section %q any more: update runSections", s)
		}
	}
	return b.String(), ran
}

type group struct {
	command  string
	statuses []string
}

// groups splits a block into commands, each with the statuses the `# →`
// comments right after it expect. A command goes on over a line that ends
// in a backslash or a pipe, or while a single-quoted string is open (a JSON
// body over several lines).
func groups(text string) []group {
	var out []group
	var cur []string
	open := false // inside a single-quoted string
	flush := func() {
		if len(cur) > 0 {
			out = append(out, group{command: strings.Join(cur, "\n")})
			cur = nil
		}
	}
	for _, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		if !open {
			switch {
			case trimmed == "":
				flush()
				continue
			case strings.HasPrefix(trimmed, "#"):
				flush()
				if strings.HasPrefix(trimmed, "# →") && len(out) > 0 {
					for _, m := range statusRe.FindAllStringSubmatch(trimmed, -1) {
						out[len(out)-1].statuses = append(out[len(out)-1].statuses, m[1])
					}
				}
				continue
			}
		}
		cur = append(cur, line)
		open = endsInQuote(line, open)
		if !open && !strings.HasSuffix(trimmed, "\\") && !strings.HasSuffix(trimmed, "|") {
			flush()
		}
	}
	flush()
	return out
}

// endsInQuote says whether a single-quoted string is open at the end of
// line, given whether one was at its start. A comment (a # after a blank,
// outside quotes) ends the line.
func endsInQuote(line string, open bool) bool {
	double := false
	for i, c := range line {
		switch {
		case open:
			open = c != '\''
		case c == '"':
			double = !double
		case double:
		case c == '\'':
			open = true
		case c == '#' && (i == 0 || line[i-1] == ' ' || line[i-1] == '\t'):
			return false
		}
	}
	return open
}

// rewrite makes a command use the test's port, data dir and moto.
func rewrite(cmd string) string {
	lines := strings.Split(cmd, "\n")
	for i, l := range lines {
		if m := makeRunRe.FindStringSubmatch(strings.TrimSpace(l)); m != nil {
			lines[i] = m[1] + "__serve"
		}
	}
	cmd = strings.Join(lines, "\n")
	r := strings.NewReplacer(
		"127.0.0.1:8080", "127.0.0.1:$README_PORT",
		"localhost:8080", "127.0.0.1:$README_PORT",
		"go run ./functions/local token", `go run ./functions/local token --data-dir "$README_DATA"`,
		"moto_server -p 5000", "moto_server -p $README_MOTO_PORT",
		"127.0.0.1:5000", "127.0.0.1:$README_MOTO_PORT",
	)
	return r.Replace(cmd)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// prelude runs make run in the background and checks curl's statuses.
const prelude = `set -euo pipefail
__n=0
__stop() {
  local -; set +x
  if [ -s "$README_LOGS/server.pid" ]; then
    local pg; pg=$(cat "$README_LOGS/server.pid"); : > "$README_LOGS/server.pid"
    kill -TERM -- "-$pg" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 -- "-$pg" 2>/dev/null || return 0; command sleep 0.1; done
    kill -KILL -- "-$pg" 2>/dev/null || true
  fi
}
# make run, in the background, in a process group of its own.
__serve() {
  local -; set +x
  __stop
  __n=$((__n + 1)); local log="$README_LOGS/make-run-$__n.log"
  setsid make run ARGS="--addr 127.0.0.1:$README_PORT --data-dir $README_DATA" > "$log" 2>&1 &
  local pid=$!; echo "$pid" > "$README_LOGS/server.pid"
  # The first make run compiles the runner.
  for _ in $(seq 1 1800); do
    if grep -q 'Joinery is running' "$log"; then return 0; fi
    if ! kill -0 "$pid" 2>/dev/null; then echo "make run stopped:" >&2; cat "$log" >&2; return 1; fi
    command sleep 0.1
  done
  echo "make run did not start in 3 minutes:" >&2; cat "$log" >&2; return 1
}
# curl, failing on a status the README does not show (or any error status
# where it shows none).
curl() {
  local -; set +x
  local out code
  out=$(command curl -sS --max-time 30 -w '\n__status__%{http_code}' "$@") || { echo "curl failed: curl $*" >&2; return 1; }
  code=${out##*__status__}
  printf '%s\n' "${out%__status__*}"
  if [ -n "$__expect" ]; then
    case " $__expect " in *" $code "*) ;; *) echo "HTTP $code, the README says $__expect: curl $*" >&2; return 1 ;; esac
  elif [ "$code" -ge 400 ]; then
    echo "HTTP $code: curl $*" >&2; return 1
  fi
}
# sleep, failing once the command it is part of (a README loop) has waited
# three minutes.
sleep() {
  command sleep "$@"
  if [ $((SECONDS - __since)) -ge 180 ]; then echo "waited 3 minutes for this README loop to end" >&2; return 1; fi
}
__since=$SECONDS
trap __stop EXIT
set -x
`

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestREADMECommands runs the README's local commands in order, in one
// shell, as a reader would paste them.
func TestREADMECommands(t *testing.T) {
	t.Parallel()
	root, blocks := readme(t)
	for _, tool := range []string{"bash", "make", "setsid", "curl", "jq", "go", "moto_server"} {
		need(t, tool)
	}
	var wp wptest.Env
	wpStart := time.Now()
	t.Run("WordPress", func(t *testing.T) { wp = wptest.Start(t, "readme") })
	var skip []string
	if wp == nil {
		if t.Failed() {
			return
		}
		skip = wordPressSections
		t.Logf("SKIPPED (real dependency missing): WordPress; the README's sections %q are not run", skip)
	} else {
		t.Logf("WordPress started in %s", time.Since(wpStart).Round(time.Second))
	}
	coverPNG := pngImage(t)
	cover := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write(coverPNG)
	}))
	defer cover.Close()
	readmeSite := map[string]string{}
	if wp != nil {
		readmeSite = map[string]string{
			"WP_URL=https://blog.example.com":                 "WP_URL=" + wp["WP_URL"],
			"WP_APP_PASSWORD='abcd efgh ijkl mnop qrst uvwx'": "WP_APP_PASSWORD='" + wp["WP_ADMIN_APP_PASSWORD"] + "'",
			"https://cdn.example.com/cover.png":               cover.URL + "/cover.png",
		}
	}
	var pairs []string
	for from, to := range readmeSite {
		pairs = append(pairs, from, to)
	}
	body, ran := script(t, blocks, skip, strings.NewReplacer(pairs...))
	for from, to := range readmeSite {
		if !strings.Contains(body, to) {
			t.Fatalf("the README's commands no longer have %s: update the test's substitutions", from)
		}
	}
	if !strings.Contains(body, "JOINERY_BACKEND=aws __serve") {
		t.Fatal("the README's moto mode (JOINERY_BACKEND=aws make run) is not among the commands run")
	}
	tmp := t.TempDir()
	logs := filepath.Join(tmp, "logs")
	if err := os.MkdirAll(logs, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(tmp, "readme.sh")
	if err := os.WriteFile(path, []byte(prelude+body), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := os.Create(filepath.Join(tmp, "out.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", path)
	cmd.Dir = root
	// A file, not a pipe: moto, started in the background by the README,
	// holds it open after the script ends.
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.Env = append(cleanEnv(),
		"README_PORT="+strconv.Itoa(freePort(t)),
		"README_MOTO_PORT="+strconv.Itoa(freePort(t)),
		"README_DATA="+filepath.Join(tmp, "data"),
		"README_LOGS="+logs,
	)
	if wp != nil {
		cmd.Env = append(cmd.Env, "JOINERY_ALLOW_PRIVATE_NETWORKS="+hostPort(t, wp["WP_URL"])+","+hostPort(t, cover.URL))
	}
	start := time.Now()
	runErr := cmd.Run()
	// Whatever the script left running (moto, a runner): its process groups.
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	if pid, err := os.ReadFile(filepath.Join(logs, "server.pid")); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(pid))); err == nil {
			_ = syscall.Kill(-n, syscall.SIGKILL)
		}
	}
	t.Logf("ran %d blocks (%s) in %s", len(ran), strings.Join(ran, ", "), time.Since(start).Round(time.Second))
	log, _ := os.ReadFile(out.Name())
	if os.Getenv("README_TEST_VERBOSE") != "" {
		t.Logf("the script's output:\n%s", log)
	}
	if runErr != nil {
		runLogs, _ := filepath.Glob(filepath.Join(logs, "make-run-*.log"))
		var tails strings.Builder
		for _, p := range runLogs {
			b, _ := os.ReadFile(p)
			fmt.Fprintf(&tails, "\n--- %s (last 2000 bytes)\n%s", filepath.Base(p), tail(b, 2000))
		}
		t.Fatalf("a README command failed (%v). The script's output:\n%s\n%s", runErr, tail(log, 20000), tails.String())
	}
}

func hostPort(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// pngImage is a small PNG, for WordPress to accept as a featured image.
func pngImage(t *testing.T) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 8, 8))
	for i := range img.Pix {
		img.Pix[i] = 0x80
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// cleanEnv is the environment without AWS settings or Joinery's own, so the
// README's commands run as on a machine that has neither.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "AWS_") && name != "AWS_CA_BUNDLE" || strings.HasPrefix(name, "JOINERY_") ||
			name == "TOKEN" || name == "API" || name == "ID" || name == "SERVICE_TOKEN" ||
			name == "WP_URL" || name == "WP_USER" || name == "WP_APP_PASSWORD" ||
			name == "KEY" || name == "SITE_KEY" || name == "KEY_ID" || name == "RUN_ID" || name == "PUSH_ID" ||
			// make test's own make: make run starts as from a shell.
			name == "MAKEFLAGS" || name == "MFLAGS" || name == "MAKELEVEL" {
			continue
		}
		env = append(env, kv)
	}
	return env
}
