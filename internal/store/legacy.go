package store

import (
	"time"

	"github.com/proget-monitor/proget-monitor/internal/monitor"
)

// legacyItem is the first item layout (no format attribute): long attribute
// names and RFC 3339 times. It is read so that an upgrade keeps every
// instance's state and undelivered alerts; the next write uses the compact
// layout.
type legacyItem struct {
	Target     string                     `dynamodbav:"target"`
	Instance   string                     `dynamodbav:"instance"`
	Version    int64                      `dynamodbav:"version"`
	Components map[string]legacyComponent `dynamodbav:"components"`
	Release    string                     `dynamodbav:"release"`
	Told       string                     `dynamodbav:"release_told"`
	Extensions []string                   `dynamodbav:"extensions"`
	ExtTold    []string                   `dynamodbav:"extensions_told"`
	Outbox     []legacyAlert              `dynamodbav:"outbox"`
	Lease      int64                      `dynamodbav:"outbox_lease_until"` // epoch ms
	ExpiresAt  int64                      `dynamodbav:"expires_at"`
}

type legacyComponent struct {
	Status        string    `dynamodbav:"status"`
	Detail        string    `dynamodbav:"detail"`
	Since         time.Time `dynamodbav:"since"`
	Alerted       string    `dynamodbav:"alerted"`
	Observed      string    `dynamodbav:"observed"`
	ObservedSince time.Time `dynamodbav:"observedSince"`
	Streak        int       `dynamodbav:"streak"`
	Notified      time.Time `dynamodbav:"notified"`
}

type legacyAlert struct {
	ID       string         `dynamodbav:"id"`
	URL      string         `dynamodbav:"url"`
	Severity string         `dynamodbav:"severity"`
	Time     time.Time      `dynamodbav:"time"`
	Changes  []legacyChange `dynamodbav:"changes"`
	Notices  []legacyNotice `dynamodbav:"notices"`
}

type legacyNotice struct {
	Kind   string `dynamodbav:"kind"`
	From   string `dynamodbav:"from"`
	To     string `dynamodbav:"to"`
	Detail string `dynamodbav:"detail"`
}

type legacyChange struct {
	Component string    `dynamodbav:"component"`
	From      string    `dynamodbav:"from"`
	To        string    `dynamodbav:"to"`
	Detail    string    `dynamodbav:"detail"`
	Since     time.Time `dynamodbav:"since"`
	Reminder  bool      `dynamodbav:"reminder"`
}

func (it legacyItem) state() monitor.State {
	s := monitor.State{Key: it.Target, Instance: it.Instance, Version: it.Version, Release: it.Release,
		ReleaseTold: it.Told, Extensions: it.Extensions, ExtensionsTold: it.ExtTold,
		OutboxLease: fromMS(it.Lease), ExpiresAt: time.Unix(it.ExpiresAt, 0).UTC()}
	if len(it.Components) > 0 {
		s.Components = make(map[string]monitor.ComponentState, len(it.Components))
		for name, c := range it.Components {
			s.Components[name] = monitor.ComponentState{Status: monitor.Status(c.Status), Detail: c.Detail,
				Since: c.Since.UTC(), Alerted: monitor.Status(c.Alerted), Observed: monitor.Status(c.Observed),
				ObservedSince: c.ObservedSince.UTC(), Streak: c.Streak, Notified: c.Notified.UTC()}
		}
	}
	for _, a := range it.Outbox {
		p := monitor.Pending{Alert: monitor.Alert{ID: a.ID, Instance: it.Instance, URL: a.URL,
			Severity: monitor.Severity(a.Severity), Time: a.Time.UTC()}, Tried: true}
		for _, n := range a.Notices {
			p.Notices = append(p.Notices, monitor.Notice{Kind: n.Kind, From: n.From, To: n.To, Detail: n.Detail})
		}
		for _, c := range a.Changes {
			p.Changes = append(p.Changes, monitor.Change{Component: c.Component, From: monitor.Status(c.From),
				To: monitor.Status(c.To), Detail: c.Detail, Since: c.Since.UTC(), Reminder: c.Reminder})
		}
		// A fleet alert of the first layout is delivered on its own (the fleet
		// it belonged to was never recorded), and as possibly published
		// already: it is sent as it is, with its id.
		s.Outbox = append(s.Outbox, p)
	}
	return s
}
