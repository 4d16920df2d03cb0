package store

import (
	"time"

	"github.com/proget-monitor/proget-monitor/internal/monitor"
)

// itemFormat marks the compact item layout below. DynamoDB counts every
// attribute name, nested map keys included, against an item's 400 KB, so
// the names inside components and alerts are one or two letters, and times
// are epoch milliseconds.
const itemFormat = 2

// item is the stored form of a state.
type item struct {
	Target         string               `dynamodbav:"target"`
	Instance       string               `dynamodbav:"instance"`
	Version        int64                `dynamodbav:"version"`
	Format         int                  `dynamodbav:"format"`
	Components     map[string]component `dynamodbav:"c,omitempty"`
	Release        string               `dynamodbav:"rel,omitempty"`
	ReleaseTold    string               `dynamodbav:"relt,omitempty"`
	Extensions     []string             `dynamodbav:"ext,omitempty"`
	ExtensionsTold []string             `dynamodbav:"extt,omitempty"`
	Outbox         []pending            `dynamodbav:"ob,omitempty"`
	Lease          int64                `dynamodbav:"lease,omitempty"`
	UpdatedAt      string               `dynamodbav:"updated_at,omitempty"` // RFC 3339, for people reading the table
	ExpiresAt      int64                `dynamodbav:"expires_at"`           // epoch seconds: DynamoDB's TTL
}

// component is a monitor.ComponentState.
type component struct {
	Status        string `dynamodbav:"s,omitempty"`
	Detail        string `dynamodbav:"d,omitempty"`
	Since         int64  `dynamodbav:"t,omitempty"`
	Alerted       string `dynamodbav:"a,omitempty"`
	Observed      string `dynamodbav:"o,omitempty"`
	ObservedSince int64  `dynamodbav:"ot,omitempty"`
	Streak        int    `dynamodbav:"n,omitempty"`
	Notified      int64  `dynamodbav:"r,omitempty"`
}

// pending is a monitor.Pending; its instance is the item's.
type pending struct {
	ID           string   `dynamodbav:"id"`
	URL          string   `dynamodbav:"u,omitempty"`
	Severity     string   `dynamodbav:"sev"`
	Time         int64    `dynamodbav:"t"`
	Changes      []change `dynamodbav:"ch,omitempty"`
	Notices      []notice `dynamodbav:"no,omitempty"`
	Fleet        string   `dynamodbav:"fl,omitempty"`
	FleetSize    int      `dynamodbav:"fs,omitempty"`
	FleetChecked int      `dynamodbav:"fc,omitempty"`
	FleetNote    string   `dynamodbav:"fn,omitempty"`
	Tried        bool     `dynamodbav:"tr,omitempty"`
	Done         []string `dynamodbav:"dl,omitempty"`
}

type change struct {
	Component string `dynamodbav:"c"`
	From      string `dynamodbav:"f,omitempty"`
	To        string `dynamodbav:"to"`
	Detail    string `dynamodbav:"d,omitempty"`
	Since     int64  `dynamodbav:"s,omitempty"`
	Reminder  bool   `dynamodbav:"r,omitempty"`
	Meanwhile string `dynamodbav:"m,omitempty"`
}

type notice struct {
	Kind   string `dynamodbav:"k"`
	From   string `dynamodbav:"f,omitempty"`
	To     string `dynamodbav:"to,omitempty"`
	Detail string `dynamodbav:"d,omitempty"`
}

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

func fromState(s monitor.State) item {
	it := item{Target: s.Key, Instance: s.Instance, Version: s.Version, Format: itemFormat,
		Release: s.Release, ReleaseTold: s.ReleaseTold, Extensions: s.Extensions, ExtensionsTold: s.ExtensionsTold,
		Lease: ms(s.OutboxLease), ExpiresAt: s.ExpiresAt.Unix()}
	if !s.UpdatedAt.IsZero() {
		it.UpdatedAt = s.UpdatedAt.UTC().Format(time.RFC3339)
	}
	if len(s.Components) > 0 {
		it.Components = make(map[string]component, len(s.Components))
		for name, c := range s.Components {
			it.Components[name] = component{Status: string(c.Status), Detail: c.Detail, Since: ms(c.Since),
				Alerted: string(c.Alerted), Observed: string(c.Observed), ObservedSince: ms(c.ObservedSince),
				Streak: c.Streak, Notified: ms(c.Notified)}
		}
	}
	for _, p := range s.Outbox {
		sp := pending{ID: p.ID, URL: p.URL, Severity: string(p.Severity), Time: ms(p.Time), Fleet: p.Fleet,
			FleetSize: p.FleetSize, FleetChecked: p.FleetChecked, FleetNote: p.FleetNote, Tried: p.Tried, Done: p.Done}
		for _, c := range p.Changes {
			sp.Changes = append(sp.Changes, change{Component: c.Component, From: string(c.From), To: string(c.To),
				Detail: c.Detail, Since: ms(c.Since), Reminder: c.Reminder, Meanwhile: string(c.Meanwhile)})
		}
		for _, n := range p.Notices {
			sp.Notices = append(sp.Notices, notice{Kind: n.Kind, From: n.From, To: n.To, Detail: n.Detail})
		}
		it.Outbox = append(it.Outbox, sp)
	}
	return it
}

func (it item) state() monitor.State {
	s := monitor.State{Key: it.Target, Instance: it.Instance, Version: it.Version,
		Release: it.Release, ReleaseTold: it.ReleaseTold, Extensions: it.Extensions, ExtensionsTold: it.ExtensionsTold,
		OutboxLease: fromMS(it.Lease), ExpiresAt: time.Unix(it.ExpiresAt, 0).UTC()}
	s.UpdatedAt, _ = time.Parse(time.RFC3339, it.UpdatedAt)
	if len(it.Components) > 0 {
		s.Components = make(map[string]monitor.ComponentState, len(it.Components))
		for name, c := range it.Components {
			s.Components[name] = monitor.ComponentState{Status: monitor.Status(c.Status), Detail: c.Detail,
				Since: fromMS(c.Since), Alerted: monitor.Status(c.Alerted), Observed: monitor.Status(c.Observed),
				ObservedSince: fromMS(c.ObservedSince), Streak: c.Streak, Notified: fromMS(c.Notified)}
		}
	}
	for _, sp := range it.Outbox {
		p := monitor.Pending{Alert: monitor.Alert{ID: sp.ID, Instance: it.Instance, URL: sp.URL,
			Severity: monitor.Severity(sp.Severity), Time: fromMS(sp.Time)},
			Fleet: sp.Fleet, FleetSize: sp.FleetSize, FleetChecked: sp.FleetChecked, FleetNote: sp.FleetNote, Tried: sp.Tried, Done: sp.Done}
		for _, c := range sp.Changes {
			p.Changes = append(p.Changes, monitor.Change{Component: c.Component, From: monitor.Status(c.From),
				To: monitor.Status(c.To), Detail: c.Detail, Since: fromMS(c.Since), Reminder: c.Reminder,
				Meanwhile: monitor.Status(c.Meanwhile)})
		}
		for _, n := range sp.Notices {
			p.Notices = append(p.Notices, monitor.Notice{Kind: n.Kind, From: n.From, To: n.To, Detail: n.Detail})
		}
		s.Outbox = append(s.Outbox, p)
	}
	return s
}
