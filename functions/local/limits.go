package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Each function's timeout, read from template.yaml so the runner ends an
// invocation where Lambda would, and a slow path fails its tests here
// rather than in AWS.
type timeouts struct {
	fallback time.Duration            // Globals.Function.Timeout
	byRoute  map[string]time.Duration // "GET /v1/integrations/{id}" → its function's
	byID     map[string]time.Duration // logical id → its timeout
}

// lambdaDefaultTimeout is Lambda's own default, for a template that sets
// none.
const lambdaDefaultTimeout = 3 * time.Second

type templateFile struct {
	Globals struct {
		Function struct {
			Timeout int `yaml:"Timeout"`
		} `yaml:"Function"`
	} `yaml:"Globals"`
	Resources map[string]struct {
		Type       string `yaml:"Type"`
		Properties struct {
			Timeout int `yaml:"Timeout"`
			Events  map[string]struct {
				Type       string `yaml:"Type"`
				Properties struct {
					Method string `yaml:"Method"`
					Path   string `yaml:"Path"`
				} `yaml:"Properties"`
			} `yaml:"Events"`
		} `yaml:"Properties"`
	} `yaml:"Resources"`
}

// loadTimeouts reads the functions' timeouts from a SAM template.
func loadTimeouts(path string) (timeouts, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return timeouts{}, fmt.Errorf("read the template for the functions' timeouts: %w", err)
	}
	var tpl templateFile
	if err := yaml.Unmarshal(b, &tpl); err != nil {
		return timeouts{}, fmt.Errorf("%s: %w", path, err)
	}
	t := timeouts{fallback: lambdaDefaultTimeout, byRoute: map[string]time.Duration{}, byID: map[string]time.Duration{}}
	if g := tpl.Globals.Function.Timeout; g > 0 {
		t.fallback = time.Duration(g) * time.Second
	}
	for id, res := range tpl.Resources {
		if res.Type != "AWS::Serverless::Function" {
			continue
		}
		d := t.fallback
		if res.Properties.Timeout > 0 {
			d = time.Duration(res.Properties.Timeout) * time.Second
		}
		t.byID[id] = d
		for _, ev := range res.Properties.Events {
			if ev.Type == "HttpApi" && ev.Properties.Method != "" && ev.Properties.Path != "" {
				t.byRoute[strings.ToUpper(ev.Properties.Method)+" "+ev.Properties.Path] = d
			}
		}
	}
	return t, nil
}

// route is the timeout of the function behind an API route; a route the
// template does not name gets the global timeout.
func (t timeouts) route(key string) time.Duration {
	if d, ok := t.byRoute[key]; ok {
		return d
	}
	return t.fallback
}

// function is the timeout of a function by logical id.
func (t timeouts) function(id string) time.Duration {
	if d, ok := t.byID[id]; ok {
		return d
	}
	return t.fallback
}

// findTemplate is the template.yaml of the source tree the runner is
// started in (the current directory or one above it).
func findTemplate() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, "template.yaml")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("template.yaml not found here or above (set JOINERY_TEMPLATE): the runner reads the functions' timeouts from it")
		}
		dir = parent
	}
}

// errTimedOut is an invocation that outlived its function's timeout.
var errTimedOut = errors.New("the function timed out")

// within runs f as Lambda runs an invocation of a function with timeout
// d: f's context ends at the deadline, and the invocation ends then
// whatever f does. (Lambda stops the sandbox; here f's goroutine is left
// to notice its context, and its result is dropped.)
func within[T any](ctx context.Context, d time.Duration, f func(context.Context) (T, error)) (T, error) {
	if d <= 0 {
		return f(ctx)
	}
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := f(ctx)
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return zero, fmt.Errorf("%w after %s", errTimedOut, d)
		}
		return zero, ctx.Err()
	}
}
