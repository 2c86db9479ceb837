package functions_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go/middleware"
	"github.com/joinery/joinery/functions/internal/awsapp"
	"github.com/joinery/joinery/pkg/awstest"
	"github.com/joinery/joinery/pkg/dynamostore"
	"github.com/joinery/joinery/pkg/fakeplatforms"
	"github.com/joinery/joinery/pkg/smsecrets"
	"github.com/joinery/joinery/pkg/sqsqueue"
	"gopkg.in/yaml.v3"
)

// The ARNs the test's resources would have in AWS.
const (
	iamRegion  = "us-east-1"
	iamAccount = "123456789012"
)

// awsCall is one SDK operation a function performed: the IAM actions it
// needs and the ARN it needs them on.
type awsCall struct {
	Function string
	Action   string // e.g. dynamodb:GetItem
	Resource string // an ARN
}

// callRecorder collects the calls of every function's clients.
type callRecorder struct {
	mu    sync.Mutex
	calls map[awsCall]string // the SDK operation that needed it
	// fail makes a function's calls needing an action fail after they
	// are recorded ("function action" → true): the paths taken when AWS
	// fails.
	fail map[string]bool
}

// option records the calls of function fn's clients.
func (r *callRecorder) option(fn string) func(*middleware.Stack) error {
	return func(st *middleware.Stack) error {
		return st.Initialize.Add(middleware.InitializeMiddlewareFunc("RecordIAM",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				op := awsmiddleware.GetOperationName(ctx)
				fail := false
				for _, c := range r.needs(awsmiddleware.GetServiceID(ctx), op, in.Parameters) {
					c.Function = fn
					r.mu.Lock()
					r.calls[c] = op
					fail = fail || r.fail[fn+" "+c.Action]
					r.mu.Unlock()
				}
				if fail {
					return middleware.InitializeOutput{}, middleware.Metadata{}, fmt.Errorf("%s failed (injected by the test)", op)
				}
				return next.HandleInitialize(ctx, in)
			}), middleware.After)
	}
}

func tableARN(name, index string) string {
	arn := fmt.Sprintf("arn:aws:dynamodb:%s:%s:table/%s", iamRegion, iamAccount, name)
	if index != "" {
		arn += "/index/" + index
	}
	return arn
}

func queueARN(name string) string {
	return fmt.Sprintf("arn:aws:sqs:%s:%s:%s", iamRegion, iamAccount, name)
}

func secretARN(id string) string {
	if strings.HasPrefix(id, "arn:") {
		return id
	}
	// Secrets Manager appends six random characters to a secret's name.
	return fmt.Sprintf("arn:aws:secretsmanager:%s:%s:secret:%s-AbCdEf", iamRegion, iamAccount, id)
}

// needs is what IAM asks for one SDK call, per the service authorization
// reference: a transaction needs each item's own action, a batch call of
// SQS its single-message action, a secret created with tags TagResource.
func (r *callRecorder) needs(service, op string, params any) []awsCall {
	var out []awsCall
	add := func(action, resource string) { out = append(out, awsCall{Action: action, Resource: resource}) }
	s := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	switch service {
	case "DynamoDB":
		switch p := params.(type) {
		case *dynamodb.TransactWriteItemsInput:
			for _, it := range p.TransactItems {
				switch {
				case it.Put != nil:
					add("dynamodb:PutItem", tableARN(s(it.Put.TableName), ""))
				case it.Update != nil:
					add("dynamodb:UpdateItem", tableARN(s(it.Update.TableName), ""))
				case it.Delete != nil:
					add("dynamodb:DeleteItem", tableARN(s(it.Delete.TableName), ""))
				case it.ConditionCheck != nil:
					add("dynamodb:ConditionCheckItem", tableARN(s(it.ConditionCheck.TableName), ""))
				}
			}
		case *dynamodb.TransactGetItemsInput:
			for _, it := range p.TransactItems {
				add("dynamodb:GetItem", tableARN(s(it.Get.TableName), ""))
			}
		case *dynamodb.BatchWriteItemInput:
			for t := range p.RequestItems {
				add("dynamodb:BatchWriteItem", tableARN(t, ""))
			}
		case *dynamodb.BatchGetItemInput:
			for t := range p.RequestItems {
				add("dynamodb:BatchGetItem", tableARN(t, ""))
			}
		case *dynamodb.QueryInput:
			add("dynamodb:Query", tableARN(s(p.TableName), s(p.IndexName)))
		case *dynamodb.ScanInput:
			add("dynamodb:Scan", tableARN(s(p.TableName), s(p.IndexName)))
		default:
			// Single-item calls name their table in TableName.
			name := reflectString(params, "TableName")
			add("dynamodb:"+op, tableARN(name, ""))
		}
	case "SQS":
		u := reflectString(params, "QueueUrl")
		name := u[strings.LastIndex(u, "/")+1:]
		add("sqs:"+strings.TrimSuffix(op, "Batch"), queueARN(name))
	case "EventBridge":
		for _, e := range params.(*eventbridge.PutEventsInput).Entries {
			add("events:"+op, fmt.Sprintf("arn:aws:events:%s:%s:event-bus/%s", iamRegion, iamAccount, s(e.EventBusName)))
		}
	case "Secrets Manager":
		id := reflectString(params, "SecretId")
		if id == "" {
			id = reflectString(params, "Name")
		}
		add("secretsmanager:"+op, secretARN(id))
		if p, ok := params.(*secretsmanager.CreateSecretInput); ok && len(p.Tags) > 0 {
			add("secretsmanager:TagResource", secretARN(id))
		}
	default:
		add(strings.ToLower(strings.ReplaceAll(service, " ", ""))+":"+op, "*")
	}
	return out
}

// reflectString reads a string field of an SDK input through its JSON
// form (the SDK's inputs are plain structs of pointers).
func reflectString(params any, field string) string {
	b, _ := json.Marshal(params)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	v, _ := m[field].(string)
	return v
}

// grant is one Allow statement of a function's policies, resolved.
type grant struct {
	actions   []string
	resources []string
}

// policyTemplates are the SAM policy templates' statements, as documented
// (github.com/aws/serverless-application-model, policy_templates.json),
// with their parameter written ${Param}.
var policyTemplates = map[string][]grant{
	"DynamoDBCrudPolicy": {{actions: []string{"dynamodb:GetItem", "dynamodb:DeleteItem", "dynamodb:PutItem", "dynamodb:Scan", "dynamodb:Query",
		"dynamodb:UpdateItem", "dynamodb:BatchWriteItem", "dynamodb:BatchGetItem", "dynamodb:DescribeTable", "dynamodb:ConditionCheckItem"},
		resources: []string{"arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${TableName}",
			"arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${TableName}/index/*"}}},
	"DynamoDBReadPolicy": {{actions: []string{"dynamodb:GetItem", "dynamodb:Scan", "dynamodb:Query", "dynamodb:BatchGetItem", "dynamodb:DescribeTable"},
		resources: []string{"arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${TableName}",
			"arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${TableName}/index/*"}}},
	"DynamoDBWritePolicy": {{actions: []string{"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:BatchWriteItem"},
		resources: []string{"arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${TableName}",
			"arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${TableName}/index/*"}}},
	"SQSSendMessagePolicy": {{actions: []string{"sqs:SendMessage*"},
		resources: []string{"arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:${QueueName}"}}},
	"SQSPollerPolicy": {{actions: []string{"sqs:ChangeMessageVisibility", "sqs:ChangeMessageVisibilityBatch", "sqs:DeleteMessage",
		"sqs:DeleteMessageBatch", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"},
		resources: []string{"arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:${QueueName}"}}},
	"AWSSecretsManagerGetSecretValuePolicy": {{actions: []string{"secretsmanager:GetSecretValue"}, resources: []string{"${SecretArn}"}}},
}

// resolver turns the template's intrinsic functions into the values the
// test's resources have.
type resolver struct {
	refs       map[string]string     // !Ref X and ${X}
	attrs      map[string]string     // !GetAtt X.Y and ${X.Y}
	conditions map[string]*yaml.Node // the template's Conditions, for !If
}

func (v resolver) sub(s string, extra map[string]string) (string, error) {
	var bad error
	out := regexp.MustCompile(`\$\{([^}]+)\}`).ReplaceAllStringFunc(s, func(m string) string {
		k := m[2 : len(m)-1]
		if x, ok := extra[k]; ok {
			return x
		}
		if x, ok := v.refs[k]; ok {
			return x
		}
		if x, ok := v.attrs[k]; ok {
			return x
		}
		bad = fmt.Errorf("cannot resolve ${%s}", k)
		return m
	})
	return out, bad
}

// value resolves a scalar or an intrinsic function (short or long form).
func (v resolver) value(n *yaml.Node) (string, error) {
	if n.Kind == yaml.MappingNode && len(n.Content) == 2 {
		k, arg := n.Content[0].Value, n.Content[1]
		switch k {
		case "Ref":
			return v.value(&yaml.Node{Kind: yaml.ScalarNode, Tag: "!Ref", Value: arg.Value})
		case "Fn::GetAtt":
			if arg.Kind == yaml.SequenceNode {
				return v.value(&yaml.Node{Kind: yaml.ScalarNode, Tag: "!GetAtt", Value: arg.Content[0].Value + "." + arg.Content[1].Value})
			}
			return v.value(&yaml.Node{Kind: yaml.ScalarNode, Tag: "!GetAtt", Value: arg.Value})
		case "Fn::Sub":
			return v.value(&yaml.Node{Kind: arg.Kind, Tag: "!Sub", Value: arg.Value, Content: arg.Content})
		case "Fn::If":
			return v.value(&yaml.Node{Kind: arg.Kind, Tag: "!If", Content: arg.Content})
		}
	}
	switch n.Tag {
	case "!If":
		if n.Kind == yaml.SequenceNode && len(n.Content) == 3 {
			ok, err := v.condition(n.Content[0].Value)
			if err != nil {
				return "", err
			}
			if ok {
				return v.value(n.Content[1])
			}
			return v.value(n.Content[2])
		}
	case "!Ref":
		if x, ok := v.refs[n.Value]; ok {
			return x, nil
		}
	case "!GetAtt":
		if x, ok := v.attrs[n.Value]; ok {
			return x, nil
		}
	case "!Sub":
		if n.Kind == yaml.SequenceNode {
			extra := map[string]string{}
			for i := 0; i+1 < len(n.Content[1].Content); i += 2 {
				x, err := v.value(n.Content[1].Content[i+1])
				if err != nil {
					return "", err
				}
				extra[n.Content[1].Content[i].Value] = x
			}
			return v.sub(n.Content[0].Value, extra)
		}
		return v.sub(n.Value, nil)
	default:
		if n.Kind == yaml.ScalarNode {
			return n.Value, nil
		}
	}
	return "", fmt.Errorf("line %d: cannot resolve %s %q", n.Line, n.Tag, n.Value)
}

func (v resolver) list(n *yaml.Node) ([]string, error) {
	nodes := []*yaml.Node{n}
	if n.Kind == yaml.SequenceNode && n.Tag == "!!seq" { // not !Sub [...] or !If [...]
		nodes = n.Content
	}
	var out []string
	for _, x := range nodes {
		s, err := v.value(x)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func mapGet(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// functionGrants reads each function's Allow statements from template.yaml,
// inline or as SAM policy templates.
func functionGrants(t *testing.T, path string, v resolver) map[string][]grant {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	res := mapGet(doc.Content[0], "Resources")
	out := map[string][]grant{}
	for i := 0; i+1 < len(res.Content); i += 2 {
		id, r := res.Content[i].Value, res.Content[i+1]
		if mapGet(r, "Type").Value != "AWS::Serverless::Function" {
			continue
		}
		out[id] = []grant{}
		pol := mapGet(mapGet(r, "Properties"), "Policies")
		if pol == nil {
			continue
		}
		for _, p := range pol.Content {
			if p.Kind == yaml.ScalarNode {
				t.Fatalf("%s: managed policy %q: the test cannot tell what it allows", id, p.Value)
			}
			if st := mapGet(p, "Statement"); st != nil {
				for _, s := range st.Content {
					if mapGet(s, "Effect").Value != "Allow" {
						t.Fatalf("%s: only Allow statements are understood", id)
					}
					if mapGet(s, "Condition") != nil || mapGet(s, "NotAction") != nil || mapGet(s, "NotResource") != nil {
						t.Fatalf("%s: Condition, NotAction and NotResource are not understood", id)
					}
					actions, err := v.list(mapGet(s, "Action"))
					if err != nil {
						t.Fatalf("%s: %v", id, err)
					}
					resources, err := v.list(mapGet(s, "Resource"))
					if err != nil {
						t.Fatalf("%s: %v", id, err)
					}
					out[id] = append(out[id], grant{actions: actions, resources: resources})
				}
				continue
			}
			name, args := p.Content[0].Value, p.Content[1]
			tpl, ok := policyTemplates[name]
			if !ok {
				t.Fatalf("%s: policy template %s is unknown to the test: add its documented statements", id, name)
			}
			extra := map[string]string{}
			for j := 0; j+1 < len(args.Content); j += 2 {
				x, err := v.value(args.Content[j+1])
				if err != nil {
					t.Fatalf("%s: %s: %v", id, name, err)
				}
				extra[args.Content[j].Value] = x
			}
			for _, g := range tpl {
				var rs []string
				for _, r := range g.resources {
					x, err := v.sub(r, extra)
					if err != nil {
						t.Fatalf("%s: %s: %v", id, name, err)
					}
					rs = append(rs, x)
				}
				out[id] = append(out[id], grant{actions: g.actions, resources: rs})
			}
		}
	}
	return out
}

// globMatch is IAM's matching: * any run of characters, ? one, case
// sensitive for resources (actions are compared lower-cased).
func globMatch(pattern, s string) bool {
	re := "^" + strings.ReplaceAll(strings.ReplaceAll(regexp.QuoteMeta(pattern), `\*`, ".*"), `\?`, ".") + "$"
	return regexp.MustCompile(re).MatchString(s)
}

func allowed(grants []grant, c awsCall) bool {
	for _, g := range grants {
		if !slices.ContainsFunc(g.actions, func(a string) bool { return globMatch(strings.ToLower(a), strings.ToLower(c.Action)) }) {
			continue
		}
		if slices.ContainsFunc(g.resources, func(r string) bool { return globMatch(r, c.Resource) }) {
			return true
		}
	}
	return false
}

// fakeWordPress answers what the connector asks of a small site: a user
// who may publish, *posts posts, empty everything else, and a created post.
func fakeWordPress(posts *atomic.Int32) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		route := strings.TrimPrefix(r.URL.Path, "/wp-json/wp/v2/")
		q := r.URL.Query()
		list := func(items []map[string]any) {
			perPage, page, start := 10, 1, 0
			if v, err := strconv.Atoi(q.Get("per_page")); err == nil && v > 0 {
				perPage = v
			}
			if v, err := strconv.Atoi(q.Get("page")); err == nil && v > 0 {
				page = v
			}
			start = (page - 1) * perPage
			if v, err := strconv.Atoi(q.Get("offset")); err == nil {
				start = v
			}
			w.Header().Set("X-WP-Total", fmt.Sprint(len(items)))
			w.Header().Set("X-WP-TotalPages", fmt.Sprint((len(items)+perPage-1)/perPage))
			items = items[min(start, len(items)):min(start+perPage, len(items))]
			if q.Get("_fields") == "id" {
				ids := []map[string]any{}
				for _, it := range items {
					ids = append(ids, map[string]any{"id": it["id"]})
				}
				items = ids
			}
			_ = json.NewEncoder(w).Encode(items)
		}
		switch {
		case route == "users/me":
			fmt.Fprint(w, `{"id":1,"name":"Editor","slug":"editor","roles":["editor"],"capabilities":{"publish_posts":true,"upload_files":true}}`)
		case route == "types" || route == "taxonomies":
			fmt.Fprint(w, `{}`)
		case strings.HasPrefix(route, "posts/") && r.Method == http.MethodGet:
			// Edited on the site after every push: a push over it meets a conflict.
			id := strings.TrimPrefix(route, "posts/")
			fmt.Fprintf(w, `{"id":%s,"status":"publish","title":{"raw":"Edited on the site"},"content":{"raw":"<p>y</p>"},"date_gmt":"2026-01-02T00:00:00","modified_gmt":"2026-01-03T00:00:00","link":"https://wp.example.com/?p=%s"}`, id, id)
		case route == "posts" && r.Method == http.MethodGet:
			var items []map[string]any
			for id := 1; id <= int(posts.Load()); id++ {
				modified := time.Date(2026, 1, 1, 0, 0, id, 0, time.UTC).Format("2006-01-02T15:04:05")
				items = append(items, map[string]any{"id": id, "status": "publish", "title": map[string]any{"raw": fmt.Sprint("Post ", id)},
					"content": map[string]any{"raw": "<p>Body</p>"}, "link": fmt.Sprint("https://wp.example.com/?p=", id),
					"date_gmt": "2026-01-01T00:00:00", "modified_gmt": modified})
			}
			list(items)
		case r.Method == http.MethodGet:
			list([]map[string]any{})
		case strings.HasPrefix(route, "posts") && r.Method == http.MethodPost:
			_, _ = io.Copy(io.Discard, r.Body)
			w.WriteHeader(http.StatusCreated)
			fmt.Fprint(w, `{"id":77,"status":"publish","title":{"raw":"Pushed"},"content":{"raw":"<p>x</p>"},"date_gmt":"2026-01-02T00:00:00","modified_gmt":"2026-01-02T00:00:00","link":"https://wp.example.com/?p=77"}`)
		case strings.HasPrefix(route, "categories") || strings.HasPrefix(route, "tags"):
			_, _ = io.Copy(io.Discard, r.Body)
			w.WriteHeader(http.StatusCreated)
			fmt.Fprint(w, `{"id":5,"name":"News","slug":"news"}`)
		default:
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"code":"rest_no_route","message":"No route was found matching the URL and request method."}`)
		}
	})
}

// iamFunction is how one function's main.go builds it: the Env fields it
// sets and the handler it starts (checked against main.go).
type iamFunction struct {
	dir   string
	env   []string // Env fields main.go sets
	start string   // what main.go hands lambda.Start, after "app."
	// wires: more of main.go the build does as well.
	wires []string
	// noAWS: the function calls no AWS API (the template must then grant
	// it nothing), so the scenario runs it without expecting a call.
	noAWS bool
	build func(env awsapp.Env) any
}

// iamHarness runs each function as its own Lambda would: its own App,
// its own SDK clients, recorded.
type iamHarness struct {
	t        *testing.T
	rec      *callRecorder
	handlers map[string]any
	setup    *dynamostore.Store
	// The event source mapping's side, unrecorded.
	sqs       *sqs.Client
	queueURL  string
	queueName string
	notifyURL string
	posts     *atomic.Int32 // the fake WordPress's posts
	slack     *fakeplatforms.Server
	jira      *fakeplatforms.Server
	// secrets reads and changes the integrations' secrets, unrecorded.
	secrets *smsecrets.Secrets

	// The webhook queue, and its name.
	webhookQueueURL, webhookQueueName string
}

// byHost sends each request by its host ("": any other).
type byHost map[string]http.RoundTripper

func (b byHost) RoundTrip(req *http.Request) (*http.Response, error) {
	if rt, ok := b[req.URL.Hostname()]; ok {
		return rt.RoundTrip(req)
	}
	return b[""].RoundTrip(req)
}

func (h *iamHarness) api(fn, method, path string, pathParams map[string]string, query map[string]string, body any, headers map[string]string) events.APIGatewayV2HTTPResponse {
	h.t.Helper()
	var raw string
	if body != nil {
		b, _ := json.Marshal(body)
		raw = string(b)
	}
	req := events.APIGatewayV2HTTPRequest{
		RouteKey: method + " " + path, RawPath: path, PathParameters: pathParams, QueryStringParameters: query, Body: raw,
		Headers: map[string]string{"content-type": "application/json"},
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: method, Path: path},
			Authorizer: &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{
				Claims: map[string]string{"sub": "user-1", "account_id": "acct-iam", "role": "owner"}}},
		},
	}
	for k, v := range headers {
		req.Headers[k] = v
	}
	if headers["authorization"] != "" {
		req.RequestContext.Authorizer = nil
	}
	hf, ok := h.handlers[fn].(func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error))
	if !ok {
		h.t.Fatalf("%s is not an API function", fn)
	}
	resp, err := hf(context.Background(), req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	if resp.StatusCode >= 500 {
		h.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, resp.Body)
	}
	return resp
}

// drain runs the sync worker over the queue until it is empty, as the
// event source mapping would. Receives are never cancelled: a request
// abandoned mid-dial leaves an idle connection that blocks the
// single-threaded moto server.
func (h *iamHarness) drain() {
	h.t.Helper()
	ctx := context.Background()
	worker := h.handlers["SyncWorkerFunction"].(func(context.Context, events.SQSEvent) (events.SQSEventResponse, error))
	failures := map[string]int{}
	for range 100 {
		out, err := h.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &h.queueURL, MaxNumberOfMessages: 10,
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll}})
		if err != nil {
			h.t.Fatalf("receive: %v", err)
		}
		if len(out.Messages) == 0 {
			return
		}
		ev := events.SQSEvent{}
		for _, m := range out.Messages {
			ev.Records = append(ev.Records, events.SQSMessage{MessageId: *m.MessageId, ReceiptHandle: *m.ReceiptHandle, Body: *m.Body,
				Attributes: m.Attributes, EventSource: "aws:sqs", EventSourceARN: queueARN(h.queueName), AWSRegion: iamRegion})
		}
		resp, err := worker(ctx, ev)
		if err != nil {
			h.t.Fatalf("worker: %v", err)
		}
		failed := map[string]bool{}
		for _, f := range resp.BatchItemFailures {
			failed[f.ItemIdentifier] = true
		}
		for _, m := range ev.Records {
			if failed[m.MessageId] {
				if failures[m.Body]++; failures[m.Body] > 5 {
					h.t.Fatalf("the worker keeps failing job %s", m.Body)
				}
				continue
			}
			if _, err := h.sqs.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &h.queueURL, ReceiptHandle: &m.ReceiptHandle}); err != nil {
				h.t.Fatalf("delete: %v", err)
			}
		}
	}
	h.t.Fatal("the sync queue did not empty")
}

// drainNotify runs the deliver function over the notifications queue's
// visible messages, as its event source mapping would.
func (h *iamHarness) drainNotify() {
	h.t.Helper()
	ctx := context.Background()
	deliver := h.handlers["NotifyDeliverFunction"].(func(context.Context, events.SQSEvent) (events.SQSEventResponse, error))
	for range 20 {
		out, err := h.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &h.notifyURL, MaxNumberOfMessages: 10})
		if err != nil {
			h.t.Fatalf("receive: %v", err)
		}
		if len(out.Messages) == 0 {
			return
		}
		ev := events.SQSEvent{}
		for _, m := range out.Messages {
			ev.Records = append(ev.Records, events.SQSMessage{MessageId: *m.MessageId, ReceiptHandle: *m.ReceiptHandle, Body: *m.Body})
		}
		resp, err := deliver(ctx, ev)
		if err != nil || len(resp.BatchItemFailures) > 0 {
			h.t.Fatalf("deliver: %+v %v", resp, err)
		}
		for _, m := range ev.Records {
			if _, err := h.sqs.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &h.notifyURL, ReceiptHandle: &m.ReceiptHandle}); err != nil {
				h.t.Fatalf("delete: %v", err)
			}
		}
	}
	h.t.Fatal("the notifications queue did not empty")
}

func decodeBody(t *testing.T, resp events.APIGatewayV2HTTPResponse, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(resp.Body), v); err != nil {
		t.Fatalf("body %s: %v", resp.Body, err)
	}
}

// Every AWS call each function makes on its code paths — the requests of
// the API, an interrupted delete finished by a create, an onboarding or a
// repeated delete, syncs, pushes, cancels, purges and the scheduler — is
// allowed to that function by template.yaml. moto allows everything, so
// without this a missing action shows only in AWS.
func TestIAMCoversCalls(t *testing.T) {
	endpoint := awstest.Moto(t)
	ctx := context.Background()
	suffix := fmt.Sprint(time.Now().UnixNano())
	// The stack is rendered as a new one (SecretPrefix empty), whose
	// secrets are named joinery/<stack name>/.
	stack := "iam-" + suffix
	table, queueName, prefix := "joinery-iam-"+suffix, "joinery-iam-"+suffix, "joinery/"+stack+"/"
	cfg := awstest.Config(endpoint)
	ddb := dynamodb.NewFromConfig(cfg)
	if err := dynamostore.CreateTable(ctx, ddb, table); err != nil {
		t.Fatal(err)
	}
	sq := sqs.NewFromConfig(cfg)
	qURL, _, err := sqsqueue.CreateQueues(ctx, sq, queueName, 30*time.Second, 5)
	if err != nil {
		t.Fatal(err)
	}
	notifyURL, _, err := sqsqueue.CreateQueues(ctx, sq, queueName+"-notify", 60*time.Second, 10)
	if err != nil {
		t.Fatal(err)
	}
	bus := "joinery-iam-" + suffix
	if _, err := eventbridge.NewFromConfig(cfg).CreateEventBus(ctx, &eventbridge.CreateEventBusInput{Name: aws.String(bus)}); err != nil {
		t.Fatal(err)
	}
	whURL, _, err := sqsqueue.CreateQueues(ctx, sq, queueName+"-webhooks", 30*time.Second, 5)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_ENDPOINT_URL", endpoint)
	t.Setenv("AWS_REGION", iamRegion)
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")

	var posts atomic.Int32
	wp := httptest.NewTLSServer(fakeWordPress(&posts))
	defer wp.Close()
	// The platform is the in-process fake, whatever host a URL names (its
	// certificate is for example.com); the functions' own SSRF-safe client
	// is not what this test is about.
	tr := wp.Client().Transport.(*http.Transport).Clone()
	tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, wp.Listener.Addr().String())
	}
	// Slack is its fake OAuth provider, for the connect flow's functions:
	// an app without token rotation, so that a reconnect (no refresh token
	// in the answer) reads the tokens stored before.
	slack := fakeplatforms.Start(t, "slack", fakeplatforms.Options{ClientID: "iam-client", ClientSecret: "iam-client-secret", SlackNoRotation: true})
	// Jira's grants expire and rotate: the token refresh paths.
	jira := fakeplatforms.Start(t, "jira", fakeplatforms.Options{ClientID: "iam-jira", ClientSecret: "iam-jira-secret"})
	awsapp.Hooks.HTTP = &http.Client{Transport: byHost{"slack.com": slack.Client().Transport,
		"auth.atlassian.com": jira.Client().Transport, "api.atlassian.com": jira.Client().Transport, "": tr}, Timeout: 10 * time.Second}
	defer func() { awsapp.Hooks.HTTP, awsapp.Hooks.APIOptions = nil, nil }()

	rec := &callRecorder{calls: map[awsCall]string{}, fail: map[string]bool{}}
	h := &iamHarness{t: t, rec: rec, handlers: map[string]any{}, setup: dynamostore.New(ddb, table),
		sqs: sq, queueURL: qURL, queueName: queueName, notifyURL: notifyURL, webhookQueueURL: whURL, webhookQueueName: queueName + "-webhooks", posts: &posts, slack: slack, jira: jira,
		secrets: smsecrets.New(secretsmanager.NewFromConfig(cfg), prefix, 0)}

	apps := "joinery-iam-apps-" + suffix
	// The deployment's app credentials, as you would create them.
	if _, err := secretsmanager.NewFromConfig(cfg).CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(apps),
		SecretString: aws.String(`{"slack":{"client_id":"iam-client","client_secret":"iam-client-secret","signing_secret":"iam-signing"},` +
			`"jira":{"client_id":"iam-jira","client_secret":"iam-jira-secret"},"shopify":{"client_id":"iam-shop","client_secret":"iam-shop-secret"},` +
			`"tiktok":{"client_id":"iam-tiktok","client_secret":"iam-tiktok-secret"}}`)}); err != nil {
		t.Fatal(err)
	}
	// The stack creates the cursor key secret; functions are given its ARN.
	sm := secretsmanager.NewFromConfig(cfg)
	cursorKey, err := smsecrets.NewCursorKey()
	if err != nil {
		t.Fatal(err)
	}
	created, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("joinery-iam-cursor-" + suffix), SecretString: aws.String(cursorKey)})
	if err != nil {
		t.Fatal(err)
	}
	env := awsapp.Env{Table: table, SecretPrefix: prefix, QueueURL: qURL, WebhookQueueURL: whURL, MaxReceives: 5, AppsSecret: apps, CursorKeySecret: *created.ARN,
		PublicURL: "https://api.example.com", ReturnOrigins: []string{"https://app.example.com"}}
	for id, f := range iamFunctions {
		t.Run("main/"+id, func(t *testing.T) { checkMain(t, f) })
		var e awsapp.Env
		e.Table = env.Table // every function has its table
		for _, field := range f.env {
			switch field {
			case "SecretPrefix":
				e.SecretPrefix = env.SecretPrefix
			case "QueueURL":
				e.QueueURL = env.QueueURL
				if id == "WebhookWorkerFunction" {
					e.QueueURL = env.WebhookQueueURL // as template.yaml gives it
				}
			case "WebhookQueueURL":
				e.WebhookQueueURL = env.WebhookQueueURL
			case "WebhookURLWordPress":
				e.WebhookURLWordPress = "https://hooks.example.com"
			case "WebhookURLShopify":
				e.WebhookURLShopify = "https://hooks.example.com"
			case "MaxReceives":
				e.MaxReceives = env.MaxReceives
			case "AppsSecret":
				e.AppsSecret = env.AppsSecret
			case "FeedSafety":
				e.FeedSafety = awsapp.FeedSafety("0") // records show at once
			case "CursorKeySecret":
				e.CursorKeySecret = env.CursorKeySecret
			case "PublicURL":
				e.PublicURL = env.PublicURL
			case "ReturnOrigins":
				e.ReturnOrigins = env.ReturnOrigins
			case "Notify":
				// One retry, a second later: the scenario stays short.
				e.Notify = awsapp.NotifyEnv{QueueURL: notifyURL, Bus: bus, Schedule: awsapp.NotifySchedule("0s,1s")}
			}
		}
		awsapp.Hooks.APIOptions = []func(*middleware.Stack) error{rec.option(id)}
		h.handlers[id] = f.build(e)
	}
	awsapp.Hooks.APIOptions = nil

	runScenario(t, h, "https://example.com")
	if t.Failed() {
		return
	}

	v := resolver{
		refs: map[string]string{"Table": table, "SyncQueue": qURL, "NotifyQueue": notifyURL, "EventBus": bus, "SyncDeadLetterQueue": qURL + "-dlq", "WebhookQueue": whURL, "WebhookDeadLetterQueue": whURL + "-dlq", "SecretPrefix": "", "AppsSecretName": apps, "CursorKeySecret": *created.ARN,
			"AWS::StackName": stack, "AWS::Partition": "aws", "AWS::Region": iamRegion, "AWS::AccountId": iamAccount, "AWS::URLSuffix": "amazonaws.com"},
		attrs: map[string]string{"Table.Arn": tableARN(table, ""), "SyncQueue.Arn": queueARN(queueName), "SyncQueue.QueueName": queueName,
			"NotifyQueue.Arn": queueARN(queueName + "-notify"), "EventBus.Arn": fmt.Sprintf("arn:aws:events:%s:%s:event-bus/%s", iamRegion, iamAccount, bus),
			"SyncDeadLetterQueue.Arn": queueARN(queueName + "-dlq"), "SyncDeadLetterQueue.QueueName": queueName + "-dlq",
			"WebhookQueue.Arn": queueARN(queueName + "-webhooks"), "WebhookQueue.QueueName": queueName + "-webhooks",
			"WebhookDeadLetterQueue.Arn": queueARN(queueName + "-webhooks-dlq"), "WebhookDeadLetterQueue.QueueName": queueName + "-webhooks-dlq"},
	}
	checkGrants(t, rec, functionGrants(t, "../template.yaml", withConditions(t, "../template.yaml", v)))
}

// checkGrants fails for each recorded call the function is not allowed,
// and for each template function no scenario ran.
func checkGrants(t *testing.T, rec *callRecorder, grants map[string][]grant) {
	t.Helper()
	seen := map[string]bool{}
	var calls []awsCall
	for c := range rec.calls {
		calls = append(calls, c)
		seen[c.Function] = true
	}
	sort.Slice(calls, func(i, j int) bool {
		return calls[i].Function+calls[i].Action+calls[i].Resource < calls[j].Function+calls[j].Action+calls[j].Resource
	})
	for _, c := range calls {
		t.Logf("%s\t%s\t%s", c.Function, c.Action, c.Resource[strings.LastIndex(c.Resource, ":")+1:])
		g, ok := grants[c.Function]
		if !ok {
			t.Errorf("%s is not a function of template.yaml", c.Function)
			continue
		}
		if !allowed(g, c) {
			t.Errorf("%s calls %s (%s) on %s, which template.yaml does not allow it", c.Function, rec.calls[c], c.Action, c.Resource)
		}
	}
	// Not a failure (a path the scenario does not take may need it), but
	// worth a look: least privilege.
	used := map[string]bool{}
	for _, c := range calls {
		used[c.Function+" "+strings.ToLower(c.Action)] = true
	}
	for id, gs := range grants {
		for _, g := range gs {
			for _, a := range g.actions {
				if !strings.Contains(a, "*") && !used[id+" "+strings.ToLower(a)] {
					t.Logf("%s is allowed %s, which no call of the scenario needed", id, a)
				}
			}
		}
	}
	for id := range grants {
		if _, ok := iamFunctions[id]; !ok {
			t.Errorf("%s: no scenario runs this function: add it to iamFunctions and runScenario", id)
		} else if iamFunctions[id].noAWS {
			if len(grants[id]) > 0 || seen[id] {
				t.Errorf("%s is meant to call no AWS API, yet template.yaml grants it %d statement(s) or it made a call", id, len(grants[id]))
			}
		} else if !seen[id] {
			t.Errorf("%s made no AWS call in the scenario", id)
		}
	}
}

var mainEnvField = regexp.MustCompile(`(?m)^\s*(\w+):\s+(?:os\.Getenv|awsapp\.|maxReceives)`)

// checkMain holds the test's wiring of a function to its main.go's.
func checkMain(t *testing.T, f iamFunction) {
	src, err := os.ReadFile(filepath.Join(f.dir, "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	var fields []string
	for _, m := range mainEnvField.FindAllStringSubmatch(string(src), -1) {
		if m[1] != "Claims" && m[1] != "Table" && m[1] != "Service" {
			fields = append(fields, m[1])
		}
	}
	sort.Strings(fields)
	want := slices.Clone(f.env)
	sort.Strings(want)
	if !slices.Equal(fields, want) {
		t.Errorf("%s/main.go sets %v; the IAM test builds it with %v", f.dir, fields, want)
	}
	if !strings.Contains(string(src), f.start) {
		t.Errorf("%s/main.go does not start %q as the IAM test does", f.dir, f.start)
	}
	for _, w := range f.wires {
		if !strings.Contains(string(src), w) {
			t.Errorf("%s/main.go does not wire %q as the IAM test does", f.dir, w)
		}
	}
}

// The policy reader understands SAM policy templates and intrinsic
// functions as the template would use them.
func TestIAMPolicyReader(t *testing.T) {
	path := filepath.Join(t.TempDir(), "template.yaml")
	src := `Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Policies:
        - DynamoDBCrudPolicy: {TableName: !Ref Table}
        - SQSSendMessagePolicy:
            QueueName: !GetAtt Queue.QueueName
        - Statement:
            - Effect: Allow
              Action: secretsmanager:GetSecretValue
              Resource: {"Fn::Sub": "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:${SecretPrefix}*"}
`
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	v := resolver{refs: map[string]string{"Table": "t", "SecretPrefix": "p/", "AWS::Partition": "aws", "AWS::Region": iamRegion, "AWS::AccountId": iamAccount},
		attrs: map[string]string{"Queue.QueueName": "q"}}
	g := functionGrants(t, path, v)["Fn"]
	for _, c := range []struct {
		call awsCall
		want bool
	}{
		{awsCall{Action: "dynamodb:Query", Resource: tableARN("t", "GSI1")}, true},
		{awsCall{Action: "dynamodb:BatchWriteItem", Resource: tableARN("t", "")}, true},
		{awsCall{Action: "dynamodb:GetItem", Resource: tableARN("other", "")}, false},
		{awsCall{Action: "dynamodb:TransactWriteItems", Resource: tableARN("t", "")}, false},
		{awsCall{Action: "sqs:SendMessage", Resource: queueARN("q")}, true},
		{awsCall{Action: "sqs:ReceiveMessage", Resource: queueARN("q")}, false},
		{awsCall{Action: "secretsmanager:GetSecretValue", Resource: secretARN("p/a/b")}, true},
		{awsCall{Action: "secretsmanager:GetSecretValue", Resource: secretARN("other/a/b")}, false},
		{awsCall{Action: "secretsmanager:DeleteSecret", Resource: secretARN("p/a/b")}, false},
	} {
		if got := allowed(g, c.call); got != c.want {
			t.Errorf("%s on %s: allowed %v, want %v", c.call.Action, c.call.Resource, got, c.want)
		}
	}
}
