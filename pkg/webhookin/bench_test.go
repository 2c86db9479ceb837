package webhookin_test

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/joinery/joinery/pkg/awstest"
	"github.com/joinery/joinery/pkg/dynamostore"
	"github.com/joinery/joinery/pkg/embedded"
	"github.com/joinery/joinery/pkg/integration"
	"github.com/joinery/joinery/pkg/smsecrets"
	"github.com/joinery/joinery/pkg/sqsqueue"
	"github.com/joinery/joinery/pkg/webhook"
	"github.com/joinery/joinery/pkg/webhookin"
)

func TestMain(m *testing.M) { awstest.Main(m) }

type benchApps struct{}

func (benchApps) App(context.Context, string) (map[string]string, error) {
	return map[string]string{"client_secret": "bench-secret"}, nil
}

// shopifyDelivery is a signed Shopify delivery with event id id.
func shopifyDelivery(id string) webhook.Request {
	body := []byte(`{"id":9554194432293,"title":"T-Shirt","status":"active","updated_at":"2026-11-27T10:00:00Z"}`)
	h := http.Header{}
	h.Set("X-Shopify-Hmac-Sha256", webhook.SignShopify("bench-secret", body))
	h.Set("X-Shopify-Topic", "products/update")
	h.Set("X-Shopify-Shop-Domain", "bench.myshopify.com")
	h.Set("X-Shopify-Event-Id", id)
	return webhook.Request{Method: "POST", Path: "/webhooks/shopify", Header: h, Body: body}
}

// BenchmarkReceiveEmbedded measures the receiver end to end on the
// embedded backend, on every core: verify, route (one read), durable
// dedupe (the marker claimed pending, then set queued, in bbolt), queue
// (in memory) and count (target 5,000 deliveries/s on 2 cores).
func BenchmarkReceiveEmbedded(b *testing.B) {
	dir := b.TempDir()
	store, err := embedded.OpenStore(filepath.Join(dir, "joinery.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	ctx := context.Background()
	if err := store.PutWebhookRoute(ctx, integration.WebhookRoute{Platform: "shopify", Key: "bench.myshopify.com", AccountID: "acct-bench", IntegrationID: "int-bench"}); err != nil {
		b.Fatal(err)
	}
	q := embedded.NewQueue(embedded.QueueOptions{})
	rc := &webhookin.Receiver{Store: store, Apps: benchApps{}, Queue: q}
	var n atomic.Int64
	// Deliveries arrive concurrently (a function URL's invocations, the
	// runner's requests): bbolt's batched commits share one fsync among
	// them.
	b.SetParallelism(128) // 256 in flight on 2 cores
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if got := rc.Handle(ctx, shopifyDelivery(fmt.Sprint("ev-", n.Add(1)))); got.StatusCode != 200 {
				b.Errorf("%d %s", got.StatusCode, got.Body)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
}

// BenchmarkReceiveMoto measures one delivery's handler latency against
// DynamoDB and SQS (moto, on this machine: compare, don't quote): its
// p50 and p99 over sequential deliveries, a WordPress one (route,
// integration and its secret, read once then cached) and a Shopify one.
func BenchmarkReceiveMoto(b *testing.B) {
	endpoint := awstest.Moto(b)
	ctx := context.Background()
	cfg := awstest.Config(endpoint)
	suffix := fmt.Sprint(time.Now().UnixNano())
	ddb := dynamodb.NewFromConfig(cfg)
	table := "joinery-whbench-" + suffix
	if err := dynamostore.CreateTable(ctx, ddb, table); err != nil {
		b.Fatal(err)
	}
	store := dynamostore.New(ddb, table)
	sq := sqs.NewFromConfig(cfg)
	qURL, _, err := sqsqueue.CreateQueues(ctx, sq, "joinery-whbench-"+suffix, 30*time.Second, 5)
	if err != nil {
		b.Fatal(err)
	}
	secrets := smsecrets.New(secretsmanager.NewFromConfig(cfg), "joinery-whbench/"+suffix+"/", time.Minute)
	it := &integration.Integration{ID: "01JWHBENCH0000000000000000", AccountID: "acct-bench", SiteID: "site-1", Platform: "wordpress",
		ExternalSiteURL: "https://blog.example.com", IsActive: true, CreatedAt: time.Now(), UpdatedAt: time.Now(), Version: 1}
	wpSecret, _ := webhook.NewStandardSecret()
	v, err := secrets.PutSecret(ctx, integration.SecretRef{AccountID: it.AccountID, IntegrationID: it.ID, SiteID: it.SiteID, Platform: it.Platform},
		map[string]string{"username": "u", "app_password": "p", webhookin.SecretField: wpSecret})
	if err != nil {
		b.Fatal(err)
	}
	it.Credentials = integration.CredentialsRef{SecretName: v.Name, VersionID: v.VersionID, Fields: []string{"app_password", "username", webhookin.SecretField}}
	if err := store.CreateIntegration(ctx, it); err != nil {
		b.Fatal(err)
	}
	for _, rt := range []integration.WebhookRoute{
		{Platform: "wordpress", Key: it.ID, AccountID: it.AccountID, IntegrationID: it.ID},
		{Platform: "shopify", Key: "bench.myshopify.com", AccountID: it.AccountID, IntegrationID: it.ID},
	} {
		if err := store.PutWebhookRoute(ctx, rt); err != nil {
			b.Fatal(err)
		}
	}
	rc := &webhookin.Receiver{Store: store, Secrets: secrets, Apps: benchApps{}, Queue: sqsqueue.New(sq, qURL, "")}
	wordpress := func(id string) webhook.Request {
		now := time.Now()
		body := []byte(`{"action":"post_updated","post_id":42,"post_type":"post","site_url":"https://blog.example.com"}`)
		h := http.Header{}
		h.Set("Webhook-Id", id)
		h.Set("Webhook-Timestamp", fmt.Sprint(now.Unix()))
		h.Set("Webhook-Signature", webhook.SignStandard(wpSecret, id, now, body))
		return webhook.Request{Method: "POST", Path: "/webhooks/wordpress/" + it.ID, Header: h, Body: body}
	}
	for _, c := range []struct {
		name string
		req  func(string) webhook.Request
	}{{"wordpress", wordpress}, {"shopify", shopifyDelivery}} {
		b.Run(c.name, func(b *testing.B) {
			// A Lambda kept warm: its secret cache filled.
			if got := rc.Handle(ctx, c.req(fmt.Sprint("warm-", c.name, suffix))); got.StatusCode != 200 {
				b.Fatalf("%d %s", got.StatusCode, got.Body)
			}
			times := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				req := c.req(fmt.Sprint(c.name, "-", suffix, "-", i))
				start := time.Now()
				got := rc.Handle(ctx, req)
				times = append(times, time.Since(start))
				if got.StatusCode != 200 {
					b.Fatalf("%d %s", got.StatusCode, got.Body)
				}
			}
			sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
			b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(times[(len(times)*99)/100].Microseconds())/1000, "p99-ms")
		})
	}
}
