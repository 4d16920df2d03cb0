package render

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/proget-monitor/proget-monitor/internal/monitor"
)

var at = time.Date(2026, 11, 24, 12, 5, 0, 0, time.UTC)

func change(component string, from, to monitor.Status) monitor.Change {
	return monitor.Change{Component: component, From: from, To: to, Since: at, Detail: "detail of " + component}
}

func TestSubject(t *testing.T) {
	cases := []struct {
		name     string
		changes  []monitor.Change
		problems []monitor.Problem
		want     string
	}{
		{"down", []monitor.Change{change("instance", "OK", "Down")}, nil, "ProGet prod-eu: DOWN"},
		{"database and connectors", []monitor.Change{change("database", "OK", "Error"),
			change("connector:a", "OK", "Error"), change("connector:b", "", "Error")}, nil,
			"ProGet prod-eu: database Error, 2 connectors Error"},
		{"one connector", []monitor.Change{change("connector:nuget.org", "OK", "Error")}, nil, "ProGet prod-eu: connector nuget.org Error"},
		{"recovered", []monitor.Change{change("database", "Error", "OK")}, nil, "ProGet prod-eu: recovered"},
		{"partly recovered", []monitor.Change{change("database", "Error", "OK")},
			[]monitor.Problem{{Component: "license", Status: "Error"}}, "ProGet prod-eu: database OK; still 1 problem"},
		{"mixed", []monitor.Change{change("database", "Error", "OK"), change("license", "OK", "Error")}, nil,
			"ProGet prod-eu: license Error, 1 recovered"},
		{"key rejected", []monitor.Change{change("connector-health", "OK", "Rejected")}, nil, "ProGet prod-eu: API key rejected"},
		{"no health endpoint", []monitor.Change{change("instance", "", "NoHealthAPI")}, nil, "ProGet prod-eu: no /health endpoint (check the url)"},
		{"wrong product", []monitor.Change{change("instance", "", "WrongProduct")}, nil, "ProGet prod-eu: not a ProGet server (check the url)"},
		{"redirected", []monitor.Change{change("instance", "OK", "Redirected")}, nil, "ProGet prod-eu: redirected to another host"},
		{"removed", []monitor.Change{change("connector:old", "Error", "Removed")}, nil, "ProGet prod-eu: recovered"},
		{"probes", []monitor.Change{change("probe:npm-left-pad", "OK", "Error"), change("probe:nuget-json", "OK", "Error")}, nil,
			"ProGet prod-eu: 2 probes Error"},
		{"one probe", []monitor.Change{change("probe:npm-left-pad", "OK", "Error")}, nil, "ProGet prod-eu: probe npm-left-pad Error"},
		{"certificate", []monitor.Change{change("certificate", "OK", "Expiring")}, nil, "ProGet prod-eu: TLS certificate expiring soon"},
		{"reminder", []monitor.Change{{Component: "instance", From: "Down", To: "Down", Since: at.Add(-125 * time.Minute), Reminder: true}},
			nil, "ProGet prod-eu: still DOWN (for 2h 5m)"},
		{"reminder of two", []monitor.Change{{Component: "database", From: "Error", To: "Error", Since: at.Add(-3 * 24 * time.Hour), Reminder: true},
			{Component: "license", From: "Error", To: "Error", Since: at.Add(-45 * time.Minute), Reminder: true}},
			nil, "ProGet prod-eu: still database Error, license Error (for 3d 0h)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Subject(monitor.Alert{Instance: "prod-eu", Time: at, Changes: tc.changes}, tc.problems)
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestSubjectIsShortASCII(t *testing.T) {
	var cs []monitor.Change
	for _, n := range []string{"database", "license", "service", "replication-server", "replication-client"} {
		cs = append(cs, change(n, "OK", "Error"))
	}
	got := Subject(monitor.Alert{Instance: "prüf-instanz\nmit-einem-sehr-langen-namen", Changes: cs}, nil)
	if len(got) > MaxSubject || !strings.HasSuffix(got, "...") {
		t.Errorf("subject %q (%d bytes) is not cut to %d", got, len(got), MaxSubject)
	}
	for _, r := range got {
		if r < 0x20 || r > 0x7e {
			t.Fatalf("subject %q has %q", got, r)
		}
	}
}

func TestTextReadsWell(t *testing.T) {
	a := monitor.Alert{ID: "abc123", Instance: "prod-eu", URL: "https://proget.example", Severity: monitor.SeverityCritical, Time: at,
		Changes: []monitor.Change{change("database", "OK", "Error"), change("connector:nuget.org", "", "Error")}}
	problems := []monitor.Problem{{Component: "database", Status: "Error"}, {Component: "connector:nuget.org", Status: "Error"}}
	want := `ProGet instance prod-eu has a problem.

URL:  https://proget.example
Time: 2026-11-24 12:05 UTC

What changed:
  - database: OK -> Error, since 2026-11-24 12:05 UTC
      detail of database
  - connector nuget.org: (first check) -> Error, since 2026-11-24 12:05 UTC
      detail of connector:nuget.org

Still not healthy:
  - database: Error
  - connector nuget.org: Error

--
proget-monitor alert abc123 (severity critical, instance prod-eu)
`
	m, err := Alert(a, problems, Text, false)
	if err != nil {
		t.Fatal(err)
	}
	if m.Body != want {
		t.Errorf("got:\n%s\nwant:\n%s", m.Body, want)
	}
	merged := monitor.Alert{ID: "m", Instance: "prod-eu", Severity: monitor.SeverityResolved, Time: at,
		Changes: []monitor.Change{{Component: "instance", From: "OK", To: "OK", Meanwhile: "Down", Since: at}}}
	m, _ = Alert(merged, nil, Text, false)
	if !strings.Contains(m.Body, "instance: OK -> Down -> OK") || !strings.Contains(m.Body, "recovered") {
		t.Errorf("a merged alert must tell what happened meanwhile:\n%s", m.Body)
	}
}

func TestHeadlines(t *testing.T) {
	for _, tc := range []struct {
		severity monitor.Severity
		change   monitor.Change
		want     string
	}{
		{monitor.SeverityWarning, change("certificate", "OK", "Expiring"), "The TLS certificate of ProGet instance prod-eu expires soon."},
		{monitor.SeverityWarning, change("connector-health", "OK", "Rejected"), "The monitor cannot check ProGet instance prod-eu as configured."},
		{monitor.SeverityWarning, change("instance", "OK", "WrongProduct"), "The monitor cannot check ProGet instance prod-eu as configured."},
		{monitor.SeverityCritical, change("probe:npm", "OK", "Error"), "ProGet instance prod-eu has a problem."},
		{monitor.SeverityResolved, change("probe:npm", "Error", "OK"), "ProGet instance prod-eu recovered."},
	} {
		m, err := Alert(monitor.Alert{ID: "x", Instance: "prod-eu", Severity: tc.severity, Time: at, Changes: []monitor.Change{tc.change}}, nil, Text, false)
		if err != nil {
			t.Fatal(err)
		}
		if first, _, _ := strings.Cut(m.Body, "\n"); first != tc.want {
			t.Errorf("%s %s: headline %q, want %q", tc.severity, tc.change.Component, first, tc.want)
		}
	}
}

func TestAttributes(t *testing.T) {
	m := Message{ID: "id1", Severity: monitor.SeverityCritical, Instances: []string{"prod-eu"}}
	got := map[string]Attribute{}
	for _, a := range m.Attributes() {
		got[a.Name] = a
	}
	if got[AttrInstance].Value != "prod-eu" || got[AttrInstance].Type != "String" || got[AttrSeverity].Value != "critical" ||
		got[AttrAlertID].Value != "id1" || got[AttrKind].Value != "instance" {
		t.Errorf("instance message attributes %+v", got)
	}
	f := Message{ID: "f1", Severity: monitor.SeverityCritical, Instances: []string{"a", "b"}, Fleet: true}
	for _, a := range f.Attributes() {
		if a.Name == AttrInstance && (a.Type != "String.Array" || a.Value != `["a","b"]`) {
			t.Errorf("fleet instance attribute %+v", a)
		}
	}
}

// bigAlert is an incident at the limits: n connectors failing at once, with
// long names and details.
func bigAlert(n, nameLen, detailLen int) (monitor.Alert, []monitor.Problem) {
	a := monitor.Alert{ID: "big", Instance: "prod-eu", URL: "https://proget.example", Severity: monitor.SeverityCritical, Time: at}
	var problems []monitor.Problem
	for i := range n {
		name := fmt.Sprintf("connector:%04d-%s", i, strings.Repeat("n", nameLen-5))
		detail := strings.Repeat("407 Proxy Authentication Required from the outbound proxy ", detailLen/58+1)[:detailLen]
		a.Changes = append(a.Changes, monitor.Change{Component: name, From: "OK", To: "Error", Since: at, Detail: detail})
		problems = append(problems, monitor.Problem{Component: name, Status: "Error", Detail: detail})
	}
	return a, problems
}

func TestAlertWithinSNSBudget(t *testing.T) {
	for _, tc := range []struct{ n, name, detail int }{{120, 80, 80}, {500, 200, 1000}, {5, 20, 20}} {
		a, problems := bigAlert(tc.n, tc.name, tc.detail)
		for _, f := range []Format{Text, JSON} {
			m, err := Alert(a, problems, f, false)
			if err != nil {
				t.Fatal(err)
			}
			if m.Size() > MaxPublishBytes {
				t.Errorf("%d connectors, %s: %d bytes, over SNS's %d", tc.n, f, m.Size(), MaxPublishBytes)
			}
			if want := fmt.Sprintf("ProGet prod-eu: %d connectors Error", tc.n); m.Subject != want {
				t.Errorf("subject %q, want %q: counts must be right", m.Subject, want)
			}
			if f == JSON {
				var d Document
				if err := json.Unmarshal([]byte(m.Body), &d); err != nil {
					t.Fatal(err)
				}
				if len(d.Changes)+d.ChangesOmitted != tc.n || len(d.Problems)+d.ProblemsOmitted != tc.n || d.ID != "big" {
					t.Errorf("%d connectors: %d listed + %d omitted changes", tc.n, len(d.Changes), d.ChangesOmitted)
				}
				if tc.n == 500 && (d.ChangesOmitted == 0 || !strings.Contains(d.Text, fmt.Sprintf("and %d more: %d connectors Error", d.ChangesOmitted, d.ChangesOmitted))) {
					t.Errorf("a truncated document must count what it leaves out: omitted %d, text %q", d.ChangesOmitted, d.Text[len(d.Text)-300:])
				}
			}
		}
	}
}

func TestFleetOfAThousandWithinBudget(t *testing.T) {
	f := Fleet{ID: "fleet1", Time: at, Checked: 1200}
	for i := range 1000 {
		name := fmt.Sprintf("team-%03d/%s", i, strings.Repeat("x", 150))
		f.Members = append(f.Members, monitor.Alert{ID: fmt.Sprint(i), Instance: name, URL: "https://" + name + ".corp.example/proget",
			Severity: monitor.SeverityCritical, Time: at,
			Changes: []monitor.Change{{Component: "instance", From: "OK", To: "Down", Since: at, Detail: "/health: DNS lookup of " + name + ".corp.example failed"}}})
	}
	for _, format := range []Format{Text, JSON} {
		m, err := FleetMessage(f, format, false)
		if err != nil {
			t.Fatal(err)
		}
		if m.Size() > MaxPublishBytes || m.Subject != "ProGet monitor: 1000 of 1200 instances DOWN at once" || m.Severity != monitor.SeverityCritical {
			t.Errorf("%s: %d bytes, subject %q", format, m.Size(), m.Subject)
		}
		if format == JSON {
			var d FleetDocument
			if err := json.Unmarshal([]byte(m.Body), &d); err != nil {
				t.Fatal(err)
			}
			if d.Count != 1000 || len(d.Instances)+d.InstancesOmitted != 1000 || d.Kind != "down" {
				t.Errorf("fleet document: count %d, %d listed, %d omitted", d.Count, len(d.Instances), d.InstancesOmitted)
			}
		}
	}
}

func TestMinimalForm(t *testing.T) {
	a, problems := bigAlert(40, 30, 200)
	m, err := Alert(a, problems, Text, true)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(m.Body, "short form") || !strings.Contains(m.Body, "and 35 more: 35 connectors Error") ||
		strings.Contains(m.Body, "Proxy Authentication") || m.ID != a.ID {
		t.Errorf("minimal form:\n%s", m.Body)
	}
}

func TestFleetKinds(t *testing.T) {
	member := func(name string, c monitor.Change) monitor.Alert {
		return monitor.Alert{ID: name, Instance: name, URL: "https://" + name, Time: at, Changes: []monitor.Change{c}}
	}
	up := Fleet{ID: "u", Time: at, Checked: 4, Members: []monitor.Alert{
		member("b", change("instance", "Down", "OK")), member("a", change("instance", "Down", "OK"))}}
	m, _ := FleetMessage(up, Text, false)
	if m.Subject != "ProGet monitor: 2 instances recovered" || m.Severity != monitor.SeverityResolved || !strings.Contains(m.Body, "  - a (https://a): OK") {
		t.Errorf("recovered fleet: %q %s\n%s", m.Subject, m.Severity, m.Body)
	}
	still := Fleet{ID: "s", Time: at, Checked: 4, Members: []monitor.Alert{
		member("a", monitor.Change{Component: "instance", From: "Down", To: "Down", Reminder: true, Since: at.Add(-4 * time.Hour)}),
		member("b", monitor.Change{Component: "instance", From: "Down", To: "Down", Reminder: true, Since: at.Add(-4 * time.Hour)})},
		Note: "The function may not reach the instances' network."}
	m, _ = FleetMessage(still, Text, false)
	if m.Subject != "ProGet monitor: 2 instances still DOWN (for 4h)" || !strings.Contains(m.Body, "may not reach") {
		t.Errorf("still-down fleet: %q\n%s", m.Subject, m.Body)
	}
}
