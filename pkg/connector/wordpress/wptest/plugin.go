package wptest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var (
	pluginOnce sync.Once
	pluginErr  error
)

// PluginDir is the Joinery plugin's source directory.
func PluginDir() string {
	return filepath.Join(filepath.Dir(script()), "..", "plugin")
}

// Plugin copies the Joinery plugin into the running WordPress and activates
// it, once per test binary, then lets WordPress's HTTP API call the given
// ports (a test's Joinery) through a test-only must-use plugin: the plugin
// itself only calls the ports wp_safe_remote_post allows. Start must have
// been called.
func Plugin(t testing.TB, ports ...int) {
	t.Helper()
	if dir == "" {
		t.Fatal("wptest.Plugin: WordPress is not started")
	}
	pluginOnce.Do(func() {
		dst := filepath.Join(dir, "site", "wp-content", "plugins", "joinery")
		if pluginErr = os.RemoveAll(dst); pluginErr != nil {
			return
		}
		if pluginErr = copyDir(PluginDir(), dst); pluginErr != nil {
			return
		}
		var out string
		out, pluginErr = RunPHP(`require_once ABSPATH . 'wp-admin/includes/plugin.php';
$r = activate_plugin('joinery/joinery.php');
if (is_wp_error($r)) { echo 'activation failed: ' . $r->get_error_message(); exit(1); }
echo is_plugin_active('joinery/joinery.php') ? 'active' : 'inactive';`)
		if pluginErr == nil && strings.TrimSpace(out) != "active" {
			pluginErr = fmt.Errorf("the plugin is not active: %s", out)
		}
	})
	if pluginErr != nil {
		t.Fatalf("install the Joinery plugin: %v", pluginErr)
	}
	AllowPorts(t, ports...)
}

// AllowPorts replaces the ports the test-only must-use plugin allows
// wp_safe_remote_post to call.
func AllowPorts(t testing.TB, ports ...int) {
	t.Helper()
	list := make([]string, len(ports))
	for i, p := range ports {
		list[i] = fmt.Sprint(p)
	}
	code := "<?php\n// Test only: lets WordPress's HTTP API call the test's Joinery on its port.\n" +
		"add_filter('http_allowed_safe_ports', function ($ports) { return array_merge((array) $ports, array(" + strings.Join(list, ", ") + ")); });\n"
	MustUse(t, "joinery-test-ports.php", code)
}

// MustUse writes (or, with empty code, removes) a must-use plugin: code
// every request of the running WordPress loads.
func MustUse(t testing.TB, name, code string) {
	t.Helper()
	mu := filepath.Join(dir, "site", "wp-content", "mu-plugins")
	if err := os.MkdirAll(mu, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(mu, name)
	if code == "" {
		if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		return
	}
	// Written whole and renamed, so a request never loads half a file.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(code), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func copyDir(src, dst string) error {
	return filepath.Walk(src, func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if info.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
}
