package monitor

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// Thresholds count runs, not identical statuses: a mix of problem statuses
// confirms a problem, a mix of healthy statuses confirms a recovery.
func TestThresholdsCountRunsNotStatuses(t *testing.T) {
	two := Policy{FailureThreshold: 2, RecoveryThreshold: 2}
	conn := func(step int, st Status) Observation {
		o := obs(step, "database=OK", "connector:nuget.org="+string(st))
		return o
	}
	endpoint := func(step int, st Status) Observation {
		o := obs(step, "database=OK")
		o.Connectors = Reading{Component: ComponentConnectorHealth, Status: st, Detail: "detail"}
		o.ConnectorsRead = false
		return o
	}
	cases := []struct {
		name string
		seq  []Observation
		want []string
	}{
		{"Error and Rejected alternating is a confirmed problem, reported as the latest",
			[]Observation{endpoint(0, StatusOK), endpoint(1, StatusError), endpoint(2, StatusRejected), endpoint(3, StatusError)},
			[]string{"-", "-", "warning: connector-health OK>Rejected", "critical: connector-health Rejected>Error"}},
		{"OK and Unknown alternating is a confirmed recovery",
			[]Observation{conn(0, StatusError), conn(1, StatusError), conn(2, StatusOK), conn(3, StatusUnknown)},
			[]string{"-", "critical: connector:nuget.org new>Error", "-", "resolved: connector:nuget.org Error>Unknown"}},
		{"a healthy run breaks the streak",
			[]Observation{conn(0, StatusOK), conn(1, StatusError), conn(2, StatusUnknown), conn(3, StatusError), conn(4, StatusError)},
			[]string{"-", "-", "-", "-", "critical: connector:nuget.org Unknown>Error"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := run(two, tc.seq...); strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("alerts:\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

// An instance that answers, but is not ProGet's health API as configured, is a
// warning of its own kind, and hides its components as Down does.
func TestWrongTargetIsAWarning(t *testing.T) {
	one := Policy{FailureThreshold: 1, RecoveryThreshold: 1}
	for _, st := range []Status{StatusNoHealthAPI, StatusWrongProduct, StatusRedirected} {
		got := run(one, obs(0, "database=Error"), obs(1, "instance="+string(st)), obs(2, "database=Error"))
		want := []string{"critical: database new>Error", "warning: instance OK>" + string(st), "resolved: instance " + string(st) + ">OK"}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s:\n got %q\nwant %q", st, got, want)
		}
	}
}

func bigInstance(step int, n int, bad map[int]bool) Observation {
	o := obs(step, "database=OK")
	for i := range n {
		st := StatusOK
		if bad[i] {
			st = StatusError
		}
		o.ConnectorList = append(o.ConnectorList, Reading{Component: fmt.Sprintf("%sfeed-%04d", ConnectorPrefix, i), Status: st})
	}
	return o
}

// A connector past the tracking cap is tracked once it fails, and its
// recovery is a recovery: ProGet still lists it, so it is never "removed".
func TestConnectorsBeyondTheCap(t *testing.T) {
	one := Policy{FailureThreshold: 1, RecoveryThreshold: 1}
	seq := []Observation{
		bigInstance(0, 3000, nil),
		bigInstance(1, 3000, map[int]bool{1500: true}),
		bigInstance(2, 3000, nil),
		bigInstance(3, 3000, nil),
	}
	var s State
	var got []string
	for _, o := range seq {
		var a *Alert
		s, a = Decide(s, o, one)
		got = append(got, describe(a))
		if n := len(s.Components); n > MaxConnectors+8 {
			t.Fatalf("%d components stored: the cap is %d connectors", n, MaxConnectors)
		}
	}
	want := []string{"-", "critical: connector:feed-1500 new>Error", "resolved: connector:feed-1500 Error>OK", "-"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("alerts:\n got %q\nwant %q", got, want)
	}
	if d := s.Components[ComponentConnectorHealth].Detail; !strings.Contains(d, "3000 connectors listed") {
		t.Errorf("connector-health detail %q does not say the list is capped", d)
	}
	// A connector ProGet really stops listing is still reported removed.
	shorter := bigInstance(4, 3000, map[int]bool{7: true})
	s, _ = Decide(s, shorter, one)
	shorter = bigInstance(5, 3000, nil)
	shorter.ConnectorList = shorter.ConnectorList[8:]
	if _, a := Decide(s, shorter, one); describe(a) != "resolved: connector:feed-0007 Error>Removed" {
		t.Errorf("a connector no longer listed: %s", describe(a))
	}
}

// When new problems would fill the cap, a connector people were told is bad
// keeps its place: its recovery is told, never "removed", and the stored
// state stays within the cap.
func TestRecoveryBeyondAFullCap(t *testing.T) {
	one := Policy{FailureThreshold: 1, RecoveryThreshold: 1}
	s, _ := Decide(State{}, bigInstance(0, 3000, nil), one)
	s, _ = Decide(s, bigInstance(1, 3000, map[int]bool{2900: true}), one)
	storm := map[int]bool{}
	for i := range 600 {
		storm[i] = true
	}
	s, a := Decide(s, bigInstance(2, 3000, storm), one)
	d := describe(a)
	if !strings.Contains(d, "connector:feed-2900 Error>OK") || strings.Contains(d, "Removed") || strings.Count(d, ">Error") != MaxConnectors-1 {
		t.Errorf("alert: feed-2900's recovery and %d new failures, never Removed: %.300s", MaxConnectors-1, d)
	}
	if n := connectorsStored(s); n > MaxConnectors {
		t.Errorf("%d connectors stored, over the cap of %d", n, MaxConnectors)
	}
}

// A failure that moves through thousands of connectors, 500 a run, each
// wave recovering as the next fails: the state stays within the cap.
func TestMovingFailureStaysWithinTheCap(t *testing.T) {
	one := Policy{FailureThreshold: 1, RecoveryThreshold: 1}
	var s State
	for run := range 12 {
		bad := map[int]bool{}
		for i := range MaxConnectors {
			if run > 0 {
				bad[(run-1)*MaxConnectors+i] = true
			}
		}
		var a *Alert
		s, a = Decide(s, bigInstance(run, 6000, bad), one)
		if n := connectorsStored(s); n > MaxConnectors {
			t.Fatalf("run %d: %d connectors stored, over the cap of %d", run, n, MaxConnectors)
		}
		if strings.Contains(describe(a), "Removed") {
			t.Fatalf("run %d: a listed connector reported removed", run)
		}
	}
}

func connectorsStored(s State) int {
	n := 0
	for name := range s.Components {
		if strings.HasPrefix(name, ConnectorPrefix) {
			n++
		}
	}
	return n
}

func TestMergeCollapsesPerComponent(t *testing.T) {
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	down := Alert{ID: "a", Time: at(0), Severity: SeverityCritical,
		Changes: []Change{{Component: ComponentInstance, From: StatusOK, To: StatusDown, Since: at(0), Detail: "refused"}}}
	up := Alert{ID: "b", Time: at(5), Severity: SeverityResolved,
		Changes: []Change{{Component: ComponentInstance, From: StatusDown, To: StatusOK, Since: at(5)}}}
	m := Merge(down, up)
	if m.Severity != SeverityResolved || len(m.Changes) != 1 {
		t.Fatalf("[Down, then OK] merged: %+v", m)
	}
	c := m.Changes[0]
	if c.From != StatusOK || c.To != StatusOK || c.Meanwhile != StatusDown || !c.Since.Equal(at(0)) {
		t.Errorf("collapsed change %+v: want OK -> (Down) -> OK since the first", c)
	}
	if m.ID == down.ID || m.ID == up.ID || m.ID == "" {
		t.Errorf("merged id %q", m.ID)
	}
	again := Merge(m, Alert{ID: "c", Time: at(10), Severity: SeverityCritical, Changes: []Change{
		{Component: ComponentInstance, From: StatusOK, To: StatusDown, Since: at(10)},
		{Component: ComponentDatabase, From: StatusOK, To: StatusError, Since: at(10)},
	}})
	if again.Severity != SeverityCritical || len(again.Changes) != 2 || again.Changes[0].To != StatusDown || again.Changes[0].From != StatusOK {
		t.Errorf("merged again: %+v", again)
	}
	notices := Merge(Alert{ID: "n1", Notices: []Notice{{Kind: "version", From: "23.0.1", To: "24.0.1"}}},
		Alert{ID: "n2", Notices: []Notice{{Kind: "version", From: "24.0.1", To: "24.0.2"}}})
	if notices.Severity != SeverityInfo || len(notices.Notices) != 1 || notices.Notices[0].From != "23.0.1" || notices.Notices[0].To != "24.0.2" {
		t.Errorf("merged notices: %+v", notices)
	}
}

// Equal compares every field without a hand-kept list: a state whose every
// leaf is set, with any one leaf cleared, differs from it, except in the
// bookkeeping a store adds. The state is filled by reflection, so a field
// added tomorrow is checked too.
func TestEqualSeesEveryField(t *testing.T) {
	rich := func() State {
		var s State
		fill(reflect.ValueOf(&s).Elem())
		return s
	}
	bookkeeping := map[string]bool{".Version": true, ".UpdatedAt": true, ".ExpiresAt": true}
	base := rich()
	n := 0
	for _, l := range leaves(reflect.ValueOf(base), "", nil) {
		if bookkeeping[l.path] {
			continue
		}
		other := rich()
		clearAt(reflect.ValueOf(&other).Elem(), l.steps)
		if Equal(base, other) {
			t.Errorf("Equal does not see a change of %s", l.path)
		}
		n++
	}
	if n < 30 {
		t.Errorf("only %d leaves checked: the walk is broken", n)
	}
	for path := range bookkeeping {
		other := rich()
		for _, l := range leaves(reflect.ValueOf(other), "", nil) {
			if l.path == path {
				clearAt(reflect.ValueOf(&other).Elem(), l.steps)
			}
		}
		if !Equal(base, other) {
			t.Errorf("%s is bookkeeping and must not count", path)
		}
	}
	if !Equal(State{Components: map[string]ComponentState{}, Extensions: []string{}}, State{}) {
		t.Errorf("an empty map or slice must equal a nil one")
	}
	if !Equal(State{OutboxLease: t0}, State{OutboxLease: t0.In(time.FixedZone("x", 3600))}) {
		t.Errorf("times must compare as instants")
	}
}

// fill sets every leaf of v to a non-zero value, with one element in every
// slice and map.
func fill(v reflect.Value) {
	switch {
	case v.Type() == timeType:
		v.Set(reflect.ValueOf(t0))
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i))
			}
		}
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		fill(v.Index(0))
	case reflect.Map:
		v.Set(reflect.MakeMap(v.Type()))
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(k)
		fill(e)
		v.SetMapIndex(k, e)
	case reflect.String:
		v.SetString("x")
	case reflect.Int, reflect.Int64:
		v.SetInt(1)
	case reflect.Bool:
		v.SetBool(true)
	default:
		panic("fill: unexpected kind " + v.Kind().String())
	}
}

type step struct {
	field, index int // -1 when not this kind of step
	key          reflect.Value
}

type leaf struct {
	path  string
	steps []step
}

func leaves(v reflect.Value, path string, steps []step) []leaf {
	if v.Type() == timeType {
		return []leaf{{path, steps}}
	}
	var out []leaf
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				out = append(out, leaves(v.Field(i), path+"."+v.Type().Field(i).Name, append(slices.Clone(steps), step{field: i, index: -1}))...)
			}
		}
	case reflect.Slice:
		out = append(out, leaf{path, steps}) // the slice as a whole
		out = append(out, leaves(v.Index(0), path+"[0]", append(slices.Clone(steps), step{field: -1, index: 0}))...)
	case reflect.Map:
		k := v.MapKeys()[0]
		out = append(out, leaf{path, steps})
		out = append(out, leaves(v.MapIndex(k), path+"[key]", append(slices.Clone(steps), step{field: -1, index: -1, key: k}))...)
	default:
		out = append(out, leaf{path, steps})
	}
	return out
}

// clearAt zeroes the leaf at steps under v (addressable).
func clearAt(v reflect.Value, steps []step) {
	if len(steps) == 0 {
		v.Set(reflect.Zero(v.Type()))
		return
	}
	s, rest := steps[0], steps[1:]
	switch {
	case s.field >= 0:
		clearAt(v.Field(s.field), rest)
	case s.index >= 0:
		clearAt(v.Index(s.index), rest)
	default:
		e := reflect.New(v.Type().Elem()).Elem()
		e.Set(v.MapIndex(s.key))
		clearAt(e, rest)
		v.SetMapIndex(s.key, e)
	}
}

// Probes and the certificate follow the usual rules, except that removing
// one from the configuration is not news.
func TestProbesAndCertificate(t *testing.T) {
	one := Policy{FailureThreshold: 1, RecoveryThreshold: 1}
	with := func(step int, probes map[string]Status, cert Status) Observation {
		o := obs(step, "database=OK")
		for _, label := range []string{"npm", "nuget"} {
			if st, ok := probes[label]; ok {
				o.Probes = append(o.Probes, Reading{Component: ProbePrefix + label, Status: st, Detail: "HTTP 404 from /npm/x"})
			}
		}
		if cert != "" {
			o.Certificate = &Reading{Component: ComponentCertificate, Status: cert, Detail: "expires 2026-11-29 (5 days left), CN=proget"}
		}
		return o
	}
	ok := map[string]Status{"npm": StatusOK, "nuget": StatusOK}
	npmBad := map[string]Status{"npm": StatusError, "nuget": StatusOK}
	seq := []Observation{
		with(0, ok, StatusOK),
		with(1, npmBad, StatusOK),
		obs(2, "down"),
		with(3, npmBad, StatusExpiring),
		with(4, map[string]Status{"nuget": StatusOK}, StatusExpiring), // npm probe removed while bad
		with(5, map[string]Status{"nuget": StatusOK}, ""),             // certificate warning switched off
		with(6, map[string]Status{"nuget": StatusError}, StatusOK),
	}
	got := run(one, seq...)
	// The certificate, forgotten at step 5, is new again at 6: seen healthy,
	// it is recorded silently.
	want := []string{"-", "critical: probe:npm OK>Error", "critical: instance OK>Down", "warning: instance Down>OK, certificate OK>Expiring",
		"-", "-", "critical: probe:nuget OK>Error"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("alerts:\n got %q\nwant %q", got, want)
	}
}

// Version notices merged for days keep a bounded detail: the latest one.
func TestMergedNoticesStayBounded(t *testing.T) {
	a := Alert{ID: "a", Time: t0, Severity: SeverityInfo, Notices: []Notice{{Kind: "extensions", From: "v0", To: "v1", Detail: "added ext-0"}}}
	for i := 1; i < 2000; i++ {
		a = Merge(a, Alert{ID: fmt.Sprint(i), Time: t0.Add(time.Duration(i) * time.Minute), Severity: SeverityInfo,
			Notices: []Notice{{Kind: "extensions", From: fmt.Sprintf("v%d", i), To: fmt.Sprintf("v%d", i+1), Detail: fmt.Sprintf("added ext-%d", i)}}})
	}
	if len(a.Notices) != 1 {
		t.Fatalf("notices %+v", a.Notices)
	}
	n := a.Notices[0]
	if len(n.Detail) > maxNoticeDetail || !strings.HasSuffix(n.Detail, "added ext-1999") || n.From != "v0" || n.To != "v2000" {
		t.Errorf("after 2000 merges: %d bytes, %q .. %q, ends %q", len(n.Detail), n.From, n.To, n.Detail[max(0, len(n.Detail)-40):])
	}
}
