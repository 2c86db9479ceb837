# Joinery. The two commands a newcomer runs: `make run` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Every Lambda: <LogicalId in template.yaml>:<directory under functions/>.
FUNCTIONS := \
	ListIntegrationsFunction:integrations-list \
	CreateIntegrationFunction:integrations-create \
	GetIntegrationFunction:integrations-get \
	UpdateIntegrationFunction:integrations-update \
	DeleteIntegrationFunction:integrations-delete \
	TestConnectionFunction:integrations-test-connection \
	ContentTypesFunction:integrations-content-types \
	OnboardFunction:integrations-onboard \
	UpdateStructureFunction:integrations-update-structure \
	CreateSiteKeyFunction:sitekeys-create \
	ListSiteKeysFunction:sitekeys-list \
	RevokeSiteKeyFunction:sitekeys-revoke \
	StartSyncFunction:integrations-sync \
	SyncStatusFunction:integrations-sync-status \
	SyncHealthFunction:integrations-sync-health \
	RecordsFunction:integrations-records \
	SiteRecordsFunction:sites-records \
	RecordGetFunction:integrations-record-get \
	EventsFunction:integrations-events \
	RunsFunction:integrations-runs-list \
	CancelRunFunction:integrations-run-cancel \
	ReplayDeadLettersFunction:integrations-dead-letters-replay \
	SyncDeadLetterFunction:sync-dlq \
	PushRecordFunction:integrations-push \
	GetPushFunction:integrations-push-get \
	ListPushesFunction:integrations-pushes-list \
	ResolvePushFunction:integrations-push-resolve \
	SchedulerFunction:sync-scheduler \
	SyncWorkerFunction:sync-worker \
	ListPlatformsFunction:platforms-list \
	ListModelsFunction:models-list \
	OAuthAuthorizeFunction:integrations-oauth-authorize \
	OAuthCallbackFunction:oauth-callback \
	OpenAPIFunction:openapi-get \
	CreateWebhookEndpointFunction:webhook-endpoints-create \
	ListWebhookEndpointsFunction:webhook-endpoints-list \
	GetWebhookEndpointFunction:webhook-endpoints-get \
	UpdateWebhookEndpointFunction:webhook-endpoints-update \
	DeleteWebhookEndpointFunction:webhook-endpoints-delete \
	TestWebhookEndpointFunction:webhook-endpoints-test \
	RotateWebhookSecretFunction:webhook-endpoints-rotate-secret \
	ListWebhookDeliveriesFunction:webhook-endpoints-deliveries \
	RetryWebhookDeliveryFunction:webhook-endpoints-delivery-retry \
	NotifyDispatchFunction:notify-dispatch \
	NotifyDeliverFunction:notify-deliver \
	WordPressWebhookFunction:webhook-wordpress \
	ShopifyWebhookFunction:webhook-shopify \
	SlackWebhookFunction:webhook-slack \
	TikTokWebhookFunction:webhook-tiktok \
	GoogleCalendarWebhookFunction:webhook-google-calendar \
	JiraWebhookFunction:webhook-jira \
	TrelloWebhookFunction:webhook-trello \
	WebhookWorkerFunction:webhook-worker

STATICCHECK_VERSION := v0.8.2
BIN := $(CURDIR)/.bin
LOGS := $(CURDIR)/.test-logs
LAMBDA_BUILD := GOOS=linux GOARCH=arm64 CGO_ENABLED=0 go build -tags lambda.norpc -trimpath -ldflags "-s -w"
dir_of = $(patsubst $(1):%,%,$(filter $(1):%,$(FUNCTIONS)))

.PHONY: help run test lint build bench clean

help:
	@echo "make run     the whole system locally on embedded backends (prints a dev token and a curl)"
	@echo "make test    every test; prints what was skipped and why (CI=true: a skip fails)"
	@echo "make build   every Lambda as a linux/arm64 bootstrap under .build/"
	@echo "make lint    gofmt, go vet, staticcheck, cfn-lint"
	@echo "make bench   binary sizes, cold starts, handler latency, DynamoDB requests per route and sync throughput at 100,000 records"

run:
	go run ./functions/local serve $(ARGS)

# Unit, conformance (embedded and moto), end-to-end and deploy-wiring tests.
# Tests whose real dependency is missing skip with "SKIPPED (real dependency
# missing)"; here they are listed loudly, and under CI=true they fail.
test: lint
	@mkdir -p $(LOGS)
	@echo "==> Debian packages for the real WordPress (wordpress php-cli php-mysql mariadb-server)"
	@bash pkg/connector/wordpress/wptest/wp.sh install || echo "!! could not install them: the WordPress tests will say SKIPPED"
	@echo "==> Debian packages for the README test (curl jq), if missing"
	@need=""; for p in curl jq; do command -v $$p >/dev/null || need="$$need $$p"; done; \
	if [ -n "$$need" ]; then (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$need >/dev/null) || echo "!! could not install$$need: the README test will say SKIPPED"; fi
	@echo "==> go test -race ./... (full log: $(LOGS)/test.log)"
	@set -o pipefail; go test -race -count=1 -timeout 20m -v ./... > $(LOGS)/test.log 2>&1; status=$$?; \
	grep -E '^(ok|FAIL|panic:|---? FAIL)|^\s+--- FAIL' $(LOGS)/test.log | grep -v '^\s*$$'; \
	if [ $$status -ne 0 ]; then echo; echo "==> failures (from $(LOGS)/test.log):"; grep -E -B2 -A25 -- '--- FAIL' $(LOGS)/test.log | head -300; \
		echo; echo "==> what each failing test logged:"; \
		awk 'NR==FNR { if (match($$0, /--- FAIL: [^ ]+/)) fail[substr($$0, RSTART+10, RLENGTH-10)]=1; next } \
			/^=== (RUN|CONT|PAUSE|NAME)/ { p = ($$3 in fail); if (p) print; next } \
			/^ *--- (PASS|FAIL|SKIP)/ { p = 0 } p' $(LOGS)/test.log $(LOGS)/test.log | head -300; fi; \
	skips=$$(grep -E -- '--- SKIP' $(LOGS)/test.log | wc -l); \
	passed=$$(grep -cE -- '^\s*--- PASS' $(LOGS)/test.log); failed=$$(grep -cE -- '^\s*--- FAIL' $(LOGS)/test.log); \
	if [ $$skips -gt 0 ]; then \
		echo; echo "######################################################################"; \
		echo "## SKIPPED: $$skips test(s) did not run their real part:"; \
		grep -E -A2 -- '--- SKIP' $(LOGS)/test.log | grep -E -- '--- SKIP|SKIPPED' | sed 's/^/##   /'; \
		echo "######################################################################"; \
		if [ "$$CI" = "true" ]; then echo "CI=true: a skipped test is a failure."; status=1; fi; \
	fi; \
	echo; echo "tests: $$passed passed, $$failed failed, $$skips skipped"; \
	exit $$status

lint: $(BIN)/staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	go vet ./...
	$(BIN)/staticcheck ./...
	cfn-lint template.yaml

$(BIN)/staticcheck:
	GOBIN=$(BIN) go install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

# sam build runs build-<LogicalId> with ARTIFACTS_DIR set (BuildMethod: makefile).
build-%:
	@test -n "$(call dir_of,$*)" || { echo "no function $* in the Makefile's FUNCTIONS"; exit 1; }
	$(LAMBDA_BUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/$(call dir_of,$*)

build:
	@for f in $(FUNCTIONS); do id=$${f%%:*}; dir=$${f##*:}; \
		$(MAKE) --no-print-directory build-$$id ARTIFACTS_DIR=$(CURDIR)/.build/$$dir || exit 1; done
	@ls -l .build/*/bootstrap | awk '{printf "%-45s %6.1f MiB\n", $$9, $$5/1048576}'

bench: build
	@echo; echo "==> Lambda binaries (linux/arm64) and cold start to first /next (host build, Runtime API emulator)"
	@go run ./functions/internal/benchtable .build $(FUNCTIONS)
	@echo; echo "==> warm handler latency on embedded backends; purging a deleted integration's 100,000 records (jobs, time) on embedded and moto;"
	@echo "    a full sync of 100,000 records through the engine, its queue and workers (Sync100k: records/s, and ddb-req/record on moto)"
	@echo "    (JOINERY_BENCH_RECORDS=n: n records for the sync and the moto purge, for a quicker measure)"
	@echo "    outbound webhooks in-process (Notify: record events emitted/s and delivered/s to one endpoint; JOINERY_BENCH_EVENTS=n)"
	@echo "    SyncNotify: the full sync on embedded with notifications off, then on (an endpoint subscribed to every event, fanned out"
	@echo "    and delivered while the sync runs): records/s-off, records/s-on, the sync's slowdown-% with them on, and delivered-during-sync"
	@echo "    inbound webhooks: VerifyParse is verify and parse alone per platform, on every core (deliveries/s; target 20,000/s on 2 cores)"
	@echo "    ReceiveEmbedded: a webhook function end to end (verify, route, durable dedupe, queue, count) on embedded, 256 deliveries in flight (deliveries/s; target 5,000/s on 2 cores);"
	@echo "    ReceiveMoto: one delivery's handler latency against DynamoDB and SQS on moto (p50, p99 in ms: moto's, compare rather than quote)"
	@go test -count=1 -run '^$$' -bench . -benchmem -timeout 120m ./pkg/... | grep -E '^(Benchmark|ok|FAIL|goos|cpu)|SKIP'
	@echo; echo "==> DynamoDB requests per GET route at 100,000 records, events and pushes, next to 10 (moto; compare the counts, not the times)"
	@if python3 -c 'import moto.server' 2>/dev/null; then \
		go test -count=1 -run '^$$' -bench 'RequestsPerRoute' -benchtime 1x -timeout 60m ./functions/local/ | grep -vE '^(goos|goarch|pkg|cpu|PASS|Benchmark)'; \
	else echo "######## SKIPPED (real dependency missing): moto_server (pip install 'moto[server]'): no request counts at 100,000 ########"; fi
	@echo; echo "==> sync against the real WordPress (1,052 posts; PHP's server with 4 workers): a full pull through"
	@echo "    queue, workers and store (and DynamoDB requests per record on moto), next to a plain sequential HTTP loop"
	@bash pkg/connector/wordpress/wptest/wp.sh install
	@go test -count=1 -run '^$$' -bench 'WordPress' -benchtime 1x ./functions/local/ | grep -E '^(Benchmark|ok|FAIL)' | \
		sed -E 's/-[0-9]+ +/ /; s/ +[0-9]+ +([0-9]+) ns\/op/  \1 ns/'

clean:
	rm -rf .build .bin $(LOGS)
