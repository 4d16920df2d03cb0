package monitor

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
)

// Merge is one alert that tells what a and then b told, for an outbox that
// must not grow while alerts cannot be delivered. Changes collapse per
// component: the first From, the last To, the earliest Since, the latest
// detail, and what the component passed through meanwhile when that was
// worse (or better) than both ends. Notices collapse per kind the same way. Its
// severity is that of where things ended, and its id is new: only alerts that
// were never published may be merged.
func Merge(a, b Alert) Alert {
	m := b
	m.Changes = mergeChanges(a.Changes, b.Changes)
	m.Notices = mergeNotices(a.Notices, b.Notices)
	m.Severity = severity(m.Changes)
	h := sha256.Sum256([]byte(a.ID + "+" + b.ID))
	m.ID = hex.EncodeToString(h[:])[:24]
	return m
}

func mergeChanges(a, b []Change) []Change {
	out := slices.Clone(a)
	at := make(map[string]int, len(out))
	for i, c := range out {
		at[c.Component] = i
	}
	for _, c := range b {
		i, ok := at[c.Component]
		if !ok {
			at[c.Component] = len(out)
			out = append(out, c)
			continue
		}
		first := out[i]
		merged := Change{Component: c.Component, From: first.From, To: c.To, Detail: c.Detail,
			Since: first.Since, Reminder: first.Reminder && c.Reminder}
		if c.Since.Before(merged.Since) {
			merged.Since = c.Since
		}
		merged.Meanwhile = meanwhile(merged.From, merged.To, first.Meanwhile, first.To, c.Meanwhile)
		out[i] = merged
	}
	sortChanges(out)
	return out
}

// meanwhile picks, among statuses passed through, one whose class lies
// outside the span of the two ends: the worst above it, else the best below.
func meanwhile(from, to Status, passed ...Status) Status {
	lo, hi := min(from.Class(), to.Class()), max(from.Class(), to.Class())
	var worst, best Status
	for _, s := range passed {
		if s == "" {
			continue
		}
		if s.Class() > hi && (worst == "" || s.Class() > worst.Class()) {
			worst = s
		}
		if s.Class() < lo && (best == "" || s.Class() < best.Class()) {
			best = s
		}
	}
	if worst != "" {
		return worst
	}
	return best
}

// maxNoticeDetail bounds a merged notice's detail, in bytes.
const maxNoticeDetail = 1024

func mergeNotices(a, b []Notice) []Notice {
	out := slices.Clone(a)
	for _, n := range b {
		i := slices.IndexFunc(out, func(x Notice) bool { return x.Kind == n.Kind })
		if i < 0 {
			out = append(out, n)
			continue
		}
		details := out[i].Detail
		if n.Detail != "" && !strings.Contains(details, n.Detail) {
			details = strings.TrimPrefix(details+"; then "+n.Detail, "; then ")
			if len(details) > maxNoticeDetail {
				// Merging for days must not grow the state item: the
				// latest detail is what matters.
				details = "earlier changes left out; then " + n.Detail[:min(len(n.Detail), maxNoticeDetail/2)]
			}
		}
		out[i] = Notice{Kind: n.Kind, From: out[i].From, To: n.To, Detail: details}
	}
	return slices.DeleteFunc(out, func(n Notice) bool { return n.From == n.To })
}
