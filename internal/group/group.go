// Package group is storm control: from the alerts one run decided, it picks
// those that are better told as one fleet message than one message per
// instance. It is pure: no clock, no I/O.
package group

import (
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/proget-monitor/proget-monitor/internal/monitor"
)

// Policy decides when many instances changing at once are one event: when
// more than Percent of the instances checked in a run (and at least
// MinInstances are checked) go down for network reasons, the monitor's own
// connectivity is the likeliest cause, and one fleet message lists them; as
// many recoveries in one run are grouped the same way. Reminders that
// instances are still down come due together for instances that went down
// together: two or more in a run are one fleet reminder. Percent 0 switches
// grouping off.
type Policy struct {
	Percent      int
	MinInstances int
}

// Decision is what grouping needs of one instance's outcome.
type Decision struct {
	Alert *monitor.Alert // nil: nothing to tell
	// NetworkFailure is true when /health gave no HTTP answer at all.
	NetworkFailure bool
}

// Assignment says how one decision's alert is delivered: in the fleet message
// Fleet (empty: on its own) of Members instances, from a run that checked
// Checked instances.
type Assignment struct {
	Fleet   string
	Members int
	Checked int
}

type kind string

const (
	kindDown  kind = "down"
	kindUp    kind = "up"
	kindStill kind = "still-down"
)

// Plan groups the alerts of one run. scope names the set of instances the run
// covers (its targets path), now is the run's time and checked how many
// instances it checked. A fleet message's id is derived from them, so a fleet
// that is delivered over several runs keeps its id.
func Plan(p Policy, scope string, now time.Time, checked int, ds []Decision) []Assignment {
	out := make([]Assignment, len(ds))
	if p.Percent <= 0 {
		return out
	}
	byKind := map[kind][]int{}
	for i, d := range ds {
		if k, ok := kindOf(d); ok {
			byKind[k] = append(byKind[k], i)
		}
	}
	storm := func(n int) bool { return checked >= max(p.MinInstances, 1) && n*100 > p.Percent*checked }
	for k, members := range byKind {
		if k == kindStill && len(members) < 2 || k != kindStill && !storm(len(members)) {
			continue
		}
		id := fleetID(scope, now, k)
		for _, i := range members {
			out[i] = Assignment{Fleet: id, Members: len(members), Checked: checked}
		}
	}
	return out
}

// kindOf tells whether an alert says nothing but a change of its instance
// that a fleet message can tell.
func kindOf(d Decision) (kind, bool) {
	a := d.Alert
	if a == nil || len(a.Changes) != 1 || len(a.Notices) > 0 {
		return "", false
	}
	c := a.Changes[0]
	switch {
	case c.Component != monitor.ComponentInstance:
		return "", false
	case c.Reminder && c.To == monitor.StatusDown:
		return kindStill, true
	case c.Reminder:
		return "", false
	case c.To == monitor.StatusDown && d.NetworkFailure:
		return kindDown, true
	case c.To.Healthy() && !c.From.Healthy():
		return kindUp, true
	}
	return "", false
}

func fleetID(scope string, now time.Time, k kind) string {
	h := sha256.Sum256([]byte(scope + "\n" + now.UTC().Format(time.RFC3339Nano) + "\n" + string(k)))
	return hex.EncodeToString(h[:])[:24]
}
