package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"gopkg.in/yaml.v3"

	"github.com/proget-monitor/proget-monitor/internal/localaws"
	"github.com/proget-monitor/proget-monitor/internal/metrics"
	"github.com/proget-monitor/proget-monitor/internal/monitor"
	"github.com/proget-monitor/proget-monitor/internal/store"
)

// cfn reads a CloudFormation YAML document into plain values; short-form
// intrinsics (!Ref X, !Sub s, !GetAtt a.b, !Condition c) become their long form.
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
		if name != "Ref" && name != "Condition" {
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
	return cfnDoc(t, b)
}

func cfnDoc(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("not YAML: %v", err)
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

// TestTemplateNoImmediateRetries: a failed run is not repeated at once, neither
// by a schedule nor by Lambda, which retries a failed asynchronous invocation
// twice by default: the next scheduled run redoes the work.
func TestTemplateNoImmediateRetries(t *testing.T) {
	tpl := loadTemplate(t)
	for _, path := range []string{
		"MonitorFunction/Properties/EventInvokeConfig/MaximumRetryAttempts",
		"MonitorFunction/Properties/Events/Schedule/Properties/RetryPolicy/MaximumRetryAttempts",
		"Shard1Schedule/Properties/Target/RetryPolicy/MaximumRetryAttempts",
	} {
		if got := dig(tpl, append([]string{"Resources"}, strings.Split(path, "/")...)...); got != "0" {
			t.Errorf("%s = %v, want 0", path, got)
		}
	}
}

// TestTemplateParameters: every parameter says what it is for and has a
// default, so that samconfig.toml and `sam deploy --guided` need no answer from
// a user without a VPC; samconfig.toml sets only parameters that exist.
func TestTemplateParameters(t *testing.T) {
	params, _ := dig(loadTemplate(t), "Parameters").(map[string]any)
	for name, p := range params {
		if _, ok := dig(p, "Default").(string); !ok {
			t.Errorf("parameter %s has no Default", name)
		}
		if d, _ := dig(p, "Description").(string); d == "" {
			t.Errorf("parameter %s has no Description", name)
		}
	}
	b, err := os.ReadFile(filepath.Join("..", "..", "samconfig.toml"))
	if err != nil {
		t.Fatal(err)
	}
	overrides := regexp.MustCompile(`(?m)^parameter_overrides = "(.*)"$`).FindAllStringSubmatch(string(b), -1)
	if len(overrides) == 0 {
		t.Fatal("samconfig.toml has no parameter_overrides")
	}
	for _, o := range overrides {
		for _, kv := range regexp.MustCompile(`(\w+)=\\"`).FindAllStringSubmatch(o[1], -1) {
			if params[kv[1]] == nil {
				t.Errorf("samconfig.toml overrides %s, which the template does not have", kv[1])
			}
		}
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

// lambdaVPCActions are the ec2 actions of AWS's AWSLambdaVPCAccessExecutionRole
// (policy version v3): what Lambda needs to manage a VPC function's network
// interfaces.
var lambdaVPCActions = []string{
	"ec2:CreateNetworkInterface",
	"ec2:DescribeNetworkInterfaces",
	"ec2:DescribeSubnets",
	"ec2:DeleteNetworkInterface",
	"ec2:AssignPrivateIpAddresses",
	"ec2:UnassignPrivateIpAddresses",
}

// statement is one statement of the function's role, with the condition under
// which its policy exists ("" for always).
type statement struct {
	policy, condition string
	body              any
}

// roleStatements reads the statements of the role the function runs as.
func roleStatements(t *testing.T, tpl map[string]any) []statement {
	t.Helper()
	ref, _ := dig(tpl, "Resources", "MonitorFunction", "Properties", "Role", "Fn::GetAtt").(string)
	role, ok := strings.CutSuffix(ref, ".Arn")
	if !ok || dig(tpl, "Resources", role, "Type") != "AWS::IAM::Role" {
		t.Fatalf("MonitorFunction's Role is not !GetAtt <an AWS::IAM::Role>.Arn: %v", ref)
	}
	var out []statement
	policies, _ := dig(tpl, "Resources", role, "Properties", "Policies").([]any)
	for _, p := range policies {
		condition := ""
		if branches, ok := dig(p, "Fn::If").([]any); ok {
			if len(branches) != 3 || dig(branches[2], "Ref") != "AWS::NoValue" {
				t.Fatalf("a conditional policy must be !If [condition, policy, !Ref AWS::NoValue]: %v", branches)
			}
			condition, p = branches[0].(string), branches[1]
		}
		name, _ := dig(p, "PolicyName").(string)
		stmts, _ := dig(p, "PolicyDocument", "Statement").([]any)
		for _, s := range stmts {
			out = append(out, statement{policy: name, condition: condition, body: s})
		}
	}
	if len(out) == 0 {
		t.Fatalf("the role %s has no policy statements", role)
	}
	return out
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
// stack (a cold run, a run that alerts, a change event, a run that reads the
// targets again), records every AWS call it makes, and holds them against the
// policies, on both backends (a call moto answers differently, a retry say,
// would show).
func TestTemplateAllowsEveryCallTheCodeMakes(t *testing.T) {
	each(t, templateAllowsEveryCall)
}

func templateAllowsEveryCall(t *testing.T, b localaws.Backend) {
	w := newWorld(t, b, nil)
	w.stack.ResetCalls()
	w.mustRun()
	w.proget["prod-eu"].SetDatabaseError("down")
	w.mustRun()
	if _, err := w.invoke(parameterChangeEvent(w.path + "prod-eu/url")); err != nil {
		t.Fatal(err)
	}
	w.mustRun()
	used := map[string]bool{}
	for call := range w.functionCalls() {
		used[iamAction(call)] = true
	}

	tpl := loadTemplate(t)
	allowed := map[string]bool{}
	for _, s := range roleStatements(t, tpl) {
		if dig(s.body, "Effect") != "Allow" {
			continue
		}
		for _, a := range strs(dig(s.body, "Action")) {
			// Lambda, not the code, calls these to attach the function to its
			// subnets; TestTemplateVpcPermissions holds that policy.
			if s.condition == "InVpc" && slices.Contains(lambdaVPCActions, a) {
				continue
			}
			allowed[a] = true
		}
		if slices.Contains(strs(dig(s.body, "Action")), "sns:Publish") {
			var topics []string
			for _, r := range dig(s.body, "Resource").([]any) {
				topics = append(topics, dig(r, "Ref").(string))
			}
			if slices.Sort(topics); !slices.Equal(topics, []string{"AlertTopic", "EventTopic"}) {
				t.Errorf("sns:Publish is allowed on %v, want the alert and event topics", topics)
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
	vars := dig(tpl, "Resources", "MonitorFunction", "Properties", "Environment", "Variables")
	if dig(vars, "ALERT_TOPIC_ARN", "Ref") != "AlertTopic" || dig(vars, "EVENT_TOPIC_ARN", "Ref") != "EventTopic" {
		t.Errorf("the function must publish to both topics: %v", vars)
	}
}

// published lists the metrics the code publishes at a level.
func published(level metrics.Level) map[string]bool {
	run := metrics.Run{TargetsPath: "/t/", Checked: []metrics.Instance{{Observation: monitor.Observation{
		Target: monitor.Target{Name: "a"}, Instance: monitor.Reading{Status: monitor.StatusOK}, HTTPStatus: 200}}}}
	out := map[string]bool{}
	for _, d := range metrics.Datums(run, level) {
		out[aws.ToString(d.MetricName)] = true
	}
	return out
}

// TestTemplateAlarms: the pager path watches the confirmed metrics the code
// publishes, per schedule; a dead or idle schedule is noticed; every alarm
// says what to do and tells when it is OK again.
func TestTemplateAlarms(t *testing.T) {
	tpl := loadTemplate(t)
	fleet := published(metrics.LevelFleet)
	for name, want := range map[string]struct{ metric, statistic, missing, path string }{
		"UnhealthyInstancesAlarm":       {"InstancesAlerting", "Maximum", "ignore", "TargetsPath"},
		"MonitorHeartbeatAlarm":         {"InstancesChecked", "Minimum", "breaching", "TargetsPath"},
		"Shard1HeartbeatAlarm":          {"InstancesChecked", "Minimum", "breaching", "Shard1TargetsPath"},
		"Shard1UnhealthyInstancesAlarm": {"InstancesAlerting", "Maximum", "ignore", "Shard1TargetsPath"},
		"MonitorErrorsAlarm":            {"Errors", "Sum", "notBreaching", ""},
	} {
		alarm := dig(tpl, "Resources", name, "Properties")
		if alarm == nil {
			t.Errorf("no %s", name)
			continue
		}
		if dig(alarm, "MetricName") != want.metric || dig(alarm, "Statistic") != want.statistic || dig(alarm, "TreatMissingData") != want.missing {
			t.Errorf("%s watches %v (%v) with missing data %v, want %s (%s) and %s", name, dig(alarm, "MetricName"),
				dig(alarm, "Statistic"), dig(alarm, "TreatMissingData"), want.metric, want.statistic, want.missing)
		}
		if want.path != "" {
			dims, _ := dig(alarm, "Dimensions").([]any)
			if !fleet[want.metric] || dig(alarm, "Namespace", "Ref") != "MetricsNamespace" || len(dims) != 1 ||
				dig(dims[0], "Name") != metrics.DimTargetsPath || dig(dims[0], "Value", "Ref") != want.path {
				t.Errorf("%s must watch %s of its own schedule (%s), as published at every level", name, want.metric, want.path)
			}
		}
	}
	mi := dig(tpl, "Resources", "InstanceAlertingAlarm")
	query, _ := dig(mi, "Properties", "Metrics").([]any)
	expr, _ := dig(query[0], "Expression", "Fn::Sub").(string)
	if !strings.Contains(expr, "MAX("+metrics.Alerting+")") || !strings.Contains(expr, "GROUP BY "+metrics.DimInstance) ||
		!strings.Contains(expr, "ORDER BY MAX() DESC") || dig(mi, "Condition") != "HasPerInstanceAlarm" ||
		dig(mi, "Properties", "TreatMissingData") != "ignore" {
		t.Errorf("the per-instance alarm's query %q must group the Alerting series by instance, alerting first", expr)
	}
	if !published(metrics.LevelInstance)[metrics.Alerting] || !published(metrics.LevelFull)[metrics.Alerting] || fleet[metrics.Alerting] {
		t.Errorf("Alerting must be published at the instance and full levels only")
	}
	for name, r := range dig(tpl, "Resources").(map[string]any) {
		if dig(r, "Type") != "AWS::CloudWatch::Alarm" {
			continue
		}
		if d, _ := dig(r, "Properties", "AlarmDescription").(string); len(d) < 80 {
			t.Errorf("%s's description does not say what to do: %q", name, d)
		}
		for _, actions := range []string{"AlarmActions", "OKActions"} {
			if a, _ := dig(r, "Properties", actions).([]any); len(a) != 1 {
				t.Errorf("%s has no %s", name, actions)
			}
		}
	}
}

// TestTemplateChangeEvents: SSM's change events under ParameterRoot invoke
// the function, as the event the function recognizes.
func TestTemplateChangeEvents(t *testing.T) {
	ev := dig(loadTemplate(t), "Resources", "MonitorFunction", "Properties", "Events", "TargetsChanged")
	if dig(ev, "Type") != "EventBridgeRule" {
		t.Fatalf("no EventBridge rule for SSM's change events: %v", ev)
	}
	pattern := dig(ev, "Properties", "Pattern")
	if !slices.Equal(strs(dig(pattern, "source")), []string{"aws.ssm"}) ||
		!slices.Equal(strs(dig(pattern, "detail-type")), []string{"Parameter Store Change"}) {
		t.Errorf("pattern %v", pattern)
	}
	names, _ := dig(pattern, "detail", "name").([]any)
	if len(names) != 1 || dig(names[0], "prefix", "Ref") != "ParameterRoot" {
		t.Errorf("the rule must match parameters under ParameterRoot: %v", names)
	}
	b, err := os.ReadFile(filepath.Join("..", "..", "events", "ssm-change.json"))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := parameterChange(b); !ok {
		t.Errorf("events/ssm-change.json is not recognized as a change")
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
