package monitor

import (
	"maps"
	"slices"
)

// Equal reports whether two states hold the same remembered facts; the
// bookkeeping a store adds (version, timestamps of writes) is ignored.
func Equal(a, b State) bool {
	return a.Key == b.Key && a.Instance == b.Instance &&
		maps.EqualFunc(a.Components, b.Components, func(x, y ComponentState) bool {
			return x.Status == y.Status && x.Detail == y.Detail && x.Since.Equal(y.Since) &&
				x.Alerted == y.Alerted && x.Observed == y.Observed &&
				x.ObservedSince.Equal(y.ObservedSince) && x.Streak == y.Streak && x.Notified.Equal(y.Notified)
		}) &&
		a.Release == b.Release && a.ReleaseTold == b.ReleaseTold &&
		slices.Equal(a.Extensions, b.Extensions) && slices.Equal(a.ExtensionsTold, b.ExtensionsTold) &&
		slices.EqualFunc(a.Outbox, b.Outbox, func(x, y Alert) bool { return x.ID == y.ID }) &&
		a.OutboxLease.Equal(b.OutboxLease)
}
