package deliver

import (
	"slices"

	"github.com/proget-monitor/proget-monitor/internal/monitor"
)

// While SNS keeps failing, alerts wait in the outbox, which lives in the
// instance's one DynamoDB item. These bounds keep it small whatever the
// outage: merged alerts collapse per component, so an outbox holds about as
// many changes as the instance has components.
const (
	maxOutbox        = 10  // alerts
	maxOutboxChanges = 600 // changes, over all its alerts
)

// bound drops reminders that a later alert supersedes, then merges the
// oldest alerts that were never published, until the outbox is within its
// bounds. Should only alerts that may have been published be
// left to merge, it merges those too (merged counts them): their changes may
// then reach subscribers twice, which is better than an outbox the store
// cannot write.
func bound(outbox []monitor.Pending) ([]monitor.Pending, int) {
	merged := 0
	for len(outbox) > maxOutbox || changes(outbox) > maxOutboxChanges {
		if len(outbox) < 2 {
			break
		}
		// A reminder with a later alert behind it says nothing that one
		// does not: it goes first, and fleet reminders stay fleet messages.
		if i := slices.IndexFunc(outbox[:len(outbox)-1], reminderOnly); i >= 0 {
			outbox = slices.Delete(slices.Clone(outbox), i, i+1)
			continue
		}
		i := pair(outbox, func(a, b monitor.Pending) bool { return mergeable(a) && mergeable(b) })
		if i < 0 {
			// Alerts one topic took and the other did not (it has been
			// failing): merged for that topic alone.
			i = pair(outbox, func(a, b monitor.Pending) bool {
				return a.Fleet == "" && b.Fleet == "" && sameSet(a.Done, b.Done)
			})
		}
		if i < 0 {
			i = pair(outbox, func(a, b monitor.Pending) bool { return a.Fleet == "" && b.Fleet == "" })
		}
		if i < 0 {
			i = 0
		}
		for _, p := range outbox[i : i+2] {
			if !mergeable(p) {
				merged++
			}
		}
		// The merged alert goes only to the audiences that are not done
		// with both: a topic that took them both must not get it again.
		m := monitor.Pending{Alert: monitor.Merge(outbox[i].Alert, outbox[i+1].Alert)}
		for _, a := range outbox[i].Done {
			if slices.Contains(outbox[i+1].Done, a) {
				m.Done = append(m.Done, a)
			}
		}
		if len(m.Changes) == 0 && len(m.Notices) == 0 {
			// They cancelled out (a version notice and its undoing): there
			// is nothing left to tell.
			outbox = append(outbox[:i:i], outbox[i+2:]...)
			continue
		}
		outbox = append(append(outbox[:i:i], m), outbox[i+2:]...)
	}
	return outbox, merged
}

func reminderOnly(p monitor.Pending) bool {
	return len(p.Changes) > 0 && len(p.Notices) == 0 && !slices.ContainsFunc(p.Changes, func(c monitor.Change) bool { return !c.Reminder })
}

// mergeable is an alert that surely never reached a subscriber.
func mergeable(p monitor.Pending) bool { return p.Fleet == "" && !p.Tried && len(p.Done) == 0 }

// pair is the first i where outbox[i] and outbox[i+1] satisfy ok, or -1.
func pair(outbox []monitor.Pending, ok func(a, b monitor.Pending) bool) int {
	for i := 0; i+1 < len(outbox); i++ {
		if ok(outbox[i], outbox[i+1]) {
			return i
		}
	}
	return -1
}

func sameSet(a, b []string) bool {
	return len(a) == len(b) && !slices.ContainsFunc(a, func(x string) bool { return !slices.Contains(b, x) })
}

func changes(outbox []monitor.Pending) int {
	n := 0
	for _, p := range outbox {
		n += len(p.Changes) + len(p.Notices)
	}
	return n
}
