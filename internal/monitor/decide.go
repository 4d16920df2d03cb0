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
	// FailureThreshold is how many consecutive runs a component must read not
	// healthy before its problem is confirmed (and alerted).
	FailureThreshold int
	// RecoveryThreshold is how many consecutive healthy runs confirm a recovery.
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
// clock: the observation's time is the time of the decision. The rules are in
// doc.go.
func Decide(prev State, obs Observation, p Policy) (State, *Alert) {
	now := obs.Time
	next := prev
	next.Key, next.Instance = obs.Target.Key, obs.Target.Name
	next.Components = make(map[string]ComponentState, len(prev.Components)+8)
	maps.Copy(next.Components, prev.Components)

	readings, listed := tracked(obs, prev)
	seen := make(map[string]bool, len(readings))
	for _, r := range readings {
		seen[r.Component] = true
		c, known := next.Components[r.Component]
		next.Components[r.Component] = p.advance(c, known, r, now)
	}
	if obs.Up() {
		for name, c := range next.Components {
			if seen[name] || !readable(name, obs) || c.Status == StatusRemoved {
				continue
			}
			if c.Alerted.Class() == ClassOK || forgettable(name) {
				// Gone, or listed beyond the tracking cap, while nobody was
				// told it was bad; or a probe or certificate check the user
				// removed: forgotten quietly.
				delete(next.Components, name)
				continue
			}
			if listed[name] {
				continue // still listed, beyond the cap: kept as it was
			}
			// Kept until people are told it is gone.
			c.Status, c.Detail, c.Since, c.Observed, c.ObservedSince = StatusRemoved, removedDetail, now, StatusRemoved, now
			next.Components[name] = c
		}
	}
	if obs.Up() && obs.HealthRead {
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

	down := !next.Components[ComponentInstance].Status.Healthy()
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
	return next, &Alert{
		ID:       alertID(obs.Target.Key, now, changes, notices),
		Instance: obs.Target.Name,
		URL:      obs.Target.URL,
		Severity: severity(changes),
		Time:     now,
		Changes:  changes,
		Notices:  notices,
	}
}

// tracked is what the observation says, with at most MaxConnectors
// connectors: first those already tracked that are not healthy or that people
// were told are bad (their recoveries), then new problems, then the rest of
// those already tracked, then new ones, in ProGet's order. Tracked
// connectors come first so that the cap bounds what is stored: a connector
// people were told is bad is never dropped for a new one. listed names every
// connector ProGet listed, tracked or not, so that none it still lists is
// taken for removed.
func tracked(obs Observation, prev State) ([]Reading, map[string]bool) {
	readings := obs.Readings()
	if !obs.Up() || len(obs.ConnectorList) <= MaxConnectors {
		return readings, nil
	}
	head := readings[:len(readings)-len(obs.ConnectorList)]
	listed := make(map[string]bool, len(obs.ConnectorList))
	var buckets [4][]Reading
	for _, r := range obs.ConnectorList {
		listed[r.Component] = true
		c, known := prev.Components[r.Component]
		switch {
		case known && (!r.Status.Healthy() || c.Alerted.Class() != ClassOK):
			buckets[0] = append(buckets[0], r)
		case !r.Status.Healthy():
			buckets[1] = append(buckets[1], r)
		case known:
			buckets[2] = append(buckets[2], r)
		default:
			buckets[3] = append(buckets[3], r)
		}
	}
	out := slices.Clone(head)
	for i, r := range out {
		if r.Component == ComponentConnectorHealth {
			out[i].Detail = fmt.Sprintf("%d connectors listed; %d are tracked, those with problems first", len(obs.ConnectorList), MaxConnectors)
		}
	}
	left := MaxConnectors
	for _, b := range buckets {
		n := min(left, len(b))
		out = append(out, b[:n]...)
		left -= n
	}
	return out, listed
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

// advance applies one reading to one component. The streak counts runs on the
// same side (healthy or not), whatever mix of statuses they read, so a
// connector alternating Error and Rejected is as confirmed as one reading
// Error every run; the latest status is the one reported.
func (p Policy) advance(c ComponentState, known bool, r Reading, now time.Time) ComponentState {
	healthy := r.Status.Healthy()
	if known && c.Observed != "" && c.Observed.Healthy() == healthy {
		c.Streak = min(c.Streak+1, p.streakCap())
	} else {
		c.ObservedSince, c.Streak = now, 1
	}
	c.Observed = r.Status
	switch {
	case !known && healthy:
		// A healthy component seen for the first time is recorded silently.
		c.Status, c.Alerted, c.Since, c.Detail = r.Status, r.Status, now, r.Detail
	case c.Status != "" && c.Status.Healthy() == healthy:
		// On the confirmed side still: follow the latest status and detail.
		if c.Status != r.Status {
			c.Status, c.Since = r.Status, now
		}
		c.Detail = r.Detail
	default:
		threshold := p.RecoveryThreshold
		if !healthy {
			threshold = p.FailureThreshold
		}
		if c.Streak >= max(threshold, 1) {
			c.Status, c.Since, c.Detail = r.Status, c.ObservedSince, r.Detail
		}
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
	case strings.HasPrefix(name, ProbePrefix), name == ComponentCertificate:
		return true // configured by the user: what the observation lacks was removed
	default:
		return obs.HealthRead
	}
}

// forgettable components are the user's own checks: removing one from the
// configuration is not news, whatever its status.
func forgettable(name string) bool {
	return strings.HasPrefix(name, ProbePrefix) || name == ComponentCertificate
}

var componentRank = map[string]int{
	ComponentInstance: 0, ComponentDatabase: 1, ComponentLicense: 2, ComponentService: 3,
	ComponentReplicationServer: 4, ComponentReplicationClient: 5, ComponentCertificate: 6, ComponentConnectorHealth: 8,
}

// rank places a component: named ones first, probes before connectors.
func rank(c string) int {
	if r, ok := componentRank[c]; ok {
		return r
	}
	if strings.HasPrefix(c, ProbePrefix) {
		return 7
	}
	return 9
}

// CompareComponents orders components as people read them: the instance, its
// parts, the certificate, the probes, then connectors, each family by name.
func CompareComponents(a, b string) int {
	if d := rank(a) - rank(b); d != 0 {
		return d
	}
	return strings.Compare(a, b)
}

func componentOrder(m map[string]ComponentState) []string {
	names := slices.Collect(maps.Keys(m))
	slices.SortFunc(names, CompareComponents)
	return names
}

func sortChanges(cs []Change) {
	slices.SortStableFunc(cs, func(a, b Change) int { return CompareComponents(a.Component, b.Component) })
}

// severity is critical when anything is bad after the changes, warning when
// only the monitoring is impaired, resolved when everything in them recovered,
// and info when nothing changed but a version or extensions.
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

// Problems lists the components that are bad in a state. While the instance
// is not answering as ProGet, its components' last readings are stale, so
// only the instance counts.
func Problems(s State) []Problem {
	if inst, ok := s.Components[ComponentInstance]; ok && !inst.Status.Healthy() {
		return []Problem{{Component: ComponentInstance, Status: inst.Status, Detail: inst.Detail}}
	}
	var out []Problem
	for _, name := range componentOrder(s.Components) {
		if c := s.Components[name]; !c.Status.Healthy() {
			out = append(out, Problem{Component: name, Status: c.Status, Detail: c.Detail})
		}
	}
	return out
}

// Critical reports whether a problem of the state is confirmed critical: what
// pages someone. While the instance itself is unhealthy, only its status
// counts (its components keep what they last read).
func Critical(s State) bool {
	for _, p := range Problems(s) {
		if p.Status.Class() == ClassCritical {
			return true
		}
	}
	return false
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
