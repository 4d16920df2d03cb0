package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"gopkg.in/yaml.v3"

	"github.com/proget-monitor/proget-monitor/internal/metrics"
	"github.com/proget-monitor/proget-monitor/internal/store"
)

// cfn reads a CloudFormation YAML document into plain values; short-form
// intrinsics (!Ref X, !Sub s, !GetAtt a.b) become their long form.
func cfn(n *yaml.Node) any {
	var v any
	switch n.Kind {
	case yaml.DocumentNode:
		return cfn(n.Content[0])
	case yaml.MappingNode:
		m := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			m[n.Content[i].Value] = cfn(n.Content[i+1])
		}
		v = m
	case yaml.SequenceNode:
		var s []any
		for _, c := range n.Content {
			s = append(s, cfn(c))
		}
		v = s
	default:
		v = n.Value
	}
	if strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") {
		name := strings.TrimPrefix(n.Tag, "!")
		if name != "Ref" {
			name = "Fn::" + name
		}
		return map[string]any{name: v}
	}
	return v
}

func loadTemplate(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("template.yaml is not YAML: %v", err)
	}
	return cfn(&doc).(map[string]any)
}

func dig(v any, path ...string) any {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

func strs(v any) []string {
	switch t := v.(type) {
	case string:
		return []string{t}
	case []any:
		var out []string
		for _, x := range t {
			out = append(out, x.(string))
		}
		return out
	}
	return nil
}

func TestTemplateFunction(t *testing.T) {
	tpl := loadTemplate(t)
	fn := dig(tpl, "Resources", "MonitorFunction")
	for path, want := range map[string]string{
		"Type": "AWS::Serverless::Function", "Properties/Runtime": "provided.al2023",
		"Properties/Handler": "bootstrap", "Metadata/BuildMethod": "makefile",
		"Properties/Events/Schedule/Type": "ScheduleV2",
	} {
		if got := dig(fn, strings.Split(path, "/")...); got != want {
			t.Errorf("MonitorFunction %s = %v, want %s", path, got, want)
		}
	}
	if a := strs(dig(fn, "Properties", "Architectures")); !slices.Equal(a, []string{"arm64"}) {
		t.Errorf("Architectures = %v, want [arm64]", a)
	}
	rate := dig(fn, "Properties", "Events", "Schedule", "Properties", "ScheduleExpression", "Ref")
	if rate == nil || dig(tpl, "Parameters", rate.(string), "Default") != "rate(5 minutes)" {
		t.Errorf("the schedule's rate must be a parameter defaulting to 5 minutes, got %v", rate)
	}
	if dig(tpl, "Resources", "MonitorLogGroup", "Properties", "RetentionInDays") == nil {
		t.Errorf("the log group has no retention")
	}
}

// TestTemplateSetsEveryVariable: every environment variable the code reads is
// set by the template, and the template sets nothing the code ignores.
func TestTemplateSetsEveryVariable(t *testing.T) {
	vars, _ := dig(loadTemplate(t), "Resources", "MonitorFunction", "Properties", "Environment", "Variables").(map[string]any)
	var read, set []string
	for _, s := range settings {
		read = append(read, s.name)
	}
	for k := range vars {
		set = append(set, k)
	}
	slices.Sort(read)
	slices.Sort(set)
	if !slices.Equal(read, set) {
		t.Errorf("environment variables:\n code reads   %v\n template sets %v", read, set)
	}
}

func TestTemplateStateTable(t *testing.T) {
	table := dig(loadTemplate(t), "Resources", "StateTable", "Properties")
	if dig(table, "BillingMode") != "PAY_PER_REQUEST" {
		t.Errorf("the table must be on-demand")
	}
	if dig(table, "TimeToLiveSpecification", "AttributeName") != store.TTLAttribute ||
		dig(table, "TimeToLiveSpecification", "Enabled") != "true" {
		t.Errorf("TTL must be enabled on %s: %v", store.TTLAttribute, dig(table, "TimeToLiveSpecification"))
	}
	keys, _ := dig(table, "KeySchema").([]any)
	if len(keys) != 1 || dig(keys[0], "AttributeName") != store.KeyAttribute || dig(keys[0], "KeyType") != "HASH" {
		t.Errorf("key schema %v, want %s HASH", keys, store.KeyAttribute)
	}
}

func TestMakefileBuildTarget(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	mk := string(b)
	if !regexp.MustCompile(`(?m)^build-MonitorFunction:`).MatchString(mk) {
		t.Fatal("the Makefile has no build-MonitorFunction target for sam build")
	}
	for _, want := range []string{"CGO_ENABLED=0", "-tags lambda.norpc", `LDFLAGS       := -s -w`, "GOARCH=arm64", "$(ARTIFACTS_DIR)/bootstrap"} {
		if !strings.Contains(mk, want) {
			t.Errorf("the Makefile's build lacks %q", want)
		}
	}
}

// iamAction maps a call seen on the wire (signing name.Operation) to its IAM action.
func iamAction(call string) string {
	service, op, _ := strings.Cut(call, ".")
	if service == "monitoring" {
		service = "cloudwatch"
	}
	return service + ":" + op
}

// TestTemplateAllowsEveryCallTheCodeMakes runs the function against the local
// stack, records every AWS call it makes, and holds them against the policies.
func TestTemplateAllowsEveryCallTheCodeMakes(t *testing.T) {
	w := newWorld(t, nil)
	w.proget["prod-eu"].SetDatabaseError("down")
	w.stack.ResetCalls()
	if _, err := w.app.handle(context.Background(), json.RawMessage(`{}`)); err != nil {
		t.Fatal(err)
	}
	w.proget["prod-eu"].SetDatabaseError("")
	w.clock = w.clock.Add(5 * time.Minute)
	if _, err := w.app.handle(context.Background(), json.RawMessage(`{}`)); err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	for call := range w.stack.Calls() {
		used[iamAction(call)] = true
	}

	allowed := map[string]bool{}
	policies, _ := dig(loadTemplate(t), "Resources", "MonitorFunction", "Properties", "Policies").([]any)
	for _, p := range policies {
		stmts, _ := dig(p, "Statement").([]any)
		for _, s := range stmts {
			if dig(s, "Effect") != "Allow" {
				continue
			}
			for _, a := range strs(dig(s, "Action")) {
				allowed[a] = true
			}
		}
	}
	for a := range used {
		if !allowed[a] {
			t.Errorf("the code calls %s, which no policy allows", a)
		}
	}
	// Least privilege: nothing beyond what is called, and KMS for SecureString keys.
	for a := range allowed {
		if !used[a] && a != "kms:Decrypt" {
			t.Errorf("the policies allow %s, which the code never calls", a)
		}
	}
	for _, want := range []string{"ssm:GetParametersByPath", "dynamodb:BatchGetItem", "dynamodb:PutItem", "sns:Publish", "cloudwatch:PutMetricData"} {
		if !used[want] {
			t.Errorf("the run never called %s: the recording misses calls", want)
		}
	}
}

// TestTemplateAlarms: the pager path watches metrics the code really publishes,
// and a dead monitor is noticed.
func TestTemplateAlarms(t *testing.T) {
	tpl := loadTemplate(t)
	published := map[string]bool{}
	for _, d := range metrics.Datums(nil, true) {
		published[aws.ToString(d.MetricName)] = true
	}
	for name, want := range map[string]struct{ metric, missing string }{
		"UnhealthyInstancesAlarm": {"InstancesUnhealthy", "notBreaching"},
		"MonitorHeartbeatAlarm":   {"InstancesChecked", "breaching"},
		"MonitorErrorsAlarm":      {"Errors", "notBreaching"},
	} {
		alarm := dig(tpl, "Resources", name, "Properties")
		if alarm == nil {
			t.Errorf("no %s", name)
			continue
		}
		if dig(alarm, "MetricName") != want.metric || dig(alarm, "TreatMissingData") != want.missing {
			t.Errorf("%s watches %v with missing data %v, want %s and %s", name, dig(alarm, "MetricName"), dig(alarm, "TreatMissingData"), want.metric, want.missing)
		}
		if want.metric != "Errors" && (!published[want.metric] || dig(alarm, "Namespace", "Ref") != "MetricsNamespace") {
			t.Errorf("%s watches a metric the code does not publish in its namespace", name)
		}
		for _, actions := range []string{"AlarmActions", "OKActions"} {
			if a, _ := dig(alarm, actions).([]any); len(a) != 1 {
				t.Errorf("%s has no %s", name, actions)
			}
		}
	}
}

// TestTemplateShardSchedule: a shard is a schedule whose event is the shard
// event the function understands.
func TestTemplateShardSchedule(t *testing.T) {
	tpl := loadTemplate(t)
	sched := dig(tpl, "Resources", "Shard1Schedule", "Properties", "Target")
	if dig(sched, "Arn", "Fn::GetAtt") != "MonitorFunction.Arn" {
		t.Errorf("the shard schedule does not invoke the function: %v", dig(sched, "Arn"))
	}
	input, _ := dig(sched, "Input", "Fn::Sub").(string)
	event := strings.ReplaceAll(input, "${Shard1TargetsPath}", "/proget-monitor/shards/eu/")
	path, err := targetsPathOf(json.RawMessage(event), "/default/")
	if err != nil || path != "/proget-monitor/shards/eu/" {
		t.Errorf("the shard's event %q gives path %q, %v", event, path, err)
	}
	if dig(tpl, "Resources", "Shard1Schedule", "Condition") != "HasShard1" {
		t.Errorf("the shard must be optional")
	}
}
