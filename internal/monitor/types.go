package monitor

import (
	"errors"
	"log/slog"
	"time"

	"github.com/proget-monitor/proget-monitor/internal/maintenance"
)

// Status is the state of one component of a ProGet instance.
type Status string

const (
	StatusOK    Status = "OK"
	StatusError Status = "Error"
	// StatusUnknown is a connector that ProGet has not checked yet, or a status
	// value this monitor does not recognise. It is not a problem by itself.
	StatusUnknown Status = "Unknown"
	// StatusDown means /health could not be reached or read.
	StatusDown Status = "Down"
	// StatusRejected means ProGet refused the configured API key.
	StatusRejected Status = "Rejected"
	// StatusUnsupported means the instance has no connector-health API (ProGet 2024+).
	StatusUnsupported Status = "Unsupported"
	// StatusNotConfigured means no API key is configured, so connectors are not checked.
	StatusNotConfigured Status = "NotConfigured"
	// StatusRemoved is only ever the target of a change: the component disappeared
	// (a connector deleted, replication switched off) while it was alerted as bad.
	StatusRemoved Status = "Removed"
)

// Class groups statuses by what they mean to the people on call.
type Class int

const (
	ClassOK       Class = iota // nothing to do
	ClassWarning               // the monitoring itself is impaired (e.g. a rejected API key)
	ClassCritical              // ProGet or one of its parts is broken
)

// Class tells how bad a status is. The empty status (never confirmed) counts as OK.
func (s Status) Class() Class {
	switch s {
	case StatusError, StatusDown:
		return ClassCritical
	case StatusRejected:
		return ClassWarning
	default:
		return ClassOK
	}
}

// Healthy reports whether the status is not a problem.
func (s Status) Healthy() bool { return s.Class() == ClassOK }

// Component names. Connectors are "connector:<name>".
const (
	ComponentInstance          = "instance"
	ComponentDatabase          = "database"
	ComponentLicense           = "license"
	ComponentService           = "service"
	ComponentReplicationServer = "replication-server"
	ComponentReplicationClient = "replication-client"
	ComponentConnectorHealth   = "connector-health"
	ConnectorPrefix            = "connector:"
)

// Secret holds an API key. Its formatting and logging methods redact it so that a
// key put by mistake into a log line, an error or a JSON document shows nothing.
type Secret struct{ value string }

// NewSecret wraps a key.
func NewSecret(v string) Secret { return Secret{value: v} }

// Reveal returns the key, for the one place that sends it: the HTTP header.
func (s Secret) Reveal() string { return s.value }

// IsZero reports whether no key is set.
func (s Secret) IsZero() bool { return s.value == "" }

func (s Secret) String() string               { return "[redacted]" }
func (s Secret) GoString() string             { return "[redacted]" }
func (s Secret) LogValue() slog.Value         { return slog.StringValue("[redacted]") }
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"[redacted]"`), nil }
func (s Secret) MarshalText() ([]byte, error) { return []byte("[redacted]"), nil }

// Target is one ProGet instance to watch, as configured in SSM.
type Target struct {
	Name string // the instance's name in alerts and metrics
	// Key identifies the instance's state: the SSM folder of the instance
	// (<targets path><name>), so that two shards never share state.
	Key    string
	URL    string // base URL, without a trailing slash
	APIKey Secret // optional
	// CABundle is PEM certificates to trust, besides the system's, for an
	// instance behind an internal CA. Optional.
	CABundle string
	// Maintenance is when the instance is checked but nobody is alerted.
	Maintenance maintenance.Schedule
}

// APIKeyParameter is the SSM parameter that holds the target's API key.
func (t Target) APIKeyParameter() string { return t.Key + "/api-key" }

// InvalidTarget is a parameter of an instance folder in SSM that is wrong.
type InvalidTarget struct {
	Name      string
	Parameter string
	Reason    string
	// Checked is true when the instance is checked all the same, without the
	// wrong optional setting; otherwise it is skipped.
	Checked bool
}

// Reading is one component as seen by one check.
type Reading struct {
	Component string
	Status    Status
	Detail    string
}

// Observation is what one check of one instance saw.
type Observation struct {
	Target Target
	Time   time.Time

	// Up is true when /health answered and its body could be read.
	Up bool
	// NetworkFailure is true when /health gave no HTTP answer at all
	// (refused, reset, DNS, TLS, timeout): the likeliest cause may be on our side.
	NetworkFailure bool
	HTTPStatus     int
	ResponseTime   time.Duration // of /health; zero when no answer came
	Reason         string        // why the instance is Down

	// HealthRead is true when /health gave per-component statuses. A plain "OK"
	// gives none, and stored components are then left as they were.
	HealthRead bool
	Health     []Reading // database, license, service, replication-*
	Release    string    // releaseNumber or versionNumber, free text
	Extensions []string  // "name version", sorted; nil when not reported

	// Connectors is the connector-health endpoint's own state.
	Connectors Reading
	// ConnectorsRead is true when the connector list was read; only then are
	// connectors that are absent from it removed.
	ConnectorsRead bool
	ConnectorList  []Reading // Component is "connector:<name>"
}

// Readings lists every component this observation says something about,
// in a stable order: instance, health components, connector-health, connectors.
func (o Observation) Readings() []Reading {
	if !o.Up {
		return []Reading{{Component: ComponentInstance, Status: StatusDown, Detail: o.Reason}}
	}
	out := make([]Reading, 0, 2+len(o.Health)+len(o.ConnectorList))
	out = append(out, Reading{Component: ComponentInstance, Status: StatusOK})
	out = append(out, o.Health...)
	out = append(out, o.Connectors)
	return append(out, o.ConnectorList...)
}

// Healthy reports whether the instance is up and every component it reported is healthy.
func (o Observation) Healthy() bool {
	if !o.Up {
		return false
	}
	for _, r := range o.Readings() {
		if !r.Status.Healthy() {
			return false
		}
	}
	return true
}

// ComponentState is what is remembered of one component between runs.
type ComponentState struct {
	// Status is the confirmed status (after the thresholds); empty until the
	// first bad reading of a new component is confirmed.
	Status Status    `json:"status,omitempty"`
	Detail string    `json:"detail,omitempty"`
	Since  time.Time `json:"since"`
	// Alerted is the last status people were told about; empty when they were told nothing.
	Alerted Status `json:"alerted,omitempty"`
	// Observed, ObservedSince and Streak count consecutive identical readings, for the thresholds.
	Observed      Status    `json:"observed"`
	ObservedSince time.Time `json:"observedSince"`
	Streak        int       `json:"streak"`
	// Notified is when people were last told about this status (alert or reminder).
	Notified time.Time `json:"notified"`
}

// State is what is remembered of one instance between runs.
type State struct {
	Key        string
	Instance   string
	Version    int64 // optimistic lock: each write expects the version it read
	Components map[string]ComponentState
	// Release and Extensions are what the instance last reported; the Told
	// variants what people were last told, for version notices.
	Release        string
	ReleaseTold    string
	Extensions     []string
	ExtensionsTold []string
	// Outbox holds alerts claimed by a run but not yet known to be delivered.
	Outbox []Alert
	// OutboxLease is when the run that last claimed the outbox gives up on it;
	// until then no other run delivers it, so an alert is published once.
	OutboxLease time.Time
	UpdatedAt   time.Time
	ExpiresAt   time.Time
}

// Change is one component's status change, as it is alerted.
type Change struct {
	Component string    `json:"component"`
	From      Status    `json:"from"` // empty: the component was new
	To        Status    `json:"to"`
	Detail    string    `json:"detail,omitempty"`
	Since     time.Time `json:"since"`
	// Reminder marks a status that has not changed but is still bad.
	Reminder bool `json:"reminder,omitempty"`
}

// Notice is information that is not an incident: a new ProGet version, or
// extensions installed, removed or upgraded.
type Notice struct {
	Kind   string `json:"kind"` // "version" or "extensions"
	From   string `json:"from"`
	To     string `json:"to"`
	Detail string `json:"detail,omitempty"`
}

// Severity tells subscribers how to treat an alert.
type Severity string

const (
	SeverityCritical Severity = "critical"
	SeverityWarning  Severity = "warning"
	SeverityResolved Severity = "resolved"
	SeverityInfo     Severity = "info"
)

// Problem is a component that is still bad when an alert is sent.
type Problem struct {
	Component string `json:"component"`
	Status    Status `json:"status"`
	Detail    string `json:"detail,omitempty"`
}

// Alert is one message about one instance, listing every change of one run.
type Alert struct {
	ID       string    `json:"id"`
	Instance string    `json:"instance"`
	URL      string    `json:"url"`
	Severity Severity  `json:"severity"`
	Time     time.Time `json:"time"`
	Changes  []Change  `json:"changes"`
	Notices  []Notice  `json:"notices,omitempty"`
	// Problems lists what is bad after the changes, so a reader sees the whole picture.
	Problems []Problem `json:"problems,omitempty"`
	// Fleet marks an alert to be delivered in a fleet alert with others.
	Fleet bool `json:"fleet,omitempty"`
}

// ErrConflict is returned by a store when another run wrote the same instance first.
var ErrConflict = errors.New("state was changed by another run")
