// Package awsapp builds Joinery's pieces for a Lambda on AWS from the
// values its main reads from the environment. Each main reads its own
// variables, so what a function reads stays next to its template entry
// (the deploy tests check the two agree); this package only assembles.
package awsapp

import (
	"context"
	"log"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go/middleware"
	"github.com/joinery/joinery/functions/internal/awsenv"
	"github.com/joinery/joinery/pkg/apigw"
	"github.com/joinery/joinery/pkg/appcreds"
	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/connector/shopify"
	"github.com/joinery/joinery/pkg/connector/wordpress"
	"github.com/joinery/joinery/pkg/dynamostore"
	"github.com/joinery/joinery/pkg/integration"
	"github.com/joinery/joinery/pkg/safehttp"
	"github.com/joinery/joinery/pkg/smsecrets"
	"github.com/joinery/joinery/pkg/sqsqueue"
	"github.com/joinery/joinery/pkg/syncer"
)

// Env is what a function was configured with.
type Env struct {
	Table string
	// SecretPrefix names the secrets a function creates; functions that
	// only read secrets leave it empty.
	SecretPrefix string
	// QueueURL is the sync queue, for functions that queue jobs.
	QueueURL string
	// WebhookQueueURL is the webhook queue, for the functions that queue
	// webhook jobs (the receivers) or replay them.
	WebhookQueueURL string
	// MaxReceives is the sync queue's maxReceiveCount (the worker's).
	MaxReceives int
	// FeedSafety is the change feed's safety window (see FeedSafety).
	FeedSafety time.Duration
	// AppsSecret names the secret of the deployment's app credentials
	// (JOINERY_APPS_SECRET), for the functions that read them.
	AppsSecret string
	Claims     apigw.ClaimNames
	// Service says which tokens are the host backend's
	// (JOINERY_SERVICE_CLIENTS, JOINERY_SERVICE_SCOPE).
	Service apigw.ServiceAccess
	// CursorKeySecret names the secret of the key that signs the
	// listings' cursors (JOINERY_CURSOR_KEY_SECRET), for the functions
	// that list.
	CursorKeySecret string
	// PublicURL is the API's origin as browsers and platforms reach it
	// (JOINERY_PUBLIC_URL; "": the domain each request came in on), which
	// OAuth redirect URIs are built on.
	PublicURL string
	// ReturnOrigins are the origins an OAuth connect may send the user
	// back to (JOINERY_OAUTH_RETURN_ORIGINS).
	ReturnOrigins []string
	// Notify is the outbound notifications' configuration (notify.go).
	Notify NotifyEnv
	// WebhookURLWordPress is the base WordPress sites post their webhooks
	// to (JOINERY_WEBHOOK_URL_WORDPRESS), for onboarding to answer.
	WebhookURLWordPress string
	// WebhookURLShopify is the base Shopify stores are subscribed to post
	// their webhooks to (JOINERY_WEBHOOK_URL_SHOPIFY), for the sync worker
	// and the OAuth callback.
	WebhookURLShopify string
}

// FeedSafety reads JOINERY_FEED_SAFETY_SECONDS's value. A bad value stops
// the process: the runtime reports it as an init error.
func FeedSafety(raw string) time.Duration {
	d, err := syncer.ParseFeedSafety(raw)
	if err != nil {
		log.Fatal(err)
	}
	return d
}

// Claims names the JWT claims; empty names take the defaults.
func Claims(account, role, sites string) apigw.ClaimNames {
	return apigw.ClaimNames{Account: account, Role: role, Sites: sites}
}

// Service reads the service clients (comma-separated; none: no service
// access) and the scope their tokens must carry.
func Service(clients, scope string) apigw.ServiceAccess {
	return apigw.ParseServiceAccess(clients, scope)
}

// Hooks let a test see and steer what a function does, the function
// otherwise built as in AWS. Nothing in a Lambda sets them.
var Hooks struct {
	// APIOptions are added to every AWS client's middleware stack (the IAM
	// test records each call's operation and resource with one).
	APIOptions []func(*middleware.Stack) error
	// HTTP, when set, is the client to the platforms instead of the
	// SSRF-safe one (a test's in-process fake platform).
	HTTP *http.Client
}

// App is one function's Joinery.
type App struct {
	Env     Env
	Store   *dynamostore.Store
	Service *integration.Service
	cfg     aws.Config
	http    *http.Client
	queue   *sqsqueue.Queue
	engine  *syncer.Engine
	catalog *connector.Catalog
	apps    *appcreds.Apps
	cursors *apigw.Cursors
	notifyQ *sqsqueue.Queue
}

// New loads the AWS configuration and builds the store and the service.
// A failure stops the process: the runtime reports it as an init error.
func New(env Env) *App {
	cfg, err := awsenv.Load(context.Background(), config.WithAPIOptions(Hooks.APIOptions))
	if err != nil {
		log.Fatalf("load AWS config: %v", err)
	}
	store := dynamostore.New(dynamodb.NewFromConfig(cfg), env.Table)
	catalog := connector.NewCatalog()
	a := &App{Env: env, Store: store, cfg: cfg, catalog: catalog, Service: &integration.Service{
		Store:   store,
		Secrets: smsecrets.New(secretsmanager.NewFromConfig(cfg), env.SecretPrefix, 5*time.Minute),
		Catalog: catalog,
		// An integration's runs, records and events go with it.
		SyncData: store,
	}}
	if env.AppsSecret != "" {
		a.Service.Apps = a.Apps()
	}
	if env.CursorKeySecret != "" {
		// Read on the first listing, not at start.
		a.cursors = &apigw.Cursors{Keys: smsecrets.NewCursorKeySecret(secretsmanager.NewFromConfig(cfg), env.CursorKeySecret)}
	}
	if env.QueueURL != "" {
		// They can be many: the sync workers remove them, off the request.
		a.Service.PurgeLater = a.Engine().QueuePurge
		// An OAuth grant is revoked at its platform before its tokens go.
		a.Service.TeardownLater = a.Engine().QueueTeardown
	}
	return a
}

// Apps are the deployment's app credentials, read from the apps secret
// and kept for a few minutes.
func (a *App) Apps() *appcreds.Apps {
	if a.apps == nil {
		a.apps = appcreds.New(smsecrets.NewAppsSecret(secretsmanager.NewFromConfig(a.cfg), a.Env.AppsSecret), a.catalog, appcreds.DefaultTTL, nil)
	}
	return a.apps
}

// Platforms is the API listing the catalog.
func (a *App) Platforms() *apigw.PlatformsAPI {
	p := &apigw.PlatformsAPI{API: a.API(), Catalog: a.catalog}
	if a.Env.AppsSecret != "" {
		p.Apps = a.Apps()
	}
	return p
}

// API is the integrations API.
func (a *App) API() *apigw.API {
	return &apigw.API{Service: a.Service, Claims: a.Env.Claims, ServiceAccess: a.Env.Service, Cursors: a.cursors,
		WebhookURLs: map[string]string{"wordpress": a.Env.WebhookURLWordPress}}
}

// httpClient is the SSRF-safe client. In AWS it is always strict: no
// private networks, whatever the environment says.
func (a *App) httpClient() *http.Client {
	if a.http == nil && Hooks.HTTP != nil {
		a.http = Hooks.HTTP
	}
	if a.http == nil {
		a.http = safehttp.New(safehttp.Options{})
	}
	return a.http
}

func (a *App) connectors() map[string]connector.Connector {
	return map[string]connector.Connector{"wordpress": wordpress.New(), "shopify": shopify.New()}
}

// Connections is the API that talks to the platforms.
func (a *App) Connections() *apigw.ConnectionAPI {
	testers := map[string]connector.ConnectionTester{}
	for name, c := range a.connectors() {
		testers[name] = c
	}
	tester := &connector.Tester{Integrations: a.Service, Connectors: testers, HTTP: a.httpClient()}
	if tk := a.Tokens(); tk != nil {
		tester.Tokens = tk.AccessToken
	}
	return &apigw.ConnectionAPI{API: a.API(), Tester: tester, Onboarding: &connector.Onboarding{Integrations: a.Service, Tester: tester,
		WebhookURL: a.Env.WebhookURLWordPress}}
}

// Engine is the sync engine, queueing to the sync queue when there is one.
func (a *App) Engine() *syncer.Engine {
	if a.engine == nil {
		a.engine = &syncer.Engine{Integrations: a.Service, Store: a.Store, Connectors: a.connectors(),
			HTTP: a.httpClient(), MaxReceives: a.Env.MaxReceives, FeedSafety: a.Env.FeedSafety, Limits: &syncer.Limits{},
			// Each platform's rate, shared by every worker through the table.
			Rates: &syncer.Rates{}}
		if a.Env.WebhookURLShopify != "" {
			a.engine.WebhookURLs = map[string]string{"shopify": a.Env.WebhookURLShopify}
		}
		if a.Env.QueueURL != "" {
			a.engine.Queue = a.Queue()
		}
		if a.Env.WebhookQueueURL != "" {
			// Replayed webhook jobs go back to the webhook queue.
			a.engine.WebhookQueue = a.WebhookQueue()
		}
		a.engine.Revoker = &connector.Revoker{HTTP: a.httpClient()}
		if tk := a.Tokens(); tk != nil {
			a.engine.Tokens = tk
		}
	}
	return a.engine
}

// Queue is the sync queue.
func (a *App) Queue() *sqsqueue.Queue {
	if a.queue == nil {
		a.queue = sqsqueue.New(sqs.NewFromConfig(a.cfg), a.Env.QueueURL, "")
	}
	return a.queue
}

// Sync is the sync API.
func (a *App) Sync() *apigw.SyncAPI {
	return &apigw.SyncAPI{API: a.API(), Engine: a.Engine()}
}
