package connector

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/joinery/joinery/pkg/integration"
)

// ConnectionTester is the part of a Connector that tests a connection.
type ConnectionTester interface {
	TestConnection(ctx context.Context, c Connection) (TestResult, error)
}

// Tester runs a platform's connection test for an integration and records
// the outcome on it.
type Tester struct {
	Integrations *integration.Service
	Connectors   map[string]ConnectionTester
	HTTP         *http.Client // the SSRF-safe client
	Now          func() time.Time
	// Catalog and Tokens test OAuth platforms with the catalog's test
	// calls and an access token from Tokens (nil Catalog: the built-in).
	Catalog *Catalog
	Tokens  TokenSource
}

// Test runs the connection test of an integration the actor may edit. A
// failed test is a result (OK false), not an error.
func (t *Tester) Test(ctx context.Context, actor integration.Actor, id string) (TestResult, error) {
	if err := actor.Require(integration.RoleEditor); err != nil {
		return TestResult{}, err
	}
	it, err := t.Integrations.Get(ctx, actor, id)
	if err != nil {
		return TestResult{}, err
	}
	res, err := t.Run(ctx, it)
	if err != nil {
		return TestResult{}, err
	}
	if err := t.Integrations.RecordConnection(ctx, actor, it.ID, res.Status, res.Message, t.now()); err != nil {
		return TestResult{}, err
	}
	return res, nil
}

// Run tests an integration without recording anything.
func (t *Tester) Run(ctx context.Context, it *integration.Integration) (TestResult, error) {
	if e, ok := t.catalog().Entry(it.Platform); ok && e.AuthMode == integration.AuthOAuth2 && t.Tokens != nil {
		return t.runOAuth(ctx, it, e)
	}
	if _, ok := t.Connectors[it.Platform]; !ok {
		return TestResult{}, integration.Errorf(integration.EUNPROCESSABLE, "Connection tests are not available for %s yet.", it.Platform)
	}
	if !it.Credentials.HasCredentials() {
		return TestResult{OK: false, Status: integration.ConnectionError, Message: "The integration has no credentials yet; set them first."}, nil
	}
	creds, err := t.Integrations.Credentials(ctx, it)
	if err != nil {
		return TestResult{}, err
	}
	res, err := t.RunWith(ctx, it.Platform, Connection{SiteURL: it.ExternalSiteURL, Config: it.Config, Credentials: creds})
	if err != nil {
		return TestResult{}, fmt.Errorf("test connection of %s: %w", it.ID, err)
	}
	return res, nil
}

// RunWith tests a platform connection that need not be stored yet; c.HTTP
// is always the Tester's SSRF-safe client.
func (t *Tester) RunWith(ctx context.Context, platform string, c Connection) (TestResult, error) {
	ct, ok := t.Connectors[platform]
	if !ok {
		return TestResult{}, integration.Errorf(integration.EUNPROCESSABLE, "Connection tests are not available for %s yet.", platform)
	}
	c.HTTP = t.HTTP
	res, err := ct.TestConnection(ctx, c)
	if err != nil {
		return TestResult{}, err
	}
	if res.Status == "" {
		res.Status = integration.ConnectionError
		if res.OK {
			res.Status = integration.ConnectionConnected
		}
	}
	return res, nil
}

func (t *Tester) catalog() *Catalog {
	if t.Catalog == nil {
		return NewCatalog()
	}
	return t.Catalog
}

func (t *Tester) now() time.Time {
	if t.Now == nil {
		return time.Now().UTC()
	}
	return t.Now().UTC()
}
