package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/proget-monitor/proget-monitor/internal/localaws"
	"github.com/proget-monitor/proget-monitor/internal/metrics"
	"github.com/proget-monitor/proget-monitor/internal/progetsim"
	"github.com/proget-monitor/proget-monitor/internal/run"
)

// dashboardBody is the dashboard's JSON with the template's substitutions
// made.
func dashboardBody(t *testing.T) map[string]any {
	t.Helper()
	sub, _ := dig(loadTemplate(t), "Resources", "Dashboard", "Properties", "DashboardBody", "Fn::Sub").([]any)
	if len(sub) != 2 {
		t.Fatalf("DashboardBody must be !Sub [body, variables]")
	}
	body := sub[0].(string)
	body = regexp.MustCompile(`\$\{AlarmArns\}`).ReplaceAllString(body, `"arn:aws:cloudwatch:us-east-1:1:alarm:a"`)
	body = regexp.MustCompile(`\$\{AlarmPeriodSeconds\}`).ReplaceAllString(body, `300`)
	body = regexp.MustCompile(`\$\{[A-Za-z0-9:.]+\}`).ReplaceAllString(body, `value`)
	var out map[string]any
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatalf("the dashboard body is not JSON: %v\n%s", err, body)
	}
	return out
}

// TestTemplateDashboard holds the dashboard against the code: every metric
// it draws is published at every metric level (so the fleet level loses no
// graph), and every log field its Logs Insights queries read is one the
// function writes.
func TestTemplateDashboard(t *testing.T) {
	body := dashboardBody(t)
	fleet := published(metrics.LevelFleet)
	written := loggedFields(t)
	metricsDrawn, queries := 0, 0
	for _, w := range body["widgets"].([]any) {
		props := dig(w, "properties")
		switch dig(w, "type") {
		case "metric":
			var last []any
			for _, m := range dig(props, "metrics").([]any) {
				row := m.([]any)
				name := row[1].(string)
				if name == "." {
					name = last[1].(string)
				}
				last = row
				metricsDrawn++
				if !fleet[name] {
					t.Errorf("the dashboard draws %s, which the code does not publish at every level", name)
				}
			}
		case "log":
			queries++
			for _, f := range queryFields(dig(props, "query").(string)) {
				if !written[f] {
					t.Errorf("a dashboard query reads the field %q, which the function never writes (it writes %v)", f, keys(written))
				}
			}
		}
	}
	if metricsDrawn < 4 || queries < 3 {
		t.Errorf("%d metrics and %d log queries: the dashboard must show the fleet and each instance", metricsDrawn, queries)
	}
}

// Every alarm the template can create is on the dashboard's alarm widget.
func TestTemplateDashboardShowsEveryAlarm(t *testing.T) {
	tmpl := loadTemplate(t)
	sub := dig(tmpl, "Resources", "Dashboard", "Properties", "DashboardBody", "Fn::Sub").([]any)
	arns, err := json.Marshal(dig(sub[1], "AlarmArns"))
	if err != nil {
		t.Fatal(err)
	}
	for name, r := range dig(tmpl, "Resources").(map[string]any) {
		if dig(r, "Type") == "AWS::CloudWatch::Alarm" && !strings.Contains(string(arns), "${"+name+".Arn}") {
			t.Errorf("alarm %s is not on the dashboard", name)
		}
	}
}

// loggedFields runs the function through failures, alerts and recoveries and
// returns every field its log lines carry. The lines are the function's own,
// whatever answers its AWS calls: kumo, the faster backend, serves.
func loggedFields(t *testing.T) map[string]bool {
	w := newWorld(t, localaws.Kumo, map[string]string{"STORM_PERCENT": "0"})
	w.putParam(w.path+"prod-us/maintenance", "daily 00:00-23:59 UTC", false)
	secure := progetsim.New(progetsim.V2026)
	if err := secure.SetCertificate("proget.corp.example", time.Now().Add(30*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := secure.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(secure.Stop)
	w.putParam(w.path+"secure-eu/url", secure.URL(), false)
	w.putParam(w.path+"secure-eu/ca-bundle", secure.CAPEM(), false)
	w.mustRun()
	w.proget["prod-eu"].SetDatabaseError("down")
	w.proget["build-eu"].SetAPIKey("rejected")
	w.mustRun()
	for _, in := range w.proget {
		in.Stop()
	}
	w.mustRun()
	w.stack.SetFault(localaws.FailOn("sns.Publish", 403, "AuthorizationError"))
	for _, in := range w.proget {
		w.start(in)
	}
	if _, err := w.run(`{}`); errorType(err) != run.AlertsUndelivered {
		t.Fatalf("a run whose alerts SNS refuses must fail with AlertsUndelivered: %v", err)
	}
	w.stack.SetFault(nil)
	fleet := newWorld(t, localaws.Kumo, nil)
	fleet.mustRun()
	for _, in := range fleet.proget {
		in.Stop()
	}
	fleet.mustRun()
	fields := map[string]bool{}
	for line := range strings.Lines(w.logs.String() + fleet.logs.String()) {
		var entry map[string]any
		if json.Unmarshal([]byte(line), &entry) == nil {
			for k := range entry {
				fields[k] = true
			}
		}
	}
	return fields
}

var (
	quoted     = regexp.MustCompile(`'[^']*'`)
	number     = regexp.MustCompile(`\b[0-9]+[A-Za-z]*`)
	identifier = regexp.MustCompile(`@?[A-Za-z_][A-Za-z0-9_]*\(?`)
	queryWords = map[string]bool{"SOURCE": true, "filter": true, "fields": true, "stats": true, "sort": true, "limit": true,
		"by": true, "as": true, "and": true, "or": true, "not": true, "desc": true, "asc": true, "like": true, "in": true}
)

// queryFields are the log fields a Logs Insights query reads: its
// identifiers, less keywords, functions, @-fields, string literals and the
// names it gives with "as".
func queryFields(q string) []string {
	q = number.ReplaceAllString(quoted.ReplaceAllString(q, "''"), "0")
	var out []string
	prev := ""
	for _, tok := range identifier.FindAllString(q, -1) {
		switch {
		case strings.HasSuffix(tok, "("), strings.HasPrefix(tok, "@"), queryWords[tok], prev == "as":
		default:
			out = append(out, tok)
		}
		prev = tok
	}
	return out
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
