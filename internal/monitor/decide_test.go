package monitor

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/proget-monitor/proget-monitor/internal/maintenance"
)

var t0 = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

var prodEU = Target{Name: "prod-eu", Key: "/proget-monitor/targets/prod-eu", URL: "https://proget.example"}

// obs builds an observation of a running instance from "component=Status" pairs.
// "down" makes it a Down observation; "connectors=X" sets the endpoint state.
func obs(step int, spec ...string) Observation {
	o := Observation{Target: prodEU, Time: t0.Add(time.Duration(step) * 5 * time.Minute),
		Instance: Reading{Component: ComponentInstance, Status: StatusOK}, HealthRead: true, ConnectorsRead: true,
		Connectors: Reading{Component: ComponentConnectorHealth, Status: StatusOK}}
	for _, s := range spec {
		if s == "down" {
			o.Instance = Reading{Component: ComponentInstance, Status: StatusDown, Detail: "connection refused"}
			continue
		}
		if st, ok := strings.CutPrefix(s, "instance="); ok {
			o.Instance = Reading{Component: ComponentInstance, Status: Status(st), Detail: "detail of instance"}
			continue
		}
		name, st, _ := strings.Cut(s, "=")
		r := Reading{Component: name, Status: Status(st), Detail: "detail of " + name}
		switch {
		case name == ComponentConnectorHealth:
			o.Connectors = r
			o.ConnectorsRead = r.Status != StatusRejected && r.Status != StatusError
		case strings.HasPrefix(name, ConnectorPrefix):
			o.ConnectorList = append(o.ConnectorList, r)
		default:
			o.Health = append(o.Health, r)
		}
	}
	return o
}

func healthy(step int) Observation {
	return obs(step, "database=OK", "license=OK", "service=OK", "connector:nuget.org=OK")
}

// run feeds observations in sequence and returns the alerts' changes, one string per run.
func run(p Policy, seq ...Observation) []string {
	var s State
	var out []string
	for _, o := range seq {
		var a *Alert
		s, a = Decide(s, o, p)
		out = append(out, describe(a))
	}
	return out
}

func describe(a *Alert) string {
	if a == nil {
		return "-"
	}
	var parts []string
	for _, c := range a.Changes {
		from := string(c.From)
		if from == "" {
			from = "new"
		}
		parts = append(parts, fmt.Sprintf("%s %s>%s", c.Component, from, c.To))
	}
	return string(a.Severity) + ": " + strings.Join(parts, ", ")
}

func TestDecideSequences(t *testing.T) {
	one := Policy{FailureThreshold: 1, RecoveryThreshold: 1}
	three := Policy{FailureThreshold: 3, RecoveryThreshold: 2}
	dbErr := func(step int) Observation {
		return obs(step, "database=Error", "license=OK", "service=OK", "connector:nuget.org=OK")
	}
	cases := []struct {
		name string
		p    Policy
		seq  []Observation
		want []string
	}{
		{"first sight healthy is silent", one, []Observation{healthy(0), healthy(1)}, []string{"-", "-"}},
		{"first sight bad is alerted", one,
			[]Observation{obs(0, "database=Error", "license=OK")},
			[]string{"critical: database new>Error"}},
		{"first sight down is alerted", one, []Observation{obs(0, "down")}, []string{"critical: instance new>Down"}},
		{"fail then recover", one, []Observation{healthy(0), dbErr(1), dbErr(2), healthy(3), healthy(4)},
			[]string{"-", "critical: database OK>Error", "-", "resolved: database Error>OK", "-"}},
		{"down hides components and comes back", one,
			[]Observation{dbErr(0), obs(1, "down"), obs(2, "down"), dbErr(3), healthy(4)},
			[]string{"critical: database new>Error", "critical: instance OK>Down", "-", "resolved: instance Down>OK", "resolved: database Error>OK"}},
		{"failure threshold needs consecutive bad runs", three,
			[]Observation{healthy(0), dbErr(1), dbErr(2), healthy(3), dbErr(4), dbErr(5), dbErr(6), dbErr(7)},
			[]string{"-", "-", "-", "-", "-", "-", "critical: database OK>Error", "-"}},
		{"recovery threshold needs consecutive good runs", three,
			[]Observation{healthy(0), dbErr(1), dbErr(2), dbErr(3), healthy(4), dbErr(5), healthy(6), healthy(7), healthy(8)},
			[]string{"-", "-", "-", "critical: database OK>Error", "-", "-", "-", "resolved: database Error>OK", "-"}},
		{"flapping inside the threshold never alerts", three,
			[]Observation{healthy(0), dbErr(1), healthy(2), dbErr(3), dbErr(4), healthy(5), dbErr(6)},
			[]string{"-", "-", "-", "-", "-", "-", "-"}},
		{"several changes in one message", one,
			[]Observation{healthy(0), obs(1, "database=Error", "license=Error", "service=OK", "connector:nuget.org=Error", "connector:npmjs.org=Error")},
			[]string{"-", "critical: database OK>Error, license OK>Error, connector:npmjs.org new>Error, connector:nuget.org OK>Error"}},
		{"rejected key is a warning, not an incident", one,
			[]Observation{healthy(0), obs(1, "database=OK", "connector-health=Rejected"), obs(2, "database=OK", "connector-health=Rejected"), healthy(3)},
			[]string{"-", "warning: connector-health OK>Rejected", "-", "resolved: connector-health Rejected>OK"}},
		{"connectors are frozen while the key is rejected", one,
			[]Observation{obs(0, "database=OK", "connector:nuget.org=Error"), obs(1, "database=OK", "connector-health=Rejected"), obs(2, "database=OK", "connector:nuget.org=Error")},
			[]string{"critical: connector:nuget.org new>Error", "warning: connector-health OK>Rejected", "resolved: connector-health Rejected>OK"}},
		{"removed bad connector is reported, removed good one is not", one,
			[]Observation{obs(0, "database=OK", "connector:a=Error", "connector:b=OK"), obs(1, "database=OK")},
			[]string{"critical: connector:a new>Error", "resolved: connector:a Error>Removed"}},
		{"unsupported connector API after an upgrade is not an incident", one,
			[]Observation{obs(0, "database=OK", "connector:a=OK"), obs(1, "database=OK", "connector-health=Unsupported")},
			[]string{"-", "-"}},
		{"unknown connector state is not a problem", one,
			[]Observation{obs(0, "connector:a=OK"), obs(1, "connector:a=Unknown"), obs(2, "connector:a=Error")},
			[]string{"-", "-", "critical: connector:a Unknown>Error"}},
		{"replication switched off while broken", one,
			[]Observation{obs(0, "replication-server=Error"), obs(1, "database=OK")},
			[]string{"critical: replication-server new>Error", "resolved: replication-server Error>Removed"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := run(tc.p, tc.seq...)
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("alerts:\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestDecideDetailChangeIsNotAChange(t *testing.T) {
	p := Policy{FailureThreshold: 1, RecoveryThreshold: 1}
	s, _ := Decide(State{}, obs(0, "database=Error"), p)
	o := obs(1, "database=Error")
	o.Health[0].Detail = "a different message"
	s, a := Decide(s, o, p)
	if a != nil {
		t.Fatalf("alert on a detail change: %+v", a)
	}
	if got := s.Components[ComponentDatabase].Detail; got != "a different message" {
		t.Errorf("stored detail = %q, want the latest", got)
	}
	if got := s.Components[ComponentDatabase].Since; !got.Equal(t0) {
		t.Errorf("since = %v, want the first bad run %v", got, t0)
	}
}

func TestDecideSteadyStateIsStable(t *testing.T) {
	// A steady instance must produce identical state run after run, so the run
	// writes nothing for it.
	p := Policy{FailureThreshold: 3, RecoveryThreshold: 2}
	var s State
	for i := range 5 {
		s, _ = Decide(s, healthy(i), p)
	}
	again, a := Decide(s, healthy(6), p)
	if a != nil || !Equal(s, again) {
		t.Fatalf("steady state changed:\n%+v\n%+v", s, again)
	}
}

func TestDecideSinceIsFirstBadReading(t *testing.T) {
	p := Policy{FailureThreshold: 3, RecoveryThreshold: 1}
	seq := []Observation{healthy(0), obs(1, "database=Error"), obs(2, "database=Error"), obs(3, "database=Error")}
	var s State
	var a *Alert
	for _, o := range seq {
		s, a = Decide(s, o, p)
	}
	if a == nil || !a.Changes[0].Since.Equal(seq[1].Time) {
		t.Fatalf("since should be the first bad run %v, alert %+v", seq[1].Time, a)
	}
}

func TestAlertProblemsAndID(t *testing.T) {
	p := Policy{FailureThreshold: 1, RecoveryThreshold: 1}
	s, _ := Decide(State{}, obs(0, "database=Error", "license=OK"), p)
	next, a := Decide(s, obs(1, "database=Error", "license=Error"), p)
	if ps := Problems(next); len(ps) != 2 || ps[0].Component != ComponentDatabase || ps[1].Component != ComponentLicense {
		t.Errorf("problems = %+v, want database and license", ps)
	}
	down, _ := Decide(next, obs(2, "down"), p)
	if ps := Problems(down); len(ps) != 1 || ps[0].Status != StatusDown {
		t.Errorf("problems while down = %+v, want only the instance", ps)
	}
	_, again := Decide(s, obs(1, "database=Error", "license=Error"), p)
	if a.ID == "" || again.ID != a.ID {
		t.Errorf("alert id not stable: %q vs %q", a.ID, again.ID)
	}
	_, other := Decide(s, obs(2, "database=Error", "license=Error"), p)
	if other.ID == a.ID {
		t.Errorf("alerts of different runs share id %q", a.ID)
	}
}

func TestReminders(t *testing.T) {
	p := Policy{FailureThreshold: 1, RecoveryThreshold: 1, ReminderInterval: 12 * time.Minute}
	dbErr := func(step int) Observation { return obs(step, "database=Error", "license=OK") }
	// Runs every 5 minutes: the problem at 0, reminders at 15 and 30 (the first
	// runs at least 12 minutes after the last word), then the recovery.
	got := run(p, dbErr(0), dbErr(1), dbErr(2), dbErr(3), dbErr(4), dbErr(5), dbErr(6), obs(7, "database=OK", "license=OK"))
	want := []string{"critical: database new>Error", "-", "-", "critical: database Error>Error", "-", "-", "critical: database Error>Error", "resolved: database Error>OK"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	var s State
	var a *Alert
	for i := range 4 {
		s, a = Decide(s, dbErr(i), p)
	}
	if a == nil || !a.Changes[0].Reminder || !a.Changes[0].Since.Equal(t0) {
		t.Errorf("reminder %+v must say since when the component is bad", a)
	}
	// While the instance is down, only the instance is reminded of.
	s, _ = Decide(State{}, dbErr(0), p)
	var last *Alert
	for i := 1; i <= 5; i++ {
		s, last = Decide(s, obs(i, "down"), p)
		if last != nil && i > 1 {
			for _, c := range last.Changes {
				if c.Component != ComponentInstance {
					t.Errorf("reminded of %s while the instance is down", c.Component)
				}
			}
		}
	}
}

func TestMaintenance(t *testing.T) {
	p := Policy{FailureThreshold: 1, RecoveryThreshold: 1}
	window, err := maintenance.Parse(t0.Add(12 * time.Minute).Format(time.RFC3339)) // until step 2 (10 min) is over
	if err != nil {
		t.Fatal(err)
	}
	in := func(o Observation) Observation { o.Target.Maintenance = window; return o }
	cases := []struct {
		name string
		seq  []Observation
		want []string
	}{
		{"problem and fix inside the window: nothing", []Observation{
			in(healthy(0)), in(obs(1, "down")), in(healthy(2)), in(healthy(3))}, []string{"-", "-", "-", "-"}},
		{"problem that outlasts the window: told when it ends", []Observation{
			in(healthy(0)), in(obs(1, "down")), in(obs(2, "down")), in(obs(3, "down"))}, []string{"-", "-", "-", "critical: instance OK>Down"}},
		{"known before, fixed during: recovery told at the end", []Observation{
			obs(-3, "database=Error"), in(obs(1, "database=OK")), in(obs(3, "database=OK"))},
			[]string{"critical: database new>Error", "-", "resolved: database Error>OK"}},
		{"known before, still bad after: no re-alert", []Observation{
			obs(-3, "database=Error"), in(obs(1, "down")), in(obs(2, "database=Error")), in(obs(3, "database=Error"))},
			[]string{"critical: database new>Error", "-", "-", "-"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := run(p, tc.seq...)
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestVersionNotices(t *testing.T) {
	release := func(step int, rel string, ext ...string) Observation {
		o := healthy(step)
		o.Release, o.Extensions = rel, ext
		return o
	}
	seq := []Observation{release(0, "23.0.27", "InedoCore 2.3.2"), release(1, "23.0.27", "InedoCore 2.3.2"),
		release(2, "24.0.1", "InedoCore 2.3.2"), release(3, "24.0.1", "Azure 2.0.1", "InedoCore 2.4.0")}
	on := Policy{FailureThreshold: 1, RecoveryThreshold: 1, VersionNotices: true}
	var s State
	var got []string
	for _, o := range seq {
		var a *Alert
		s, a = Decide(s, o, on)
		if a == nil {
			got = append(got, "-")
			continue
		}
		for _, n := range a.Notices {
			got = append(got, fmt.Sprintf("%s %s: %s>%s (%s)", a.Severity, n.Kind, n.From, n.To, n.Detail))
		}
	}
	want := []string{"-", "-", "info version: 23.0.27>24.0.1 ()",
		"info extensions: InedoCore 2.3.2>Azure 2.0.1, InedoCore 2.4.0 (added Azure 2.0.1, InedoCore 2.4.0; removed InedoCore 2.3.2)"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	off := Policy{FailureThreshold: 1, RecoveryThreshold: 1}
	if got := run(off, seq...); strings.Join(got, "") != "----" {
		t.Errorf("notices switched off still alert: %q", got)
	}
	// A notice never hides in, nor changes the severity of, an incident.
	s, _ = Decide(State{}, release(0, "23.0.27"), on)
	o := release(1, "24.0.1")
	o.Health[0].Status = StatusError
	_, a := Decide(s, o, on)
	if a.Severity != SeverityCritical || len(a.Notices) != 1 || len(a.Changes) != 1 {
		t.Errorf("mixed alert %+v", a)
	}
}

// A URL now answered by another product is a warning: the database error its
// components last read is not what pages.
func TestCriticalFollowsTheInstance(t *testing.T) {
	p := Policy{FailureThreshold: 1, RecoveryThreshold: 1}
	s, _ := Decide(State{}, healthy(0), p)
	s, _ = Decide(s, obs(1, "database=Error", "license=OK"), p)
	if !Critical(s) {
		t.Fatalf("a confirmed database error must be critical: %+v", s.Components)
	}
	s, _ = Decide(s, obs(2, "instance="+string(StatusWrongProduct)), p)
	if Critical(s) {
		t.Errorf("an instance answered by another product is a warning, whatever its components last read: %+v", s.Components)
	}
	if s, _ = Decide(s, obs(3, "down"), p); !Critical(s) {
		t.Errorf("a down instance is critical")
	}
}
