package awstest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The script's query, which hands moto only the items a query can reach,
// answers every query as moto's own does: items, count and last key, on
// the table and on an index, forward and back, with every key condition,
// limits and start keys (random queries over random keys).
func TestPatchedQueryAnswersAsMoto(t *testing.T) {
	if err := exec.Command("python3", "-c", "import moto.server, werkzeug").Run(); err != nil {
		msg := "SKIPPED (real dependency missing): python3 cannot import moto.server (pip install 'moto[server]')"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	server := `run_simple("127.0.0.1", int(sys.argv[1]), DomainDispatcherApplication(create_backend_app), threaded=False)`
	if !strings.Contains(motoScript, server) {
		t.Fatal("the script no longer ends by starting its server as this test expects")
	}
	patch := filepath.Join(t.TempDir(), "patch.py")
	if err := os.WriteFile(patch, []byte(strings.Replace(motoScript, server, "", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("python3", "testdata/querycheck.py", patch).CombinedOutput()
	if err != nil || strings.Contains(string(out), "differs") || !strings.Contains(string(out), "checked 800") {
		t.Fatalf("%v:\n%s", err, out)
	}
}
