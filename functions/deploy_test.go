package functions_test

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/joinery/joinery/functions/internal/runtimeapi"
	"github.com/joinery/joinery/pkg/awstest"
	"github.com/joinery/joinery/pkg/dynamostore"
	"gopkg.in/yaml.v3"
)

func TestMain(m *testing.M) { awstest.Main(m) }

type function struct {
	Type     string            `yaml:"Type"`
	Metadata map[string]string `yaml:"Metadata"`
	Props    struct {
		CodeURI       string   `yaml:"CodeUri"`
		Runtime       string   `yaml:"Runtime"`
		Handler       string   `yaml:"Handler"`
		Architectures []string `yaml:"Architectures"`
		Environment   struct {
			Variables map[string]yaml.Node `yaml:"Variables"`
		} `yaml:"Environment"`
	} `yaml:"Properties"`
}

type template struct {
	Globals struct {
		Function struct {
			CodeURI       string   `yaml:"CodeUri"`
			Runtime       string   `yaml:"Runtime"`
			Handler       string   `yaml:"Handler"`
			Architectures []string `yaml:"Architectures"`
		} `yaml:"Function"`
	} `yaml:"Globals"`
	Resources map[string]function `yaml:"Resources"`
}

func loadTemplate(t *testing.T) template {
	t.Helper()
	b, err := os.ReadFile("../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var tpl template
	if err := yaml.Unmarshal(b, &tpl); err != nil {
		t.Fatal(err)
	}
	return tpl
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// functionDir asks the Makefile which directory builds a logical id.
func functionDir(t *testing.T, id string) string {
	t.Helper()
	out, err := exec.Command("make", "-s", "-n", "-C", "..", "build-"+id, "ARTIFACTS_DIR=/x").CombinedOutput()
	if err != nil {
		t.Fatalf("no build-%s target: %v\n%s", id, err, out)
	}
	m := regexp.MustCompile(`\./functions/([a-z0-9-]+)`).FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("build-%s does not build a ./functions/ package:\n%s", id, out)
	}
	return m[1]
}

var getenv = regexp.MustCompile(`os\.(?:Getenv|LookupEnv)\("([A-Z0-9_]+)"\)`)

// Every function in template.yaml has a main package, a build target that
// leaves an arm64 bootstrap, and exactly the environment its main.go reads.
func TestTemplateWiring(t *testing.T) {
	tpl := loadTemplate(t)
	g := tpl.Globals.Function
	var ids []string
	for id, r := range tpl.Resources {
		if r.Type == "AWS::Serverless::Function" {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	if len(ids) == 0 {
		t.Fatal("no functions in template.yaml")
	}
	for _, id := range ids {
		t.Run(id, func(t *testing.T) {
			r := tpl.Resources[id]
			if got := or(r.Props.Runtime, g.Runtime); got != "provided.al2023" {
				t.Errorf("Runtime %q", got)
			}
			if got := or(r.Props.Handler, g.Handler); got != "bootstrap" {
				t.Errorf("Handler %q", got)
			}
			arch := r.Props.Architectures
			if arch == nil {
				arch = g.Architectures
			}
			if !slices.Equal(arch, []string{"arm64"}) {
				t.Errorf("Architectures %v", arch)
			}
			if or(r.Props.CodeURI, g.CodeURI) != "." || r.Metadata["BuildMethod"] != "makefile" {
				t.Errorf("CodeUri %q, BuildMethod %q: want . and makefile", or(r.Props.CodeURI, g.CodeURI), r.Metadata["BuildMethod"])
			}
			dir := functionDir(t, id)
			src, err := os.ReadFile(filepath.Join(dir, "main.go"))
			if err != nil || !bytes.Contains(src, []byte("package main")) || !bytes.Contains(src, []byte("lambda.Start(")) {
				t.Fatalf("functions/%s/main.go is not a Lambda main package: %v", dir, err)
			}
			var read, given []string
			for _, m := range getenv.FindAllStringSubmatch(string(src), -1) {
				read = append(read, m[1])
			}
			for k := range r.Props.Environment.Variables {
				given = append(given, k)
			}
			sort.Strings(read)
			sort.Strings(given)
			if !slices.Equal(slices.Compact(read), given) {
				t.Errorf("template gives %v, main.go reads %v", given, read)
			}
			if slices.Contains(given, "JOINERY_ALLOW_PRIVATE_NETWORKS") {
				t.Error("JOINERY_ALLOW_PRIVATE_NETWORKS must never be set in AWS")
			}
			if slices.Contains(given, "JOINERY_PLATFORM_ORIGINS") || slices.Contains(read, "JOINERY_PLATFORM_ORIGINS") {
				t.Error("JOINERY_PLATFORM_ORIGINS is the local runner's alone: no Lambda may read it")
			}
			out := t.TempDir()
			if b, err := exec.Command("make", "-s", "-C", "..", "build-"+id, "ARTIFACTS_DIR="+out).CombinedOutput(); err != nil {
				t.Fatalf("make build-%s: %v\n%s", id, err, b)
			}
			f, err := elf.Open(filepath.Join(out, "bootstrap"))
			if err != nil {
				t.Fatalf("bootstrap: %v", err)
			}
			defer f.Close()
			if f.Machine != elf.EM_AARCH64 {
				t.Errorf("bootstrap is for %v, want arm64", f.Machine)
			}
		})
	}
}

// JOINERY_PLATFORM_ORIGINS sends a platform's requests, tokens included,
// to another server: only the local runner may read it. No source file a
// Lambda is built from names it.
func TestPlatformOriginsLocalOnly(t *testing.T) {
	dirs, err := filepath.Glob("*/main.go")
	if err != nil {
		t.Fatal(err)
	}
	// This module's packages only: the dependencies' are not ours to check.
	args := []string{"list", "-deps", "-f", "{{if and .Module .Module.Main}}{{.Dir}}|{{join .GoFiles \",\"}}{{end}}"}
	for _, d := range dirs {
		if dir := filepath.Dir(d); dir != "local" {
			args = append(args, "./"+dir)
		}
	}
	out, err := exec.Command("go", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	files := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		dir, names, _ := strings.Cut(line, "|")
		if names == "" {
			continue
		}
		for _, name := range strings.Split(names, ",") {
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			files++
			if bytes.Contains(b, []byte("JOINERY_PLATFORM_ORIGINS")) {
				t.Errorf("%s/%s names JOINERY_PLATFORM_ORIGINS, and a Lambda is built from it: only functions/local may read it", dir, name)
			}
		}
	}
	if files == 0 {
		t.Fatal("no source file of the Lambdas found")
	}
}

func TestCfnLint(t *testing.T) {
	if _, err := exec.LookPath("cfn-lint"); err != nil {
		msg := "SKIPPED (real dependency missing): cfn-lint is not installed (pip install cfn-lint)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	out, err := exec.Command("cfn-lint", "../template.yaml").CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("cfn-lint: %v\n%s", err, out)
	}
}

// A real bootstrap, built for this machine, starts against the Runtime API
// emulator and answers the sample event through DynamoDB (moto): the
// entry point's wiring works end to end.
func TestBootstrapSmoke(t *testing.T) {
	endpoint := awstest.Moto(t)
	table := fmt.Sprintf("joinery-smoke-%d", time.Now().UnixNano())
	if err := dynamostore.CreateTable(context.Background(), dynamodb.NewFromConfig(awstest.Config(endpoint)), table); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "bootstrap")
	if out, err := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", bin, "./integrations-get").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	api, err := runtimeapi.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer api.Close()
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "AWS_LAMBDA_RUNTIME_API="+api.Addr, "AWS_ENDPOINT_URL="+endpoint, "AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "JOINERY_TABLE="+table)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	event, err := os.ReadFile("../events/integrations-get.json")
	if err != nil {
		t.Fatal(err)
	}
	res, ok := api.Invoke(event, 20*time.Second)
	if !ok || res.Error {
		t.Fatalf("invocation: ok=%v error=%v body=%s", ok, res.Error, res.Body)
	}
	var resp struct {
		StatusCode int    `json:"statusCode"`
		Body       string `json:"body"`
	}
	if err := json.Unmarshal(res.Body, &resp); err != nil || resp.StatusCode != 404 || !strings.Contains(resp.Body, "not_found") {
		t.Fatalf("response %s (%v); want a 404 for the sample's missing integration", res.Body, err)
	}
}
