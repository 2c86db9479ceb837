// Package wptest starts a real WordPress for tests with wp.sh beside it.
package wptest

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// Env is what wp.sh start writes: URLs, users and Application Passwords.
type Env map[string]string

var (
	once     sync.Once
	env      Env
	startErr error
	dir      string
)

func script() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "wp.sh")
}

// startTimeout bounds wp.sh start (install, seed, serve): a WordPress that
// cannot start fails its tests instead of hanging them.
const startTimeout = 5 * time.Minute

// Start starts WordPress once per test binary, in a directory named after
// it, and returns its Env. Packages that call Start must call Main from
// TestMain so it is stopped. Without root or Debian's packages the test is
// skipped, loudly — and fails under CI=true.
func Start(t testing.TB, name string) Env {
	t.Helper()
	once.Do(func() {
		// A fresh directory each run: state left by a killed earlier run (a
		// stale socket, a pid now used by another process) can't interfere.
		d, err := os.MkdirTemp("", "joinery-wp-"+name+"-")
		if err != nil {
			startErr = err
			return
		}
		dir = d
		ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, "bash", script(), "start", "--dir", dir)
		cmd.WaitDelay = 5 * time.Second
		out, err := cmd.Output()
		if ctx.Err() != nil {
			err = fmt.Errorf("did not start within %s: %w", startTimeout, err)
		}
		if err != nil {
			var ee *exec.ExitError
			if ok := asExit(err, &ee); ok {
				err = fmt.Errorf("%v: %s", err, ee.Stderr)
			}
			startErr = err
			return
		}
		env = Env{}
		sc := bufio.NewScanner(strings.NewReader(string(out)))
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), "="); ok {
				env[k] = v
			}
		}
	})
	if startErr != nil {
		msg := fmt.Sprintf("SKIPPED (real dependency missing): WordPress (%s start): %v", script(), startErr)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return env
}

func asExit(err error, ee **exec.ExitError) bool {
	e, ok := err.(*exec.ExitError)
	*ee = e
	return ok
}

// PHP runs PHP code inside WordPress, e.g. to change posts behind the API.
func PHP(t testing.TB, code string) string {
	t.Helper()
	out, err := RunPHP(code)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// RunPHP is PHP for code that can't fail the test itself, such as an
// HTTP hook running on another goroutine: it returns the failure instead.
// WordPress must have been started.
func RunPHP(code string) (string, error) {
	if dir == "" {
		return "", fmt.Errorf("php: WordPress is not started")
	}
	f, err := os.CreateTemp("", "joinery-wp-snippet-*.php")
	if err != nil {
		return "", err
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString("<?php\n" + code); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	out, err := exec.Command("bash", script(), "php", f.Name(), "--dir", dir).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("php: %v\n%s", err, out)
	}
	return string(out), nil
}

// Main runs the tests, then stops WordPress if a test started it.
func Main(m *testing.M) int {
	code := m.Run()
	if dir != "" {
		_ = exec.Command("bash", script(), "reset", "--dir", dir).Run()
	}
	return code
}
