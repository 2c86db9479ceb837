// Command benchtable prints, for every Lambda, the size of its linux/arm64
// bootstrap and its cold start: the time from process start until it first
// asks the Runtime API for an invocation (a host-architecture build, run
// against the local Runtime API emulator).
//
//	benchtable BUILD_DIR LogicalId:dir ...
package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/joinery/joinery/functions/internal/runtimeapi"
)

const starts = 15

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: benchtable BUILD_DIR LogicalId:dir ...")
		os.Exit(2)
	}
	tmp, err := os.MkdirTemp("", "joinery-bench")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(tmp)
	fmt.Printf("%-28s %12s %14s %14s\n", "function", "arm64 size", "cold start p50", "cold start p90")
	for _, spec := range os.Args[2:] {
		id, dir, _ := strings.Cut(spec, ":")
		fi, err := os.Stat(filepath.Join(os.Args[1], dir, "bootstrap"))
		if err != nil {
			fail(fmt.Errorf("%s: run make build first: %w", id, err))
		}
		bin := filepath.Join(tmp, dir)
		if out, err := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags", "-s -w", "-o", bin, "./functions/"+dir).CombinedOutput(); err != nil {
			fail(fmt.Errorf("%s: %v\n%s", id, err, out))
		}
		var d []time.Duration
		for range starts {
			t, err := coldStart(bin)
			if err != nil {
				fail(fmt.Errorf("%s: %w", id, err))
			}
			d = append(d, t)
		}
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		fmt.Printf("%-28s %8.1f MiB %11.1f ms %11.1f ms\n", id, float64(fi.Size())/(1<<20), ms(d[len(d)/2]), ms(d[len(d)*9/10]))
	}
}

func coldStart(bin string) (time.Duration, error) {
	api, err := runtimeapi.Start()
	if err != nil {
		return 0, err
	}
	defer api.Close()
	cmd := exec.Command(bin)
	cmd.Env = []string{"AWS_LAMBDA_RUNTIME_API=" + api.Addr, "AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=bench",
		"AWS_SECRET_ACCESS_KEY=bench", "JOINERY_TABLE=bench", "JOINERY_SECRET_PREFIX=bench/", "HOME=" + os.TempDir(),
		// As template.yaml gives the sync functions.
		"JOINERY_QUEUE_URL=https://sqs.us-east-1.amazonaws.com/000000000000/bench", "JOINERY_SYNC_MAX_RECEIVES=5"}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	select {
	case <-api.Ready():
		return api.FirstNext().Sub(start), nil
	case <-time.After(10 * time.Second):
		return 0, fmt.Errorf("no /next within 10s")
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func fail(err error) {
	fmt.Fprintln(os.Stderr, "benchtable:", err)
	os.Exit(1)
}
