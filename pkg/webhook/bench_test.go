package webhook

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkVerifyParse measures what a webhook function does per delivery
// before any I/O: verify and parse, on every core (target: 20,000
// deliveries/s on 2 cores). shopify_6KiB is a product update of a
// realistic size (variants, images, body_html).
func BenchmarkVerifyParse(b *testing.B) {
	fs := fixtures(b)
	var big strings.Builder
	big.WriteString(`{"id":9554194432293,"title":"T-Shirt","body_html":"<p>Soft cotton.</p>","variants":[`)
	for i := 0; big.Len() < 6<<10; i++ {
		if i > 0 {
			big.WriteString(",")
		}
		fmt.Fprintf(&big, `{"id":4926%06d,"product_id":9554194432293,"sku":"TS-%d","price":"19.00","inventory_quantity":10,"updated_at":"2025-04-22T14:30:00-05:00"}`, i, i)
	}
	big.WriteString(`]}`)
	for _, f := range fs {
		if f.platform == "shopify" {
			r := clone(f.req)
			r.Body = []byte(big.String())
			r.Header.Set("X-Shopify-Hmac-Sha256", SignShopify(shopSecret, r.Body))
			f.platform, f.req = "shopify_6KiB", r
			fs = append(fs, f)
			break
		}
	}
	for _, f := range fs {
		s, _ := For(strings.TrimSuffix(f.platform, "_6KiB"))
		b.Run(f.platform, func(b *testing.B) {
			if err := s.Verify(f.req, f.keys, now); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if s.Verify(f.req, f.keys, now) != nil {
						b.Error("not verified")
						return
					}
					if _, err := s.Parse(f.req); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
		})
	}
}
