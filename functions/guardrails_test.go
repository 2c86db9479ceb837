package functions_test

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/joinery/joinery/pkg/integration"
	"github.com/joinery/joinery/pkg/smsecrets"
	"gopkg.in/yaml.v3"
)

// templateDoc is template.yaml as nodes, with its resources by id.
type templateDoc struct {
	params, resources map[string]*yaml.Node
	order             []string // resource ids as written
}

func readTemplateDoc(t *testing.T) templateDoc {
	t.Helper()
	b, err := os.ReadFile("../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	d := templateDoc{params: map[string]*yaml.Node{}, resources: map[string]*yaml.Node{}}
	p := mapGet(doc.Content[0], "Parameters")
	for i := 0; i+1 < len(p.Content); i += 2 {
		d.params[p.Content[i].Value] = p.Content[i+1]
	}
	r := mapGet(doc.Content[0], "Resources")
	for i := 0; i+1 < len(r.Content); i += 2 {
		d.resources[r.Content[i].Value] = r.Content[i+1]
		d.order = append(d.order, r.Content[i].Value)
	}
	return d
}

func (d templateDoc) ofType(typ string) []string {
	var ids []string
	for _, id := range d.order {
		if mapGet(d.resources[id], "Type").Value == typ {
			ids = append(ids, id)
		}
	}
	return ids
}

// path walks mapping keys from a resource's Properties.
func prop(r *yaml.Node, keys ...string) *yaml.Node {
	n := mapGet(r, "Properties")
	for _, k := range keys {
		n = mapGet(n, k)
	}
	return n
}

// The HTTP API throttles every route by default, from two parameters.
func TestTemplateThrottlesTheAPI(t *testing.T) {
	d := readTemplateDoc(t)
	api := d.resources["HttpApi"]
	for key, param := range map[string]string{"ThrottlingBurstLimit": "ApiThrottlingBurstLimit", "ThrottlingRateLimit": "ApiThrottlingRateLimit"} {
		n := prop(api, "DefaultRouteSettings", key)
		if n == nil || n.Tag != "!Ref" || n.Value != param {
			t.Errorf("HttpApi DefaultRouteSettings.%s is not !Ref %s", key, param)
			continue
		}
		if p := d.params[param]; p == nil || mapGet(p, "Type").Value != "Number" || mapGet(p, "Default") == nil {
			t.Errorf("parameter %s: want a Number with a default", param)
		}
	}
}

var contextVar = regexp.MustCompile(`\$context\.[A-Za-z.]+`)

// The HTTP API writes one JSON line a request to a log group that expires,
// with what an operator needs and no header (Authorization carries tokens
// and site keys).
func TestTemplateLogsAPIAccess(t *testing.T) {
	d := readTemplateDoc(t)
	api := d.resources["HttpApi"]
	dest := prop(api, "AccessLogSettings", "DestinationArn")
	if dest == nil || dest.Tag != "!GetAtt" || !strings.HasSuffix(dest.Value, ".Arn") {
		t.Fatal("HttpApi AccessLogSettings.DestinationArn is not !GetAtt <log group>.Arn")
	}
	group := d.resources[strings.TrimSuffix(dest.Value, ".Arn")]
	if group == nil || mapGet(group, "Type").Value != "AWS::Logs::LogGroup" || prop(group, "RetentionInDays") == nil {
		t.Fatalf("%s is not a log group with a retention", dest.Value)
	}
	format := prop(api, "AccessLogSettings", "Format").Value
	var line map[string]string
	if err := json.Unmarshal([]byte(contextVar.ReplaceAllString(format, "x")), &line); err != nil {
		t.Fatalf("access log format is not a JSON object: %v\n%s", err, format)
	}
	for _, k := range []string{"requestId", "ip", "routeKey", "status", "latency"} {
		if _, ok := line[k]; !ok {
			t.Errorf("access log has no %q", k)
		}
	}
	if !strings.Contains(format, `"ip":"$context.identity.sourceIp"`) {
		t.Errorf("ip is not the source address: %s", format)
	}
	if l := strings.ToLower(format); strings.Contains(l, "header") || strings.Contains(l, "authorization") {
		t.Errorf("access log format logs a header: %s", format)
	}
}

// Alarms watch the dead-letter queue and every function's errors and
// throttles, and notify AlarmTopicArn only when it is set.
func TestTemplateAlarms(t *testing.T) {
	d := readTemplateDoc(t)
	type watched struct{ namespace, metric, dimension, target string }
	alarms := map[watched]string{}
	for _, id := range d.ofType("AWS::CloudWatch::Alarm") {
		r := d.resources[id]
		threshold := prop(r, "Threshold")
		if prop(r, "MetricName").Value == "Url4xxCount" {
			// A few refused deliveries are normal (a stale retry, a
			// probe); many are an attack or a secret out of date.
			if threshold.Tag != "!Ref" || threshold.Value != "WebhookRejectedAlarmThreshold" {
				t.Errorf("%s: want Threshold !Ref WebhookRejectedAlarmThreshold", id)
			}
		} else if threshold.Value != "0" {
			t.Errorf("%s: want GreaterThanThreshold 0", id)
		}
		if prop(r, "ComparisonOperator").Value != "GreaterThanThreshold" {
			t.Errorf("%s: want GreaterThanThreshold", id)
		}
		dims := prop(r, "Dimensions")
		if dims == nil || len(dims.Content) != 1 {
			t.Errorf("%s: want one dimension", id)
			continue
		}
		w := watched{prop(r, "Namespace").Value, prop(r, "MetricName").Value, mapGet(dims.Content[0], "Name").Value, mapGet(dims.Content[0], "Value").Value}
		alarms[w] = id
		for _, param := range []string{"", "arn:aws:sns:eu-west-1:123456789012:ops"} {
			v := withConditions(t, "../template.yaml", resolver{refs: map[string]string{"AlarmTopicArn": param}})
			acts := prop(r, "AlarmActions")
			if acts == nil || acts.Tag != "!If" || len(acts.Content) != 3 {
				t.Fatalf("%s: AlarmActions is not !If [HasAlarmTopic, ...]", id)
			}
			on, err := v.condition(acts.Content[0].Value)
			if err != nil {
				t.Fatal(err)
			}
			if on != (param != "") {
				t.Errorf("%s: with AlarmTopicArn %q, actions %v", id, param, on)
			}
			if then := acts.Content[1]; len(then.Content) != 1 || then.Content[0].Tag != "!Ref" || then.Content[0].Value != "AlarmTopicArn" {
				t.Errorf("%s: actions are not [AlarmTopicArn]", id)
			}
			if els := acts.Content[2]; els.Tag != "!Ref" || els.Value != "AWS::NoValue" {
				t.Errorf("%s: without a topic, actions are not AWS::NoValue", id)
			}
		}
	}
	if _, ok := alarms[watched{"AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", "SyncDeadLetterQueue.QueueName"}]; !ok {
		t.Error("no alarm on the dead-letter queue's visible messages")
	}
	if _, ok := alarms[watched{"AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", "WebhookDeadLetterQueue.QueueName"}]; !ok {
		t.Error("no alarm on the webhook dead-letter queue's visible messages")
	}
	for _, fn := range d.ofType("AWS::Serverless::Function") {
		metrics := []string{"Errors", "Throttles"}
		if prop(d.resources[fn], "FunctionUrlConfig") != nil {
			metrics = append(metrics, "Url4xxCount") // refused deliveries
		}
		for _, m := range metrics {
			if _, ok := alarms[watched{"AWS/Lambda", m, "FunctionName", fn}]; !ok {
				t.Errorf("no alarm on %s's %s", fn, m)
			}
		}
	}
}

// Rendered for a new stack (SecretPrefix empty) and for one upgraded from
// a release whose secrets are under joinery/ (SecretPrefix=joinery/),
// every function that creates secrets names them under one prefix, and
// every function allowed any integration-secret action may take it on
// the names the code creates.
func TestTemplateSecretPrefixBothWays(t *testing.T) {
	d := readTemplateDoc(t)
	ref := integration.SecretRef{AccountID: "acct 1", SiteID: "site-1", IntegrationID: "01JDEMO0000000000000000000"}
	for _, c := range []struct{ param, want string }{
		{"", "joinery/prod-hub/"},
		{"joinery/", "joinery/"},
	} {
		t.Run("SecretPrefix="+c.param, func(t *testing.T) {
			v := withConditions(t, "../template.yaml", resolver{
				refs: map[string]string{"Table": "t", "SyncQueue": "q", "SyncDeadLetterQueue": "q-dlq", "NotifyQueue": "n", "EventBus": "b", "WebhookQueue": "wq", "SecretPrefix": c.param, "AppsSecretName": "joinery-apps",
					"CursorKeySecret": secretARN("CursorKeySecret-AbCdEf"), "AWS::StackName": "prod-hub", "AWS::Partition": "aws", "AWS::Region": iamRegion, "AWS::AccountId": iamAccount, "AWS::URLSuffix": "amazonaws.com"},
				attrs: map[string]string{"Table.Arn": tableARN("t", ""), "SyncQueue.Arn": queueARN("q"), "SyncQueue.QueueName": "q",
					"NotifyQueue.Arn": queueARN("n"), "EventBus.Arn": "arn:aws:events:" + iamRegion + ":" + iamAccount + ":event-bus/b",
					"SyncDeadLetterQueue.Arn": queueARN("q-dlq"), "SyncDeadLetterQueue.QueueName": "q-dlq",
					"WebhookQueue.Arn": queueARN("wq"), "WebhookDeadLetterQueue.Arn": queueARN("wq-dlq"), "WebhookDeadLetterQueue.QueueName": "wq-dlq"},
			})
			writers := 0
			for _, fn := range d.ofType("AWS::Serverless::Function") {
				n := prop(d.resources[fn], "Environment", "Variables", "JOINERY_SECRET_PREFIX")
				if n == nil {
					continue
				}
				got, err := v.value(n)
				if err != nil {
					t.Fatalf("%s: %v", fn, err)
				}
				if got != c.want {
					t.Errorf("%s: JOINERY_SECRET_PREFIX %q, want %q", fn, got, c.want)
				}
				writers++
			}
			if writers == 0 {
				t.Fatal("no function is given JOINERY_SECRET_PREFIX")
			}
			name := smsecrets.New(nil, c.want, 0).Name(ref)
			if !strings.HasPrefix(name, c.want) {
				t.Fatalf("the code names a secret %q, outside %q", name, c.want)
			}
			apps, cursorKey := secretARN("joinery-apps"), secretARN("CursorKeySecret-AbCdEf")
			for fn, grants := range functionGrants(t, "../template.yaml", v) {
				for _, g := range grants {
					var actions []string
					for _, a := range g.actions {
						if strings.HasPrefix(a, "secretsmanager:") {
							actions = append(actions, a)
						}
					}
					if len(actions) == 0 || slices.ContainsFunc(g.resources, func(r string) bool { return globMatch(r, apps) || globMatch(r, cursorKey) }) {
						continue // not integration secrets
					}
					for _, a := range actions {
						if !allowed(grants, awsCall{Action: a, Resource: secretARN(name)}) {
							t.Errorf("%s may not %s on %s, a name the code creates", fn, a, name)
						}
						if outside := "elsewhere/acct/id"; allowed(grants, awsCall{Action: a, Resource: secretARN(outside)}) {
							t.Errorf("%s may %s on %s, outside the stack's prefix", fn, a, outside)
						}
					}
				}
			}
		})
	}
}
