package alert

import (
	"encoding/json"
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
		{"removed", []monitor.Change{change("connector:old", "Error", "Removed")}, nil, "ProGet prod-eu: recovered"},
		{"reminder", []monitor.Change{{Component: "instance", From: "Down", To: "Down", Since: at.Add(-125 * time.Minute), Reminder: true}},
			nil, "ProGet prod-eu: still DOWN (for 2h 5m)"},
		{"reminder of two", []monitor.Change{{Component: "database", From: "Error", To: "Error", Since: at.Add(-3 * 24 * time.Hour), Reminder: true},
			{Component: "license", From: "Error", To: "Error", Since: at.Add(-45 * time.Minute), Reminder: true}},
			nil, "ProGet prod-eu: still database Error, license Error (for 3d 0h)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Subject(monitor.Alert{Instance: "prod-eu", Time: at, Changes: tc.changes, Problems: tc.problems})
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
	got := Subject(monitor.Alert{Instance: "prüf-instanz\nmit-einem-sehr-langen-namen", Changes: cs})
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
		Changes:  []monitor.Change{change("database", "OK", "Error"), change("connector:nuget.org", "", "Error")},
		Problems: []monitor.Problem{{Component: "database", Status: "Error"}, {Component: "connector:nuget.org", Status: "Error"}}}
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
proget-monitor alert abc123 (severity critical)
`
	if got := Text(a); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestSNSMessageHasATextPerProtocol(t *testing.T) {
	a := monitor.Alert{ID: "id1", Instance: "prod-eu", Severity: monitor.SeverityResolved, Time: at,
		Changes: []monitor.Change{change("database", "Error", "OK")}}
	raw, err := snsMessage(a)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]string
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		t.Fatal(err)
	}
	if m["default"] != Text(a) || m["email"] != Text(a) {
		t.Errorf("default/email must be the text")
	}
	var doc Document
	if err := json.Unmarshal([]byte(m["sqs"]), &doc); err != nil || doc.Schema != Schema || doc.ID != "id1" || doc.Problems == nil {
		t.Errorf("sqs document %+v, %v", doc, err)
	}
	if m["lambda"] != m["sqs"] || m["https"] != m["sqs"] {
		t.Errorf("machine protocols must get the same document")
	}
}

func TestNoticeAlert(t *testing.T) {
	a := monitor.Alert{ID: "n1", Instance: "prod-eu", URL: "https://p", Severity: monitor.SeverityInfo, Time: at,
		Notices: []monitor.Notice{{Kind: "version", From: "23.0.27", To: "24.0.1"},
			{Kind: "extensions", Detail: "added Azure 2.0.1"}}}
	if got := Subject(a); got != "ProGet prod-eu: now 24.0.1, extensions changed" {
		t.Errorf("subject %q", got)
	}
	text := Text(a)
	for _, want := range []string{"changed its version or extensions", "ProGet version: 23.0.27 -> 24.0.1", "extensions: added Azure 2.0.1"} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "What changed") || strings.Contains(text, "healthy") {
		t.Errorf("an info notice speaks of health:\n%s", text)
	}
}
