package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
)

// networkParams are the template's network parameters, each with the value a
// test gives it when it is set; unset is its default.
var networkParams = []struct{ name, value string }{
	{"SubnetIds", "subnet-0123456789abcdef0,subnet-0fedcba9876543210"},
	{"SecurityGroupIds", "sg-0123456789abcdef0"},
	{"CreateVpcEndpoints", "true"},
	{"VpcId", "vpc-0123456789abcdef0"},
	{"RouteTableIds", "rtb-0123456789abcdef0,rtb-0fedcba9876543210"},
}

// network is one combination of the network parameters: the set ones, by name.
type network map[string]bool

// networks returns every combination of set and unset network parameters.
func networks() []network {
	var all []network
	for mask := range 1 << len(networkParams) {
		n := network{}
		for i, p := range networkParams {
			n[p.name] = mask&(1<<i) != 0
		}
		all = append(all, n)
	}
	return all
}

func (n network) String() string {
	var set []string
	for _, p := range networkParams {
		if n[p.name] {
			set = append(set, p.name)
		}
	}
	if len(set) == 0 {
		return "no-network-parameters"
	}
	return strings.Join(set, "+")
}

// values are the parameter values of the combination.
func (n network) values() map[string]string {
	v := map[string]string{}
	for _, p := range networkParams {
		switch {
		case n[p.name]:
			v[p.name] = p.value
		case p.name == "CreateVpcEndpoints":
			v[p.name] = "false"
		default:
			v[p.name] = ""
		}
	}
	return v
}

// valid says whether CloudFormation should accept the combination: subnets and
// security groups together, and VpcId and RouteTableIds exactly when endpoints
// are created, which needs the subnets.
func (n network) valid() bool {
	if n["SubnetIds"] != n["SecurityGroupIds"] {
		return false
	}
	if n["CreateVpcEndpoints"] {
		return n["SubnetIds"] && n["VpcId"] && n["RouteTableIds"]
	}
	return !n["VpcId"] && !n["RouteTableIds"]
}

// evaluator evaluates Conditions and Rules as CloudFormation does, for the given
// parameter values and the template's defaults for the rest.
type evaluator struct {
	t      *testing.T
	tpl    map[string]any
	values map[string]string
}

func (e evaluator) value(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	if name, ok := dig(v, "Ref").(string); ok {
		if s, ok := e.values[name]; ok {
			return s
		}
		if s, ok := dig(e.tpl, "Parameters", name, "Default").(string); ok {
			return s
		}
	}
	e.t.Fatalf("cannot evaluate %v", v)
	return ""
}

func (e evaluator) truth(expr any) bool {
	m, _ := expr.(map[string]any)
	if len(m) != 1 {
		e.t.Fatalf("cannot evaluate %v", expr)
	}
	for fn, arg := range m {
		args, _ := arg.([]any)
		switch fn {
		case "Condition":
			return e.truth(dig(e.tpl, "Conditions", arg.(string)))
		case "Fn::Equals":
			return e.value(args[0]) == e.value(args[1])
		case "Fn::Not":
			return !e.truth(args[0])
		case "Fn::And":
			return !slices.ContainsFunc(args, func(a any) bool { return !e.truth(a) })
		case "Fn::Or":
			return slices.ContainsFunc(args, e.truth)
		}
	}
	e.t.Fatalf("cannot evaluate %v", expr)
	return false
}

// failedRules returns the AssertDescription of every assertion that fails.
func (e evaluator) failedRules() []string {
	var failed []string
	rules, _ := dig(e.tpl, "Rules").(map[string]any)
	for _, name := range slices.Sorted(maps.Keys(rules)) {
		rule := rules[name]
		if c := dig(rule, "RuleCondition"); c != nil && !e.truth(c) {
			continue
		}
		for _, a := range dig(rule, "Assertions").([]any) {
			if !e.truth(dig(a, "Assert")) {
				failed = append(failed, fmt.Sprintf("%s: %v", name, dig(a, "AssertDescription")))
			}
		}
	}
	return failed
}

// TestTemplateNetworkCombinations: for every combination of the network
// parameters, CloudFormation's Rules accept exactly the valid ones and say why
// they reject the others, and the conditions build all of a network or none.
func TestTemplateNetworkCombinations(t *testing.T) {
	tpl := loadTemplate(t)
	for _, n := range networks() {
		e := evaluator{t, tpl, n.values()}
		failed := e.failedRules()
		if n.valid() != (len(failed) == 0) {
			t.Errorf("%s: valid %v, but the Rules fail %q", n, n.valid(), failed)
		}
		inVpc, endpoints := e.truth(map[string]any{"Condition": "InVpc"}), e.truth(map[string]any{"Condition": "HasVpcEndpoints"})
		if inVpc != (n["SubnetIds"] && n["SecurityGroupIds"]) {
			t.Errorf("%s: InVpc is %v", n, inVpc)
		}
		if endpoints != (inVpc && n["CreateVpcEndpoints"] && n["VpcId"] && n["RouteTableIds"]) {
			t.Errorf("%s: HasVpcEndpoints is %v", n, endpoints)
		}
	}
	for _, name := range []string{"InVpc", "HasVpcEndpoints"} {
		if dig(tpl, "Conditions", name) == nil {
			t.Errorf("no condition %s", name)
		}
	}
	// Without any network parameter, the stack is what it was before: no VPC.
	if failed := (evaluator{t, tpl, nil}).failedRules(); len(failed) > 0 {
		t.Errorf("the defaults fail the Rules: %q", failed)
	}
}

// getAtt returns the resource of an !GetAtt <resource>.<attr>, or "".
func getAtt(v any, attr string) string {
	s, _ := dig(v, "Fn::GetAtt").(string)
	name, ok := strings.CutSuffix(s, "."+attr)
	if !ok {
		return ""
	}
	return name
}

// split returns the parameter of an !Split [",", !Ref <parameter>], or "".
func split(v any) string {
	args, _ := dig(v, "Fn::Split").([]any)
	if len(args) != 2 || args[0] != "," {
		return ""
	}
	name, _ := dig(args[1], "Ref").(string)
	return name
}

// functionSecurityGroups returns the function's VpcConfig: its subnets
// parameter, and its security groups with and without the endpoints (each a
// parameter name or the logical id of a security group of the stack).
func functionSecurityGroups(t *testing.T, tpl map[string]any) (subnets string, withEndpoints, without []string) {
	t.Helper()
	vpc, _ := dig(tpl, "Resources", "MonitorFunction", "Properties", "VpcConfig", "Fn::If").([]any)
	if len(vpc) != 3 || vpc[0] != "InVpc" || dig(vpc[2], "Ref") != "AWS::NoValue" {
		t.Fatalf("VpcConfig must be !If [InVpc, {...}, !Ref AWS::NoValue] so that no VPC is today's function: %v", vpc)
	}
	groups, _ := dig(vpc[1], "SecurityGroupIds", "Fn::If").([]any)
	if len(groups) != 3 || groups[0] != "HasVpcEndpoints" {
		t.Fatalf("VpcConfig.SecurityGroupIds must be !If [HasVpcEndpoints, ..., ...]: %v", groups)
	}
	args, _ := dig(groups[1], "Fn::Split").([]any)
	if len(args) == 2 {
		joined, _ := dig(args[1], "Fn::Join").([]any)
		if len(joined) == 2 && joined[0] == "," {
			parts, _ := joined[1].([]any)
			for _, p := range parts {
				if r := getAtt(p, "GroupId"); r != "" {
					withEndpoints = append(withEndpoints, r)
				} else if r, ok := dig(p, "Ref").(string); ok {
					withEndpoints = append(withEndpoints, r)
				}
			}
		}
	}
	if p := split(groups[2]); p != "" {
		without = []string{p}
	}
	return split(dig(vpc[1], "SubnetIds")), withEndpoints, without
}

// TestTemplateVpcConfig: given subnets and security groups, the function runs
// in them, with the groups the user gave in either case.
func TestTemplateVpcConfig(t *testing.T) {
	subnets, withEndpoints, without := functionSecurityGroups(t, loadTemplate(t))
	if subnets != "SubnetIds" {
		t.Errorf("the function's subnets come from %q, want !Split the SubnetIds parameter", subnets)
	}
	if !slices.Equal(without, []string{"SecurityGroupIds"}) {
		t.Errorf("without endpoints the function's security groups are %v, want the SecurityGroupIds parameter", without)
	}
	if !slices.Contains(withEndpoints, "SecurityGroupIds") || len(withEndpoints) < 2 {
		t.Errorf("with endpoints the function's security groups are %v, want SecurityGroupIds and the endpoints' client group", withEndpoints)
	}
}

// TestTemplateVpcPermissions: in a VPC the role gets what Lambda needs to
// manage the function's network interfaces, and only then; nothing else.
func TestTemplateVpcPermissions(t *testing.T) {
	tpl := loadTemplate(t)
	var vpcActions []string
	for _, s := range roleStatements(t, tpl) {
		actions := strs(dig(s.body, "Action"))
		ec2 := slices.ContainsFunc(actions, func(a string) bool { return strings.HasPrefix(a, "ec2:") })
		switch {
		case s.condition == "InVpc":
			if dig(s.body, "Effect") != "Allow" || dig(s.body, "Resource") != "*" || dig(s.body, "Condition") != nil {
				t.Errorf("the VPC statement must allow its actions on every resource, as AWSLambdaVPCAccessExecutionRole does: %v", s.body)
			}
			vpcActions = append(vpcActions, actions...)
		case ec2:
			t.Errorf("policy %s (condition %q) allows ec2 actions outside a VPC: %v", s.policy, s.condition, actions)
		}
	}
	slices.Sort(vpcActions)
	want := slices.Sorted(slices.Values(lambdaVPCActions))
	if !slices.Equal(vpcActions, want) {
		t.Errorf("in a VPC the role allows %v, want exactly %v", vpcActions, want)
	}
	// A managed policy would grant outside the conditions: only the basic one, for logs.
	managed, _ := dig(tpl, "Resources", "MonitorFunctionRole", "Properties", "ManagedPolicyArns").([]any)
	if len(managed) != 1 || dig(managed[0], "Fn::Sub") != "arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole" {
		t.Errorf("managed policies %v, want AWSLambdaBasicExecutionRole alone", managed)
	}
}

// endpointService maps an IAM service prefix to its VPC endpoint's service.
func endpointService(iam string) string {
	if iam == "cloudwatch" {
		return "monitoring"
	}
	return iam
}

// TestTemplateVpcEndpointsCoverEveryService: each service the function calls
// (the services of its role's actions, which TestTemplateAllowsEveryCallTheCodeMakes
// holds against the calls a run makes) has an endpoint in the optional part, and
// no endpoint is for anything else: an interface endpoint costs by the hour.
func TestTemplateVpcEndpointsCoverEveryService(t *testing.T) {
	tpl := loadTemplate(t)
	need := map[string]bool{}
	for _, s := range roleStatements(t, tpl) {
		if s.condition == "InVpc" {
			continue // Lambda's own network interface calls
		}
		// kms:Decrypt through SSM only: SSM calls KMS for the function, which
		// never reaches KMS itself.
		if conds, _ := dig(s.body, "Condition").(map[string]any); conds != nil {
			if slices.ContainsFunc(slices.Collect(maps.Values(conds)), func(c any) bool { return dig(c, "kms:ViaService") != nil }) {
				continue
			}
		}
		for _, a := range strs(dig(s.body, "Action")) {
			service, _, _ := strings.Cut(a, ":")
			need[endpointService(service)] = true
		}
	}
	if want := []string{"dynamodb", "monitoring", "sns", "ssm"}; !slices.Equal(slices.Sorted(maps.Keys(need)), want) {
		t.Errorf("the role's services are %v, want %v: the derivation misses something", slices.Sorted(maps.Keys(need)), want)
	}

	have := map[string]bool{}
	resources, _ := dig(tpl, "Resources").(map[string]any)
	for name, r := range resources {
		if dig(r, "Type") != "AWS::EC2::VPCEndpoint" {
			continue
		}
		p := dig(r, "Properties")
		sub, _ := dig(p, "ServiceName", "Fn::Sub").(string)
		service, ok := strings.CutPrefix(sub, "com.amazonaws.${AWS::Region}.")
		if !ok {
			t.Errorf("%s: ServiceName %v, want !Sub com.amazonaws.${AWS::Region}.<service>", name, dig(p, "ServiceName"))
			continue
		}
		have[service] = true
		if dig(r, "Condition") != "HasVpcEndpoints" {
			t.Errorf("%s must have Condition HasVpcEndpoints", name)
		}
		if dig(p, "VpcId", "Ref") != "VpcId" {
			t.Errorf("%s is not in the VpcId parameter's VPC", name)
		}
		if !need[service] {
			t.Errorf("%s is an endpoint for %s, which the function does not call", name, service)
		}
		if service == "dynamodb" {
			if dig(p, "VpcEndpointType") != "Gateway" || split(dig(p, "RouteTableIds")) != "RouteTableIds" {
				t.Errorf("%s must be a gateway endpoint (free) on the RouteTableIds parameter: %v", name, p)
			}
			continue
		}
		if dig(p, "VpcEndpointType") != "Interface" || dig(p, "PrivateDnsEnabled") != "true" || split(dig(p, "SubnetIds")) != "SubnetIds" {
			t.Errorf("%s must be an interface endpoint with private DNS (so the SDK's default endpoint resolves to it) in the SubnetIds parameter: %v", name, p)
		}
		if groups, _ := dig(p, "SecurityGroupIds").([]any); len(groups) != 1 || getAtt(groups[0], "GroupId") != "EndpointSecurityGroup" {
			t.Errorf("%s must be in EndpointSecurityGroup alone: %v", name, dig(p, "SecurityGroupIds"))
		}
	}
	for service := range need {
		if !have[service] {
			t.Errorf("the function calls %s, which has no VPC endpoint", service)
		}
	}
}

// TestTemplateVpcEndpointSecurityGroups: the endpoints admit HTTPS from a
// security group of the function, that group lets the function send it, and
// every network resource exists only when endpoints are created.
func TestTemplateVpcEndpointSecurityGroups(t *testing.T) {
	tpl := loadTemplate(t)
	_, functionGroups, _ := functionSecurityGroups(t, tpl)
	resources, _ := dig(tpl, "Resources").(map[string]any)

	// Rules of a group: its inline ones and the separate resources that name it.
	rules := func(group, direction string) []any {
		inline, _ := dig(resources[group], "Properties", "SecurityGroup"+direction).([]any)
		for _, r := range resources {
			if dig(r, "Type") == "AWS::EC2::SecurityGroup"+direction && getAtt(dig(r, "Properties", "GroupId"), "GroupId") == group {
				inline = append(inline, dig(r, "Properties"))
			}
		}
		return inline
	}
	https := func(r any) bool {
		return dig(r, "IpProtocol") == "tcp" && dig(r, "FromPort") == "443" && dig(r, "ToPort") == "443"
	}

	admitted := 0
	for _, r := range rules("EndpointSecurityGroup", "Ingress") {
		source := getAtt(dig(r, "SourceSecurityGroupId"), "GroupId")
		if !https(r) || !slices.Contains(functionGroups, source) {
			t.Errorf("the endpoints admit %v: want only tcp 443 from the function's security groups %v", r, functionGroups)
			continue
		}
		admitted++
		sends := slices.ContainsFunc(rules(source, "Egress"), func(e any) bool {
			return https(e) && getAtt(dig(e, "DestinationSecurityGroupId"), "GroupId") == "EndpointSecurityGroup"
		})
		if !sends {
			t.Errorf("%s, admitted by the endpoints, has no egress of tcp 443 to EndpointSecurityGroup", source)
		}
	}
	if admitted == 0 {
		t.Error("the endpoints' security group admits nothing from the function")
	}
	for _, e := range rules("EndpointSecurityGroup", "Egress") {
		if dig(e, "CidrIp") == "0.0.0.0/0" || dig(e, "IpProtocol") == "-1" {
			t.Errorf("the endpoints' security group has open egress: %v", e)
		}
	}
	for name, r := range resources {
		if strings.HasPrefix(dig(r, "Type").(string), "AWS::EC2::") && dig(r, "Condition") != "HasVpcEndpoints" {
			t.Errorf("%s (%s) must have Condition HasVpcEndpoints", name, dig(r, "Type"))
		}
	}
}
