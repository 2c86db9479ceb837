package functions_test

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestNoBuildOutputTracked fails when the repository tracks a binary
// (ELF, Mach-O, PE) or a build directory's file: build outputs are made,
// never committed.
func TestNoBuildOutputTracked(t *testing.T) {
	out, err := exec.Command("git", "-C", "..", "ls-files", "-z").Output()
	if err != nil {
		t.Skipf("not a git checkout (%v): nothing to check", err)
	}
	magics := [][]byte{{0x7f, 'E', 'L', 'F'}, {0xcf, 0xfa, 0xed, 0xfe}, {0xfe, 0xed, 0xfa, 0xcf}, {'M', 'Z'}}
	for _, f := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		for _, dir := range []string{".build/", ".aws-sam/", ".bin/", ".test-logs/"} {
			if strings.HasPrefix(f, dir) {
				t.Errorf("%s is a build output and is tracked", f)
			}
		}
		if f == "bootstrap" || strings.HasSuffix(f, "/bootstrap") {
			t.Errorf("%s is a Lambda binary and is tracked", f)
		}
		head := make([]byte, 4)
		fh, err := os.Open("../" + f)
		if err != nil {
			continue // deleted in the work tree
		}
		n, _ := fh.Read(head)
		fh.Close()
		for _, m := range magics {
			if n >= len(m) && bytes.Equal(head[:len(m)], m) {
				t.Errorf("%s is an executable binary and is tracked", f)
			}
		}
	}
}

// TestBuildOutputsIgnored fails when a build output would show up as a
// new file to commit.
func TestBuildOutputsIgnored(t *testing.T) {
	if _, err := exec.Command("git", "-C", "..", "rev-parse", "--git-dir").Output(); err != nil {
		t.Skipf("not a git checkout (%v): nothing to check", err)
	}
	paths := []string{"bootstrap", ".build/integrations-list/bootstrap", ".aws-sam/build/template.yaml", ".bin/staticcheck",
		".test-logs/test.log", "local", "functions/local/local", "integrations-list", "sync-worker", "sitekeys-create",
		"functions/sync-worker/bootstrap", "functions.test", "oauth-callback", "integrations-oauth-authorize", "webhook-wordpress", "webhook-worker"}
	for _, p := range paths {
		if err := exec.Command("git", "-C", "..", "check-ignore", "-q", "--no-index", p).Run(); err != nil {
			t.Errorf("%s is not ignored by .gitignore", p)
		}
	}
}
