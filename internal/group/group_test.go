package group

import (
	"testing"
	"time"

	"github.com/proget-monitor/proget-monitor/internal/monitor"
)

var now = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

func instanceAlert(from, to monitor.Status, reminder bool) *monitor.Alert {
	return &monitor.Alert{Changes: []monitor.Change{{Component: monitor.ComponentInstance, From: from, To: to, Reminder: reminder}}}
}

func down() Decision {
	return Decision{Alert: instanceAlert(monitor.StatusOK, monitor.StatusDown, false), NetworkFailure: true}
}

func TestStormOfDownsIsOneFleet(t *testing.T) {
	p := Policy{Percent: 50, MinInstances: 3}
	ds := []Decision{down(), down(), down(), {}, {Alert: instanceAlert(monitor.StatusOK, monitor.StatusDown, false)}}
	got := Plan(p, "/t/", now, 5, ds)
	if got[0].Fleet == "" || got[0].Fleet != got[1].Fleet || got[1].Fleet != got[2].Fleet || got[0].Checked != 5 {
		t.Errorf("three of five down for network reasons must share a fleet: %+v", got)
	}
	if got[3].Fleet != "" || got[4].Fleet != "" {
		t.Errorf("no alert, and a down that answered HTTP, are not part of it: %+v", got)
	}
	if again := Plan(p, "/t/", now, 5, ds); again[0].Fleet != got[0].Fleet {
		t.Errorf("the fleet id must be derived from the run, not random")
	}
	if other := Plan(p, "/shard-b/", now, 5, ds); other[0].Fleet == got[0].Fleet {
		t.Errorf("two schedules must not share fleet ids")
	}
}

func TestBelowTheStormThresholdEachAlone(t *testing.T) {
	p := Policy{Percent: 50, MinInstances: 3}
	for _, tc := range []struct {
		name    string
		checked int
		ds      []Decision
	}{
		{"half is not more than half", 4, []Decision{down(), down(), {}, {}}},
		{"too few instances", 2, []Decision{down(), down()}},
		{"grouping off", 3, []Decision{down(), down(), down()}},
	} {
		pol := p
		if tc.name == "grouping off" {
			pol.Percent = 0
		}
		for i, a := range Plan(pol, "/t/", now, tc.checked, tc.ds) {
			if a.Fleet != "" {
				t.Errorf("%s: decision %d grouped", tc.name, i)
			}
		}
	}
}

func TestRecoveriesAndRemindersAreGrouped(t *testing.T) {
	p := Policy{Percent: 50, MinInstances: 3}
	up := Decision{Alert: instanceAlert(monitor.StatusDown, monitor.StatusOK, false)}
	still := Decision{Alert: instanceAlert(monitor.StatusDown, monitor.StatusDown, true)}
	got := Plan(p, "/t/", now, 10, []Decision{up, up, up, up, up, up, still, still, {}, {}})
	if got[0].Fleet == "" || got[5].Fleet != got[0].Fleet {
		t.Errorf("six of ten recovering must be one fleet: %+v", got)
	}
	if got[6].Fleet == "" || got[6].Fleet != got[7].Fleet || got[6].Fleet == got[0].Fleet {
		t.Errorf("two reminders that instances are still down must be one fleet of their own: %+v", got)
	}
	single := Plan(p, "/t/", now, 10, []Decision{still})
	if single[0].Fleet != "" {
		t.Errorf("a lone reminder is sent on its own")
	}
	mixed := Decision{Alert: &monitor.Alert{Changes: []monitor.Change{
		{Component: monitor.ComponentInstance, From: monitor.StatusOK, To: monitor.StatusDown},
		{Component: monitor.ComponentDatabase, From: monitor.StatusOK, To: monitor.StatusError}}}, NetworkFailure: true}
	if got := Plan(p, "/t/", now, 3, []Decision{mixed, down(), down()}); got[0].Fleet != "" {
		t.Errorf("an alert that says more than its instance's change is sent on its own")
	}
}
