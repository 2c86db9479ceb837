package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/joinery/joinery/pkg/fakeplatforms"
)

// fakes runs the fake OAuth providers the tests use, as stand-ins for
// connecting the OAuth platforms locally without their consoles: it writes
// an apps file with the credentials they accept and prints the settings
// that point the runner at them.
func fakes(args []string, stdout, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runFakes(ctx, args, stdout, stderr)
}

func runFakes(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("fakes", flag.ContinueOnError)
	fs.SetOutput(stderr)
	platforms := fs.String("platforms", strings.Join(fakeplatforms.Platforms, ","), "the platforms to fake, comma-separated")
	host := fs.String("host", "127.0.0.1", "the address they listen on")
	port := fs.Int("port", 0, "the first one's port, the next ones' the ports after it (0: free ports)")
	apps := fs.String("apps", "", "write the app credentials the fakes accept to this file, for JOINERY_APPS_FILE (required)")
	shop := fs.String("shop", "acme", "the Shopify fake's shop (<shop>.myshopify.com)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *apps == "" {
		return errors.New("--apps is required: the file the app credentials go to")
	}
	doc := map[string]map[string]string{}
	var origins []string
	for i, p := range strings.Split(*platforms, ",") {
		p = strings.TrimSpace(p)
		if !slices.Contains(fakeplatforms.Platforms, p) {
			return fmt.Errorf("--platforms: %q is not one of %s", p, strings.Join(fakeplatforms.Platforms, ", "))
		}
		addr := *host + ":0"
		if *port > 0 {
			addr = fmt.Sprintf("%s:%d", *host, *port+i)
		}
		s, err := fakeplatforms.New(p, fakeplatforms.Options{ClientID: "fake-" + p + "-client", ClientSecret: "fake-" + p + "-secret", Shop: *shop, Addr: addr})
		if err != nil {
			return err
		}
		defer s.Close()
		doc[p] = map[string]string{"client_id": "fake-" + p + "-client", "client_secret": "fake-" + p + "-secret"}
		if p == "slack" {
			doc[p]["signing_secret"] = "fake-slack-signing-secret"
		}
		origins = append(origins, p+"="+s.URL())
	}
	b, _ := json.MarshalIndent(doc, "", "  ")
	if err := os.WriteFile(*apps, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("write the apps file: %w", err)
	}
	fmt.Fprintf(stdout, `Fake platforms are running (stop them with Ctrl-C). Start the runner with:

  JOINERY_PLATFORM_ORIGINS=%s JOINERY_APPS_FILE=%s JOINERY_OAUTH_RETURN_ORIGINS=http://localhost:3000 make run
`, strings.Join(origins, ","), *apps)
	<-ctx.Done()
	return nil
}
