package monitor

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
	"time"
)

// StormPolicy decides when many instances changing at once are one event: when
// more than Percent of the instances checked in a run (and at least
// MinInstances are checked) go down for network reasons, the monitor's own
// connectivity is the likeliest cause, and one fleet alert lists them. Their
// recoveries, if as many come back in one run, are grouped the same way.
type StormPolicy struct {
	Percent      int // 0 switches grouping off
	MinInstances int
}

// affected returns the results whose alerts belong in a fleet alert.
func (p StormPolicy) affected(results []result) []int {
	checked := countChecked(results)
	if p.Percent <= 0 || checked < max(p.MinInstances, 1) {
		return nil
	}
	var down, up []int
	for i, r := range results {
		if r.skipped || r.alert == nil {
			continue
		}
		switch instanceChange(r.alert) {
		case StatusDown:
			if r.obs.NetworkFailure {
				down = append(down, i)
			}
		case StatusOK:
			up = append(up, i)
		}
	}
	var out []int
	for _, group := range [][]int{down, up} {
		if len(group)*100 > p.Percent*checked {
			out = append(out, group...)
		}
	}
	return out
}

// instanceChange is the instance's new status when the alert says nothing
// else, and empty otherwise.
func instanceChange(a *Alert) Status {
	if len(a.Changes) != 1 || len(a.Notices) > 0 {
		return ""
	}
	c := a.Changes[0]
	if c.Component != ComponentInstance || c.Reminder {
		return ""
	}
	return c.To
}

// FleetAlert is one message for many instances that changed at once.
type FleetAlert struct {
	ID       string
	Time     time.Time
	Checked  int // instances checked in the run
	Severity Severity
	Alerts   []Alert
}

// NewFleetAlert groups alerts; its id is derived from theirs.
func NewFleetAlert(alerts []Alert, checked int, now time.Time) FleetAlert {
	fa := FleetAlert{Time: now, Checked: checked, Severity: SeverityResolved, Alerts: alerts}
	slices.SortFunc(fa.Alerts, func(a, b Alert) int { return strings.Compare(a.Instance, b.Instance) })
	h := sha256.New()
	for _, a := range fa.Alerts {
		h.Write([]byte(a.ID + "\n"))
		if a.Severity == SeverityCritical {
			fa.Severity = SeverityCritical
		}
	}
	fa.ID = hex.EncodeToString(h.Sum(nil))[:24]
	return fa
}
