package monitor

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Policy holds the settings that shape decisions.
type Policy struct {
	// FailureThreshold is how many consecutive runs a component must read bad
	// before the change is confirmed (and alerted).
	FailureThreshold int
	// RecoveryThreshold is how many consecutive good runs confirm a recovery.
	RecoveryThreshold int
	// ReminderInterval, when set, repeats a still-bad status at most this often.
	ReminderInterval time.Duration
	// VersionNotices reports new ProGet versions and extension changes as info.
	VersionNotices bool
}

// streakCap bounds the streak counter: past the larger threshold a longer streak
// changes nothing, and a counter that stops growing leaves a steady instance's
// stored state unchanged, so nothing is written for it.
func (p Policy) streakCap() int { return max(p.FailureThreshold, p.RecoveryThreshold, 1) }

const removedDetail = "no longer reported by ProGet"

// Decide is the monitor's decision: from what was remembered of an instance (the
// zero State the first time it is seen) and what one check observed, it returns
// what to remember now and the alert to send, if any. It does no I/O and reads no
// clock: the observation's time is the time of the decision.
//
// Rules: a component's status changes once the new reading has repeated for the
// threshold; an alert is due when the confirmed status and the last alerted status
// differ in class (OK, warning, critical), so a change of detail text alone, or a
// flap shorter than the threshold, alerts nobody. When the instance is down, its
// components are not reported one by one: they keep what they had. During
// maintenance, state follows the readings but nobody is told, so when it ends
// only what differs from what people last heard is alerted.
func Decide(prev State, obs Observation, p Policy) (State, *Alert) {
	now := obs.Time
	next := prev
	next.Key, next.Instance = obs.Target.Key, obs.Target.Name
	next.Components = make(map[string]ComponentState, len(prev.Components)+8)
	maps.Copy(next.Components, prev.Components)

	seen := make(map[string]bool, len(next.Components))
	for _, r := range obs.Readings() {
		seen[r.Component] = true
		c, known := next.Components[r.Component]
		next.Components[r.Component] = p.advance(c, known, r, now)
	}
	if obs.Up {
		for name, c := range next.Components {
			if seen[name] || !readable(name, obs) || c.Status == StatusRemoved {
				continue
			}
			if c.Alerted.Class() == ClassOK {
				delete(next.Components, name) // nobody was told it was bad: forget it quietly
				continue
			}
			// Kept until people are told it is gone.
			c.Status, c.Detail, c.Since, c.Observed, c.ObservedSince = StatusRemoved, removedDetail, now, StatusRemoved, now
			next.Components[name] = c
		}
	}
	if obs.Up && obs.HealthRead {
		if next.Release == "" {
			next.ReleaseTold = obs.Release // first sight: nothing to report
		}
		next.Release = obs.Release
		if obs.Extensions != nil {
			if next.Extensions == nil {
				next.ExtensionsTold = obs.Extensions
			}
			next.Extensions = obs.Extensions
		}
	}
	if obs.Target.Maintenance.Active(now) {
		return next, nil
	}

	down := next.Components[ComponentInstance].Status == StatusDown
	var changes []Change
	for _, name := range componentOrder(next.Components) {
		c := next.Components[name]
		switch {
		case c.Status == "":
			continue // a new component whose first bad reading is not confirmed yet
		case c.Status.Class() != c.Alerted.Class():
			changes = append(changes, Change{Component: name, From: c.Alerted, To: c.Status, Detail: c.Detail, Since: c.Since})
			c.Alerted, c.Notified = c.Status, now
		case c.Status != c.Alerted:
			c.Alerted = c.Status // same class (OK and Unknown): nothing to tell
		case p.ReminderInterval > 0 && !c.Status.Healthy() && now.Sub(c.Notified) >= p.ReminderInterval &&
			(!down || name == ComponentInstance):
			changes = append(changes, Change{Component: name, From: c.Status, To: c.Status, Detail: c.Detail, Since: c.Since, Reminder: true})
			c.Notified = now
		}
		if c.Status == StatusRemoved && c.Alerted == StatusRemoved {
			delete(next.Components, name)
			continue
		}
		next.Components[name] = c
	}
	notices := p.notices(&next)
	if len(changes) == 0 && len(notices) == 0 {
		return next, nil
	}
	sortChanges(changes)
	return next, newAlert(obs, next, changes, notices)
}

// notices reports what changed in version and extensions since people were last
// told, or, with notices off, records it silently.
func (p Policy) notices(s *State) []Notice {
	var out []Notice
	if s.Release != s.ReleaseTold && s.Release != "" {
		if p.VersionNotices && s.ReleaseTold != "" {
			out = append(out, Notice{Kind: "version", From: s.ReleaseTold, To: s.Release})
		}
		s.ReleaseTold = s.Release
	}
	if s.Extensions != nil && !slices.Equal(s.Extensions, s.ExtensionsTold) {
		if p.VersionNotices {
			out = append(out, Notice{Kind: "extensions", From: strings.Join(s.ExtensionsTold, ", "),
				To: strings.Join(s.Extensions, ", "), Detail: diff(s.ExtensionsTold, s.Extensions)})
		}
		s.ExtensionsTold = s.Extensions
	}
	return out
}

// diff says what was added and removed between two sorted lists.
func diff(old, cur []string) string {
	var added, removed []string
	for _, x := range cur {
		if !slices.Contains(old, x) {
			added = append(added, x)
		}
	}
	for _, x := range old {
		if !slices.Contains(cur, x) {
			removed = append(removed, x)
		}
	}
	var parts []string
	if len(added) > 0 {
		parts = append(parts, "added "+strings.Join(added, ", "))
	}
	if len(removed) > 0 {
		parts = append(parts, "removed "+strings.Join(removed, ", "))
	}
	return strings.Join(parts, "; ")
}

// advance applies one reading to one component.
func (p Policy) advance(c ComponentState, known bool, r Reading, now time.Time) ComponentState {
	if known && c.Observed == r.Status {
		c.Streak = min(c.Streak+1, p.streakCap())
	} else {
		c.Observed, c.ObservedSince, c.Streak = r.Status, now, 1
	}
	if !known && r.Status.Healthy() {
		// A healthy component seen for the first time is recorded silently.
		c.Status, c.Alerted, c.Since, c.Detail = r.Status, r.Status, now, r.Detail
		return c
	}
	if c.Status == r.Status {
		c.Detail = r.Detail
		return c
	}
	threshold := p.RecoveryThreshold
	if !r.Status.Healthy() {
		threshold = p.FailureThreshold
	}
	if c.Streak >= max(threshold, 1) {
		c.Status, c.Since, c.Detail = r.Status, c.ObservedSince, r.Detail
	}
	return c
}

// readable reports whether this observation can tell that a stored component is
// gone. Components that the observation could not read keep their state.
func readable(name string, obs Observation) bool {
	switch {
	case name == ComponentInstance || name == ComponentConnectorHealth:
		return false // always present while the instance is up
	case strings.HasPrefix(name, ConnectorPrefix):
		return obs.ConnectorsRead
	default:
		return obs.HealthRead
	}
}

var componentRank = map[string]int{
	ComponentInstance: 0, ComponentDatabase: 1, ComponentLicense: 2, ComponentService: 3,
	ComponentReplicationServer: 4, ComponentReplicationClient: 5, ComponentConnectorHealth: 6,
}

// compareComponents orders components as people read them: the instance, its
// parts, then connectors by name.
func compareComponents(a, b string) int {
	ra, oka := componentRank[a]
	rb, okb := componentRank[b]
	switch {
	case oka && okb:
		return ra - rb
	case oka:
		return -1
	case okb:
		return 1
	}
	return strings.Compare(a, b)
}

func componentOrder(m map[string]ComponentState) []string {
	names := slices.Collect(maps.Keys(m))
	slices.SortFunc(names, compareComponents)
	return names
}

func sortChanges(cs []Change) {
	slices.SortStableFunc(cs, func(a, b Change) int { return compareComponents(a.Component, b.Component) })
}

func newAlert(obs Observation, next State, changes []Change, notices []Notice) *Alert {
	return &Alert{
		ID:       alertID(obs.Target.Key, obs.Time, changes, notices),
		Instance: obs.Target.Name,
		URL:      obs.Target.URL,
		Severity: severity(changes),
		Time:     obs.Time,
		Changes:  changes,
		Notices:  notices,
		Problems: problems(next),
	}
}

// severity is critical when anything went bad, warning when only the
// monitoring is impaired, resolved when everything recovered, and info when
// nothing changed but a version or extensions.
func severity(changes []Change) Severity {
	if len(changes) == 0 {
		return SeverityInfo
	}
	s := SeverityResolved
	for _, c := range changes {
		switch c.To.Class() {
		case ClassCritical:
			return SeverityCritical
		case ClassWarning:
			s = SeverityWarning
		}
	}
	return s
}

// problems lists the components that are bad after this run. While the instance
// is down, its components' last readings are stale, so only the instance counts.
func problems(s State) []Problem {
	if inst, ok := s.Components[ComponentInstance]; ok && inst.Status == StatusDown {
		return []Problem{{Component: ComponentInstance, Status: StatusDown, Detail: inst.Detail}}
	}
	var out []Problem
	for _, name := range componentOrder(s.Components) {
		if c := s.Components[name]; !c.Status.Healthy() {
			out = append(out, Problem{Component: name, Status: c.Status, Detail: c.Detail})
		}
	}
	return out
}

// alertID is stable for one alert: it is derived from what the alert says, so a
// retried delivery carries the same id and consumers can drop the duplicate.
func alertID(key string, at time.Time, changes []Change, notices []Notice) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n", key, at.UTC().Format(time.RFC3339Nano))
	for _, c := range changes {
		fmt.Fprintf(h, "%s\x00%s\x00%s\x00%v\n", c.Component, c.From, c.To, c.Reminder)
	}
	for _, n := range notices {
		fmt.Fprintf(h, "%s\x00%s\x00%s\n", n.Kind, n.From, n.To)
	}
	return hex.EncodeToString(h.Sum(nil))[:24]
}
