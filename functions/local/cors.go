package main

import (
	"net/http"
	"strconv"
	"strings"
)

// The HttpApi's CorsConfiguration in template.yaml, which the runner
// applies as API Gateway does (a test checks the two agree); the allowed
// origins are the deployment's own (CorsAllowOrigins, JOINERY_CORS_ORIGINS).
var (
	corsMethods = []string{"GET", "POST", "PATCH", "DELETE", "OPTIONS"}
	corsHeaders = []string{"Authorization", "Content-Type", "If-Match", "X-Joinery-Account"}
	corsExpose  = []string{"ETag"}
	corsMaxAge  = 600
)

// parseOrigins reads a comma-separated list of origins.
func parseOrigins(raw string) []string {
	var out []string
	for _, o := range strings.Split(raw, ",") {
		if o = strings.TrimSpace(o); o != "" {
			out = append(out, strings.TrimSuffix(o, "/"))
		}
	}
	return out
}

// allowOrigin is the Access-Control-Allow-Origin value for a request's
// origin: "*" when any origin is allowed, the origin itself when it is
// listed (or matches a listed "https://*"), none otherwise.
func allowOrigin(origins []string, origin string) (string, bool) {
	if origin == "" {
		return "", false
	}
	for _, o := range origins {
		switch {
		case o == "*":
			return "*", true
		case strings.HasSuffix(o, "://*") && strings.HasPrefix(strings.ToLower(origin), strings.ToLower(strings.TrimSuffix(o, "*"))):
			return origin, true
		case strings.EqualFold(o, origin):
			return origin, true
		}
	}
	return "", false
}

// withCORS answers CORS as the HTTP API does with a CorsConfiguration: it
// answers preflights itself, on any path, before routing and
// authorization (a disallowed origin gets a 204 with no CORS headers, and
// the browser refuses the call); it adds the CORS headers to every other
// response to an allowed origin, in place of any a function set. With no
// origins CORS is off and OPTIONS is routed like any other method.
func withCORS(next http.Handler, origins []string) http.Handler {
	if len(origins) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		allow, ok := allowOrigin(origins, r.Header.Get("Origin"))
		if r.Method == http.MethodOptions && r.Header.Get("Origin") != "" && r.Header.Get("Access-Control-Request-Method") != "" {
			if ok {
				h := w.Header()
				h.Set("Access-Control-Allow-Origin", allow)
				h.Set("Access-Control-Allow-Methods", strings.Join(corsMethods, ","))
				h.Set("Access-Control-Allow-Headers", strings.Join(corsHeaders, ","))
				h.Set("Access-Control-Max-Age", strconv.Itoa(corsMaxAge))
				if allow != "*" {
					h.Add("Vary", "Origin")
				}
			}
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(&corsWriter{ResponseWriter: w, allow: allow, ok: ok}, r)
	})
}

// corsWriter sets the CORS headers of an actual (not preflight) response.
type corsWriter struct {
	http.ResponseWriter
	allow   string
	ok      bool
	written bool
}

func (c *corsWriter) WriteHeader(status int) {
	if !c.written {
		c.written = true
		h := c.ResponseWriter.Header()
		for k := range h {
			if strings.HasPrefix(k, "Access-Control-") {
				h.Del(k)
			}
		}
		if c.ok {
			h.Set("Access-Control-Allow-Origin", c.allow)
			h.Set("Access-Control-Expose-Headers", strings.Join(corsExpose, ","))
			if c.allow != "*" {
				h.Add("Vary", "Origin")
			}
		}
	}
	c.ResponseWriter.WriteHeader(status)
}

func (c *corsWriter) Write(b []byte) (int, error) {
	if !c.written {
		c.WriteHeader(http.StatusOK)
	}
	return c.ResponseWriter.Write(b)
}
