package apigw_test

import (
	"context"
	"fmt"
	"testing"
)

// Warm latency of the create and get handlers on embedded backends: JSON in,
// validation, bbolt transaction, local AES-GCM secret, JSON out.
func BenchmarkCreate(b *testing.B) {
	api := newAPI(b)
	create := api.CreateIntegration()
	ev := loadEvent(b, "integrations-create.json")
	svc := api.Service
	n := 0
	svc.NewID = func() string { n++; return fmt.Sprintf("01JBENCH%018d", n) }
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		ev.Body = fmt.Sprintf(`{"site_id":"site-%d","platform":"wordpress","external_site_url":"https://blog.example.com","credentials":{"username":"admin","app_password":"abcd efgh ijkl mnop"}}`, i)
		if resp, _ := create(context.Background(), ev); resp.StatusCode != 201 {
			b.Fatalf("status %d: %s", resp.StatusCode, resp.Body)
		}
	}
}

func BenchmarkGet(b *testing.B) {
	api := newAPI(b)
	if resp, _ := api.CreateIntegration()(context.Background(), loadEvent(b, "integrations-create.json")); resp.StatusCode != 201 {
		b.Fatalf("create: %d", resp.StatusCode)
	}
	get := api.GetIntegration()
	ev := loadEvent(b, "integrations-get.json")
	b.ReportAllocs()
	for b.Loop() {
		if resp, _ := get(context.Background(), ev); resp.StatusCode != 200 {
			b.Fatalf("status %d: %s", resp.StatusCode, resp.Body)
		}
	}
}
