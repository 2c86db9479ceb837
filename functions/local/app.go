package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go/middleware"
	"github.com/joinery/joinery/functions/internal/awsapp"
	"github.com/joinery/joinery/functions/internal/awsenv"
	"github.com/joinery/joinery/pkg/apigw"
	"github.com/joinery/joinery/pkg/appcreds"
	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/connector/shopify"
	"github.com/joinery/joinery/pkg/connector/wordpress"
	"github.com/joinery/joinery/pkg/dynamostore"
	"github.com/joinery/joinery/pkg/embedded"
	"github.com/joinery/joinery/pkg/integration"
	"github.com/joinery/joinery/pkg/oauth"
	"github.com/joinery/joinery/pkg/safehttp"
	"github.com/joinery/joinery/pkg/smsecrets"
	"github.com/joinery/joinery/pkg/sqsqueue"
	"github.com/joinery/joinery/pkg/sqsworker"
	"github.com/joinery/joinery/pkg/syncer"
	"github.com/joinery/joinery/pkg/webhookin"
)

// settings is the runner's configuration, from flags and the environment.
type settings struct {
	Backend      string // embedded | aws
	DataDir      string
	Table        string
	SecretPrefix string
	QueueName    string
	Claims       apigw.ClaimNames
	// ServiceAccess is JOINERY_SERVICE_CLIENTS and JOINERY_SERVICE_SCOPE:
	// which tokens are the host backend's.
	ServiceAccess apigw.ServiceAccess
	// CORSOrigins is JOINERY_CORS_ORIGINS, the browser origins allowed to
	// call the API (none: no CORS, as with no CorsAllowOrigins in AWS).
	CORSOrigins []string
	// Template is the SAM template the functions' timeouts are read from
	// (JOINERY_TEMPLATE; "": template.yaml here or in a directory above).
	Template string
	// AppsFile is JOINERY_APPS_FILE, the deployment's app credentials as a
	// file; AppsSecret is JOINERY_APPS_SECRET, the same in Secrets Manager
	// (JOINERY_BACKEND=aws only; it wins over the file there).
	AppsFile   string
	AppsSecret string
	// CursorKeySecret is JOINERY_CURSOR_KEY_SECRET, the secret of the key
	// that signs cursors (JOINERY_BACKEND=aws only, created if missing);
	// otherwise the key is the file cursor.key in the data dir.
	CursorKeySecret string
	// PlatformOrigins is JOINERY_PLATFORM_ORIGINS: platforms whose every
	// request goes to a local stand-in (see origins.go).
	PlatformOrigins string
	// PublicURL is JOINERY_PUBLIC_URL, the API's address as browsers and
	// platforms reach it: OAuth redirect URIs are built on it ("": the
	// runner's own address).
	PublicURL string
	// ReturnOrigins is JOINERY_OAUTH_RETURN_ORIGINS, the origins an OAuth
	// connect may send the user back to.
	ReturnOrigins []string
	// FeedSafetySeconds is JOINERY_FEED_SAFETY_SECONDS, the change feed's
	// safety window ("": the default); newApp refuses a bad one.
	FeedSafetySeconds string
	// AWSAPIOptions are added to every AWS client's middleware stack (the
	// benchmarks count DynamoDB requests with one).
	AWSAPIOptions []func(*middleware.Stack) error
}

func settingsFromEnv(dataDir string) settings {
	return settings{
		Backend:      envOr("JOINERY_BACKEND", "embedded"),
		DataDir:      dataDir,
		Table:        envOr("JOINERY_TABLE", "joinery"),
		SecretPrefix: envOr("JOINERY_SECRET_PREFIX", "joinery/"),
		QueueName:    envOr("JOINERY_QUEUE", "joinery-sync"),
		Claims: apigw.ClaimNames{
			Account: os.Getenv("JOINERY_ACCOUNT_CLAIM"), Role: os.Getenv("JOINERY_ROLE_CLAIM"), Sites: os.Getenv("JOINERY_SITES_CLAIM"),
		},
		ServiceAccess:     apigw.ParseServiceAccess(os.Getenv("JOINERY_SERVICE_CLIENTS"), os.Getenv("JOINERY_SERVICE_SCOPE")),
		CORSOrigins:       parseOrigins(os.Getenv("JOINERY_CORS_ORIGINS")),
		FeedSafetySeconds: os.Getenv("JOINERY_FEED_SAFETY_SECONDS"),
		Template:          os.Getenv("JOINERY_TEMPLATE"),
		AppsFile:          os.Getenv("JOINERY_APPS_FILE"),
		AppsSecret:        os.Getenv("JOINERY_APPS_SECRET"),
		CursorKeySecret:   os.Getenv("JOINERY_CURSOR_KEY_SECRET"),
		PlatformOrigins:   os.Getenv(EnvPlatformOrigins),
		PublicURL:         strings.TrimSuffix(os.Getenv("JOINERY_PUBLIC_URL"), "/"),
		ReturnOrigins:     parseOrigins(os.Getenv("JOINERY_OAUTH_RETURN_ORIGINS")),
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// maxReceives is the sync queue's deliveries before the dead-letter queue,
// as template.yaml's SyncMaxReceives.
const maxReceives = 5

// app is every function of Joinery in one process.
type app struct {
	service *integration.Service
	queue   integration.Queue
	routes  []route
	closers []func() error
	// consume delivers the sync queue's batches to the worker, as the SQS
	// event source mapping does in AWS.
	consume func(ctx context.Context, h func(context.Context, events.SQSEvent) (events.SQSEventResponse, error)) error
	worker  *sqsworker.Worker
	engine  *syncer.Engine
	// shopify is the engine's Shopify connector (tests set its clock).
	shopify *shopify.Connector
	// deadLetters takes what the sync queue dead-lettered; dlq keeps it,
	// as the dead-letter queue's function does in AWS.
	deadLetters func(ctx context.Context) ([]string, error)
	dlq         *sqsworker.DeadLetters
	// workerTimeout is the sync worker function's timeout: a batch that
	// outlives it fails as a whole, as in Lambda.
	workerTimeout time.Duration
	// schedulerTimeout is the scheduler function's: a tick ends there.
	schedulerTimeout time.Duration
	// cursors signs the listings' cursors (tests set its clock).
	cursors *apigw.Cursors
	// origins are the platforms' local stand-ins (JOINERY_PLATFORM_ORIGINS).
	origins *platformOrigins
	// flow is the OAuth connect flow (tests set its clock).
	flow *oauth.Flow
	// tokens is the OAuth token lifecycle the tester, the engine and the
	// scheduler's tick share (tests set its clock).
	tokens *oauth.Tokens
	// notify is the outbound webhooks and event bus (notify.go).
	notify *localNotify
	// hooks is the inbound webhook path (tests set its receiver's clock).
	hooks *hooks
}

// work runs the sync worker on the queue until ctx ends.
func (a *app) work(ctx context.Context, log *slog.Logger) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			if err := a.consume(ctx, a.handleBatch); err != nil {
				log.Error("sync queue", "err", err)
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
			}
		}
	}()
	// The scheduler's tick, as the EventBridge rule runs it in AWS.
	ticked := make(chan struct{})
	go func() {
		defer close(ticked)
		t := time.NewTicker(time.Minute)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				a.tick(ctx, log)
			}
		}
	}()
	// The dead-letter queue's consumer, as its event source mapping runs it.
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		for ctx.Err() == nil {
			if err := a.drainDeadLetters(ctx); err != nil {
				log.Error("dead-letter queue", "err", err)
			}
			select {
			case <-ctx.Done():
			case <-time.After(dlqPoll):
			}
		}
	}()
	notified := a.notify.work(ctx, log)
	a.closers = append(a.closers, func() error { <-done; <-ticked; <-drained; notified(); return nil })
	if a.hooks != nil {
		stopped := a.hooks.work(ctx, a, log)
		a.closers = append(a.closers, func() error { stopped(); return nil })
	}
}

// tick is one run of the scheduler function: the syncs due are started,
// then the OAuth tokens due soon are refreshed ahead and unused grants
// kept alive, within the function's timeout.
func (a *app) tick(ctx context.Context, log *slog.Logger) {
	_, _ = within(ctx, a.schedulerTimeout, func(ctx context.Context) (struct{}, error) {
		if _, err := a.engine.Tick(ctx); err != nil {
			log.Error("scheduler", "err", err)
			return struct{}{}, nil
		}
		if a.tokens == nil {
			return struct{}{}, nil
		}
		res, err := a.tokens.RenewDue(ctx)
		if err != nil {
			// The runs are started; their jobs refresh on demand.
			log.Warn("token renewal failed", "err", err)
		}
		for _, f := range res.Failures {
			log.Warn("token not renewed; the next tick or the run tries again", "err", f)
		}
		return struct{}{}, nil
	})
}

// dlqPoll is how often the runner looks at the dead-letter queue.
const dlqPoll = 200 * time.Millisecond

// drainDeadLetters hands what the sync queue dead-lettered to the
// dead-letter consumer, as one SQS event.
func (a *app) drainDeadLetters(ctx context.Context) error {
	return a.keepDeadLetters(ctx, a.deadLetters)
}

// handleBatch is the sync worker's invocation, ended at its timeout.
func (a *app) handleBatch(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	return within(ctx, a.workerTimeout, func(ctx context.Context) (events.SQSEventResponse, error) {
		return a.worker.Handle(ctx, ev)
	})
}

func (a *app) Close() error {
	var first error
	for i := len(a.closers) - 1; i >= 0; i-- {
		if err := a.closers[i](); err != nil && first == nil {
			first = err
		}
	}
	return first
}

func newApp(ctx context.Context, s settings, log *slog.Logger) (*app, error) {
	// Checked first: a bad setting stops the runner before it opens anything.
	feedSafety, err := syncer.ParseFeedSafety(s.FeedSafetySeconds)
	if err != nil {
		return nil, err
	}
	tplPath := s.Template
	if tplPath == "" {
		if tplPath, err = findTemplate(); err != nil {
			return nil, err
		}
	}
	limits, err := loadTimeouts(tplPath)
	if err != nil {
		return nil, err
	}
	a := &app{workerTimeout: limits.function("SyncWorkerFunction") * timeoutScale, schedulerTimeout: limits.function("SchedulerFunction") * timeoutScale}
	var (
		store     integration.Store
		syncStore integration.SyncStore
		secrets   integration.Secrets
		vis       sqsworker.Visibility
		appsSrc   appcreds.Source = appcreds.File{Path: s.AppsFile}
		// The key file is made on the first listing that needs it.
		cursorKeys integration.CursorKeys = embedded.NewCursorKeyFile(filepath.Join(s.DataDir, "cursor.key"), nil)
	)
	switch s.Backend {
	case "embedded":
		if err := os.MkdirAll(s.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("create data dir: %w", err)
		}
		st, err := embedded.OpenStore(filepath.Join(s.DataDir, "joinery.db"))
		if err != nil {
			return nil, err
		}
		a.closers = append(a.closers, st.Close)
		sec, err := embedded.OpenSecrets(filepath.Join(s.DataDir, "secrets"))
		if err != nil {
			_ = a.Close()
			return nil, err
		}
		store, syncStore, secrets = st, st, sec
		q := embedded.NewQueue(embedded.QueueOptions{VisibilityTimeout: 60 * time.Second, MaxReceives: maxReceives, ARN: "arn:aws:sqs:local:000000000000:" + s.QueueName})
		a.queue, a.consume, vis, a.deadLetters = q, q.Consume, q, q.DeadLetters
		wq := embedded.NewQueue(embedded.QueueOptions{VisibilityTimeout: 60 * time.Second, MaxReceives: maxReceives, ARN: "arn:aws:sqs:local:000000000000:" + s.QueueName + webhookQueueSuffix})
		a.hooks = &hooks{queue: wq, consume: wq.Consume, dead: wq.DeadLetters, worker: &sqsworker.Worker{Visibility: wq, Log: log}}
	case "aws":
		var opts []func(*config.LoadOptions) error
		if len(s.AWSAPIOptions) > 0 {
			opts = append(opts, config.WithAPIOptions(s.AWSAPIOptions))
		}
		// A local AWS_ENDPOINT_URL (moto) works without a region or
		// credentials in the environment.
		cfg, err := awsenv.Load(ctx, opts...)
		if err != nil {
			return nil, fmt.Errorf("load AWS config: %w", err)
		}
		ddb := dynamodb.NewFromConfig(cfg)
		if err := dynamostore.CreateTable(ctx, ddb, s.Table); err != nil {
			return nil, err
		}
		sq := sqs.NewFromConfig(cfg)
		qURL, dlqURL, err := sqsqueue.CreateQueues(ctx, sq, s.QueueName, 60*time.Second, maxReceives)
		if err != nil {
			return nil, err
		}
		ds := dynamostore.New(ddb, s.Table)
		store, syncStore = ds, ds
		secrets = smsecrets.New(secretsmanager.NewFromConfig(cfg), s.SecretPrefix, 5*time.Minute)
		if s.AppsSecret != "" {
			appsSrc = smsecrets.NewAppsSecret(secretsmanager.NewFromConfig(cfg), s.AppsSecret)
		}
		if s.CursorKeySecret != "" {
			// As the stack would have made it.
			if err := smsecrets.CreateCursorKeySecret(ctx, secretsmanager.NewFromConfig(cfg), s.CursorKeySecret); err != nil {
				return nil, err
			}
			cursorKeys = smsecrets.NewCursorKeySecret(secretsmanager.NewFromConfig(cfg), s.CursorKeySecret)
		}
		q := sqsqueue.New(sq, qURL, dlqURL)
		a.queue, a.consume, vis, a.deadLetters = q, q.Consume, q, q.DeadLetters
		wURL, wDLQ, err := sqsqueue.CreateQueues(ctx, sq, s.QueueName+webhookQueueSuffix, 60*time.Second, maxReceives)
		if err != nil {
			return nil, err
		}
		wq := sqsqueue.New(sq, wURL, wDLQ)
		a.hooks = &hooks{queue: wq, consume: wq.Consume, dead: wq.DeadLetters, worker: &sqsworker.Worker{Visibility: wq, Log: log}}
	default:
		return nil, fmt.Errorf("JOINERY_BACKEND must be embedded or aws, not %q", s.Backend)
	}
	catalog := connector.NewCatalog()
	apps := appcreds.New(appsSrc, catalog, appcreds.DefaultTTL, nil)
	// A broken apps file stops the runner here, naming the platform and
	// field, rather than at the first connect.
	if err := apps.Check(ctx); err != nil {
		_ = a.Close()
		return nil, err
	}
	a.service = &integration.Service{Store: store, Secrets: secrets, Catalog: catalog, Apps: apps, SyncData: syncStore}
	a.cursors = &apigw.Cursors{Keys: cursorKeys}
	api := &apigw.API{Service: a.service, Claims: s.Claims, ServiceAccess: s.ServiceAccess, Log: log, Cursors: a.cursors,
		WebhookURLs: map[string]string{"wordpress": s.PublicURL}}
	platforms := &apigw.PlatformsAPI{API: api, Catalog: catalog, Apps: apps}
	models := &apigw.ModelsAPI{API: api}
	policy, err := safehttp.PolicyFromEnv()
	if err != nil {
		_ = a.Close()
		return nil, err
	}
	if a.origins, err = parsePlatformOrigins(s.PlatformOrigins, catalog); err != nil {
		_ = a.Close()
		return nil, err
	}
	if len(a.origins.byPlatform) > 0 {
		log.Info("platforms sent to local stand-ins", "origins", strings.Join(a.origins.byPlatform, ","))
	}
	tester := &connector.Tester{
		Integrations: a.service,
		Connectors:   map[string]connector.ConnectionTester{"wordpress": wordpress.New(), "shopify": shopify.New()},
		// The stand-ins are reachable, and only by their platforms' requests.
		HTTP: a.origins.client(safehttp.New(safehttp.Options{Policy: a.origins.policy(policy)})),
	}
	// The token lifecycle, as awsapp's: tokens read from the secret's
	// current version and refreshed under the store's lease, through the
	// same client (the stand-ins reachable, nothing else private).
	if cur, ok := secrets.(integration.CurrentSecrets); ok {
		a.tokens = &oauth.Tokens{Leases: store, Secrets: cur, Apps: apps, Catalog: catalog,
			HTTP: tester.HTTP, Integrations: a.service, Events: syncStore}
		tester.Tokens = a.tokens.AccessToken
	}
	conn := &apigw.ConnectionAPI{API: api, Tester: tester, Onboarding: &connector.Onboarding{Integrations: a.service, Tester: tester,
		// The runner serves /webhooks/... itself, on its public URL.
		WebhookURL: s.PublicURL}}
	a.shopify = shopify.New()
	engine := &syncer.Engine{
		Integrations: a.service, Store: syncStore, Queue: a.queue,
		Connectors: map[string]connector.Connector{"wordpress": wordpress.New(), "shopify": a.shopify},
		HTTP:       tester.HTTP, MaxReceives: maxReceives, FeedSafety: feedSafety, Limits: &syncer.Limits{},
		Rates: &syncer.Rates{},
		// The runner serves /webhooks/... itself, on its public URL.
		WebhookURLs: map[string]string{"shopify": s.PublicURL},
	}
	if a.tokens != nil {
		engine.Tokens = a.tokens
	}
	if s.Backend == "embedded" {
		// The embedded queue lives in memory: a run under way when the
		// runner stopped lost its jobs. Let a new run start over it soon.
		engine.StaleAfter = 15 * time.Minute
	}
	a.service.PurgeLater = engine.QueuePurge
	// As in the Lambdas: an OAuth grant is revoked at its platform before
	// its tokens go.
	engine.Revoker = &connector.Revoker{HTTP: tester.HTTP}
	a.service.TeardownLater = engine.QueueTeardown
	a.worker = &sqsworker.Worker{Engine: engine, Visibility: vis, Log: log}
	// The webhook worker runs webhook jobs with the same engine; replayed
	// ones go back to the webhook queue.
	engine.WebhookQueue = a.hooks.queue
	a.hooks.worker.Engine = engine
	a.hooks.timeout = limits.function("WordPressWebhookFunction") * timeoutScale
	a.engine = engine
	a.dlq = &sqsworker.DeadLetters{Engine: engine, Log: log}
	sapi := &apigw.SyncAPI{API: api, Engine: engine}
	a.flow = &oauth.Flow{Integrations: a.service, States: store, Secrets: secrets, Apps: apps, Catalog: catalog,
		HTTP: tester.HTTP, PublicURL: s.PublicURL, ReturnOrigins: s.ReturnOrigins,
		// A store just connected posts its webhooks before its first run.
		Connected: engine.SubscribeOnConnect, Log: log}
	// The consent link handed out goes to the platform's stand-in, if any.
	oapi := awsapp.OAuthRoutes(api, a.flow, a.origins.rewrite)
	a.routes = []route{
		{key: "GET /v1/platforms", authJWT: true, handler: platforms.ListPlatforms()},
		{key: "GET /v1/models", authJWT: true, handler: models.ListModels()},
		{key: "GET /v1/models/{model}", authJWT: true, handler: models.GetModel()},
		{key: "GET /v1/integrations", authJWT: true, handler: api.ListIntegrations()},
		{key: "POST /v1/integrations", authJWT: true, handler: api.CreateIntegration()},
		{key: "GET /v1/integrations/{id}", authJWT: true, handler: api.GetIntegration()},
		{key: "PATCH /v1/integrations/{id}", authJWT: true, handler: api.UpdateIntegration()},
		{key: "DELETE /v1/integrations/{id}", authJWT: true, handler: api.DeleteIntegration()},
		{key: "POST /v1/integrations/{id}/test_connection", authJWT: true, handler: conn.TestConnection()},
		{key: "GET /v1/integrations/{id}/content_types", authJWT: true, handler: conn.ContentTypes()},
		{key: "GET /v1/sites/{site_id}/keys", authJWT: true, handler: api.ListSiteKeys()},
		{key: "POST /v1/sites/{site_id}/keys", authJWT: true, handler: api.CreateSiteKey()},
		{key: "DELETE /v1/sites/{site_id}/keys/{key_id}", authJWT: true, handler: api.RevokeSiteKey()},
		{key: "POST /v1/integrations/{id}/sync", authJWT: true, handler: sapi.StartSync()},
		{key: "GET /v1/integrations/{id}/sync_status", authJWT: true, handler: sapi.SyncStatus()},
		{key: "GET /v1/integrations/{id}/sync_health", authJWT: true, handler: sapi.SyncHealth()},
		{key: "GET /v1/integrations/{id}/records", authJWT: true, handler: sapi.Records()},
		{key: "GET /v1/sites/{site_id}/records", authJWT: true, handler: sapi.SiteRecords()},
		{key: "GET /v1/integrations/{id}/records/{model}/{external_id}", authJWT: true, handler: sapi.Record()},
		{key: "GET /v1/integrations/{id}/events", authJWT: true, handler: sapi.Events()},
		{key: "GET /v1/integrations/{id}/runs", authJWT: true, handler: sapi.Runs()},
		{key: "POST /v1/integrations/{id}/runs/{run_id}/cancel", authJWT: true, handler: sapi.CancelRun()},
		{key: "POST /v1/integrations/{id}/dead_letters/replay", authJWT: true, handler: sapi.ReplayDeadLetters()},
		{key: "POST /v1/integrations/{id}/records", authJWT: true, handler: sapi.Push()},
		{key: "GET /v1/integrations/{id}/pushes/{push_id}", authJWT: true, handler: sapi.GetPush()},
		{key: "GET /v1/integrations/{id}/pushes", authJWT: true, handler: sapi.Pushes()},
		{key: "POST /v1/integrations/{id}/pushes/{push_id}/resolve", authJWT: true, handler: sapi.ResolvePush()},
		{key: "POST /v1/integrations/{id}/oauth/authorize", authJWT: true, handler: oapi.AuthorizeOAuth()},
		// Public: where the platforms send the user back (the state is the proof).
		{key: "GET /v1/oauth/{platform}/callback", handler: oapi.OAuthCallback()},
		// Public: the API's own description.
		{key: "GET /v1/openapi.json", handler: apigw.OpenAPI()},
		// Authenticated by a site key, which the function verifies.
		{key: "POST /v1/integrations/test_connection", handler: conn.Onboard()},
		{key: "POST /v1/integrations/{id}/update_structure", handler: conn.UpdateStructure()},
	}
	if a.notify, err = newLocalNotify(ctx, s, store, log); err != nil {
		_ = a.Close()
		return nil, err
	}
	a.routes = append(a.routes, a.notify.routes(api)...)
	if ws, ok := store.(webhookin.Store); ok {
		a.hooks.receiver = &webhookin.Receiver{Store: ws, Secrets: secrets, Apps: apps, Queue: a.hooks.queue, Log: log}
		a.routes = append(a.routes, a.hooks.routes(log)...)
	} else {
		log.Warn("the store keeps no webhook routes: no webhook is received")
	}
	for i := range a.routes {
		a.routes[i].timeout = limits.route(a.routes[i].key) * timeoutScale
	}
	return a, nil
}
