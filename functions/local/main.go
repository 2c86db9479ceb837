// Command local runs every Joinery function in one process, on embedded
// backends (or on AWS-compatible ones with JOINERY_BACKEND=aws), behind an
// HTTP server that invokes them the way API Gateway's HTTP API would.
//
//	local serve [--addr 127.0.0.1:8080] [--data-dir .joinery]
//	local token --account ID --role ROLE [--sites a,b] [--data-dir DIR]
//	local token --service CLIENT_ID [--scope SCOPE] [--data-dir DIR]
//	local fakes --apps FILE [--platforms slack,...] [--port 9001]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/joinery/joinery/pkg/apigw"
	"github.com/joinery/joinery/pkg/integration"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "joinery:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(args, stdout, stderr)
	case "token":
		return token(args, stdout, stderr)
	case "fakes":
		return fakes(args, stdout, stderr)
	}
	return fmt.Errorf("unknown command %q (want serve, token or fakes)", cmd)
}

func token(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	account := fs.String("account", "", "account id (required)")
	role := fs.String("role", "", "viewer, editor, admin or owner (required)")
	sites := fs.String("sites", "", "comma-separated site ids the token may touch (default: all)")
	dataDir := fs.String("data-dir", ".joinery", "where the dev signing key lives")
	ttl := fs.Duration("ttl", 12*time.Hour, "token lifetime")
	service := fs.String("service", "", "mint a service token for this client id (list it in JOINERY_SERVICE_CLIENTS)")
	scope := fs.String("scope", "", "the service token's scope (default: JOINERY_SERVICE_SCOPE, or "+apigw.DefaultServiceScope+")")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *service != "" {
		return serviceToken(*service, *scope, *dataDir, *ttl, stdout)
	}
	if !integration.ValidAccountID(*account) {
		return errors.New("--account is required: 1-128 letters, digits, '.', '_', ':' or '-'")
	}
	if integration.ParseRole(*role) == integration.RoleNone {
		return errors.New("--role is required: viewer, editor, admin or owner")
	}
	auth, err := loadDevAuth(*dataDir)
	if err != nil {
		return err
	}
	var siteList []string
	if *sites != "" {
		siteList = strings.Split(*sites, ",")
	}
	tok, err := auth.mint("dev-user", *account, *role, siteList, *ttl)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, tok)
	return err
}

func serve(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "listen address")
	dataDir := fs.String("data-dir", ".joinery", "where embedded backends keep their files")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewJSONHandler(stderr, nil))

	s := settingsFromEnv(*dataDir)
	auth, err := loadDevAuth(*dataDir)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *addr, err)
	}
	defer ln.Close()
	if s.PublicURL == "" {
		// OAuth redirect URIs point back at this runner.
		s.PublicURL = "http://" + ln.Addr().String()
	}
	a, err := newApp(ctx, s, log)
	if err != nil {
		return err
	}
	defer a.Close()
	a.work(ctx, log)
	srv := &http.Server{Handler: withCORS(newServer(auth, a.routes, log), s.CORSOrigins), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	tok, err := auth.mint("dev-user", "dev-account", "editor", nil, 12*time.Hour)
	if err != nil {
		return err
	}
	base := "http://" + ln.Addr().String()
	fmt.Fprintf(stdout, `Joinery is running at %s on %s backends (data in %s).

Dev token (account dev-account, role editor, valid 12h):

  export TOKEN=%s

Try it:

  curl -s -X POST %s/v1/integrations -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    -d '{"site_id":"site-1","platform":"wordpress","external_site_url":"https://example.com","credentials":{"username":"admin","app_password":"abcd efgh ijkl mnop"}}'
  curl -s %s/v1/integrations -H "Authorization: Bearer $TOKEN"

More tokens: go run ./functions/local token --account dev-account --role viewer --data-dir %s
`, base, s.Backend, *dataDir, tok, base, base, *dataDir)
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// serviceToken prints a service token for the host backend's client.
func serviceToken(client, scope, dataDir string, ttl time.Duration, stdout io.Writer) error {
	if strings.TrimSpace(client) != client || strings.ContainsAny(client, ", ") {
		return errors.New("--service: a client id, without spaces or commas")
	}
	if scope == "" {
		scope = apigw.ParseServiceAccess("", os.Getenv("JOINERY_SERVICE_SCOPE")).Scope
	}
	auth, err := loadDevAuth(dataDir)
	if err != nil {
		return err
	}
	tok, err := auth.mintService(client, scope, ttl)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, tok)
	return err
}
