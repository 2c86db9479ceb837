package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/joinery/joinery/pkg/apigw"
)

// route is one API Gateway route: its key ("GET /v1/integrations/{id}"),
// whether the JWT authorizer guards it, the function behind it and that
// function's timeout (none: not enforced).
type route struct {
	key     string
	authJWT bool
	handler apigw.Handler
	timeout time.Duration
	// raw, when set, serves the route instead: a function URL's route,
	// which no API Gateway stands before.
	raw http.Handler
}

var pathParam = regexp.MustCompile(`\{([a-z_]+)\}`)

// maxRequestBytes mirrors the HTTP API's payload limit.
const maxRequestBytes = 10 << 20

// newServer serves routes the way API Gateway's HTTP API would invoke them.
func newServer(auth *devAuth, routes []route, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/jwks.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(auth.jwks)
	})
	for _, rt := range routes {
		if rt.raw != nil {
			mux.Handle(rt.key, rt.raw)
			continue
		}
		mux.HandleFunc(rt.key, func(w http.ResponseWriter, r *http.Request) { invoke(w, r, rt, auth, log) })
	}
	// API Gateway answers unmatched routes (and methods) with this.
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		gatewayError(w, http.StatusNotFound, "Not Found")
	})
	return mux
}

func gatewayError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, `{"message":"`+msg+`"}`)
}

func invoke(w http.ResponseWriter, r *http.Request, rt route, auth *devAuth, log *slog.Logger) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBytes+1))
	if err != nil {
		gatewayError(w, http.StatusBadRequest, "Bad Request")
		return
	}
	if len(body) > maxRequestBytes {
		gatewayError(w, http.StatusRequestEntityTooLarge, "Request Entity Too Large")
		return
	}
	ev := toEvent(r, rt, body)
	if rt.authJWT {
		claims, err := auth.verify(r.Header.Get("Authorization"))
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			gatewayError(w, http.StatusUnauthorized, "Unauthorized")
			return
		}
		ev.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
			JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: claims, Scopes: nil},
		}
	}
	// Lambda refuses an event over its payload limit before the function
	// runs; the gateway answers as it does for a body over its own.
	if size := requestSize(ev); size > apigw.MaxRequestBytes {
		log.Error("request over Lambda's payload limit", "route", rt.key, "bytes", size, "limit", apigw.MaxRequestBytes)
		gatewayError(w, http.StatusRequestEntityTooLarge, "Request Entity Too Large")
		return
	}
	resp, err := within(r.Context(), rt.timeout, func(ctx context.Context) (events.APIGatewayV2HTTPResponse, error) {
		return rt.handler(ctx, ev)
	})
	if err != nil {
		// A function error (or timeout) is a 500 from the gateway, with
		// no detail.
		log.Error("function error", "route", rt.key, "err", err)
		gatewayError(w, http.StatusInternalServerError, "Internal Server Error")
		return
	}
	// Lambda fails an invocation whose response is over its payload
	// limit; the gateway sees a function error.
	if size := apigw.EnvelopeSize(resp); size > apigw.MaxResponseBytes {
		log.Error("response over Lambda's payload limit", "route", rt.key, "bytes", size, "limit", apigw.MaxResponseBytes)
		gatewayError(w, http.StatusInternalServerError, "Internal Server Error")
		return
	}
	for k, v := range resp.Headers {
		w.Header().Set(k, v)
	}
	for k, vs := range resp.MultiValueHeaders {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	for _, c := range resp.Cookies {
		w.Header().Add("Set-Cookie", c)
	}
	out := []byte(resp.Body)
	if resp.IsBase64Encoded {
		if out, err = base64.StdEncoding.DecodeString(resp.Body); err != nil {
			gatewayError(w, http.StatusInternalServerError, "Internal Server Error")
			return
		}
	}
	status := resp.StatusCode
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, _ = w.Write(out)
}

// requestSize is the size of the event Lambda is invoked with (encoded,
// as the gateway does, without HTML escaping).
func requestSize(ev events.APIGatewayV2HTTPRequest) int {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(ev); err != nil {
		return apigw.MaxRequestBytes + 1
	}
	return buf.Len() - 1 // the encoder's newline
}

// toEvent builds the payload format 2.0 event API Gateway would send.
func toEvent(r *http.Request, rt route, body []byte) events.APIGatewayV2HTTPRequest {
	headers := make(map[string]string, len(r.Header))
	for k, vs := range r.Header {
		headers[strings.ToLower(k)] = strings.Join(vs, ",")
	}
	var cookies []string
	if c, ok := headers["cookie"]; ok {
		cookies = strings.Split(c, "; ")
		delete(headers, "cookie")
	}
	query := map[string]string{}
	for k, vs := range r.URL.Query() {
		query[k] = strings.Join(vs, ",")
	}
	params := map[string]string{}
	for _, m := range pathParam.FindAllStringSubmatch(rt.key, -1) {
		params[m[1]] = r.PathValue(m[1])
	}
	now := time.Now()
	ev := events.APIGatewayV2HTTPRequest{
		Version:               "2.0",
		RouteKey:              rt.key,
		RawPath:               r.URL.EscapedPath(),
		RawQueryString:        r.URL.RawQuery,
		Cookies:               cookies,
		Headers:               headers,
		QueryStringParameters: query,
		PathParameters:        params,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey:   rt.key,
			AccountID:  "000000000000",
			Stage:      "$default",
			RequestID:  requestID(),
			APIID:      "local",
			DomainName: r.Host,
			Time:       now.UTC().Format("02/Jan/2006:15:04:05 -0700"),
			TimeEpoch:  now.UnixMilli(),
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method: r.Method, Path: r.URL.Path, Protocol: r.Proto,
				SourceIP: sourceIP(r), UserAgent: r.UserAgent(),
			},
		},
	}
	if len(query) == 0 {
		ev.QueryStringParameters = nil
	}
	if len(params) == 0 {
		ev.PathParameters = nil
	}
	if len(body) > 0 {
		if isText(r.Header.Get("Content-Type")) {
			ev.Body = string(body)
		} else {
			ev.Body = base64.StdEncoding.EncodeToString(body)
			ev.IsBase64Encoded = true
		}
	}
	return ev
}

// isText reports whether API Gateway would pass the body as text.
func isText(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return contentType == ""
	}
	return strings.HasPrefix(mt, "text/") || mt == "application/json" || strings.HasSuffix(mt, "+json") ||
		mt == "application/x-www-form-urlencoded" || mt == "application/xml"
}

func sourceIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func requestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
