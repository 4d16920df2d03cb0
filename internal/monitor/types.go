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
	// StatusUnknown is a connector that ProGet has not checked yet, or a
	// connector state this monitor does not recognise. It is not a problem.
	StatusUnknown Status = "Unknown"
	// StatusDown means /health could not be reached or did not answer as ProGet does.
	StatusDown Status = "Down"
	// StatusRejected means ProGet refused the configured API key.
	StatusRejected Status = "Rejected"
	// StatusNoHealthAPI means /health answered 404: ProGet older than 5.2.9,
	// or a url that is not ProGet's root.
	StatusNoHealthAPI Status = "NoHealthAPI"
	// StatusWrongProduct means /health answered for another Inedo product
	// (BuildMaster, Otter): the url points at the wrong server.
	StatusWrongProduct Status = "WrongProduct"
	// StatusRedirected means a request was redirected to another host, which
	// the monitor does not follow (a sign-in proxy, a moved server).
	StatusRedirected Status = "Redirected"
	// StatusUnsupported means the instance has no connector-health API (ProGet 2024+).
	StatusUnsupported Status = "Unsupported"
	// StatusNotConfigured means no API key is configured, so connectors are not checked.
	StatusNotConfigured Status = "NotConfigured"
	// StatusExpiring is a TLS certificate that expires within the warning days.
	StatusExpiring Status = "Expiring"
	// StatusRemoved is only ever the target of a change: the component disappeared
	// (a connector deleted, replication switched off) while it was alerted as bad.
	StatusRemoved Status = "Removed"
)

// Class groups statuses by what they mean to the people on call.
type Class int

const (
	ClassOK       Class = iota // nothing to do
	ClassWarning               // the monitoring itself is impaired: fix the configuration
	ClassCritical              // ProGet or one of its parts is broken
)

// Class tells how bad a status is. The empty status (never confirmed) counts as OK.
func (s Status) Class() Class {
	switch s {
	case StatusError, StatusDown:
		return ClassCritical
	case StatusRejected, StatusNoHealthAPI, StatusWrongProduct, StatusRedirected, StatusExpiring:
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
	ComponentCertificate       = "certificate"
	ConnectorPrefix            = "connector:"
	ProbePrefix                = "probe:"
)

// MaxConnectors bounds the connectors tracked per instance: each is a
// component in the instance's stored state, which must fit one DynamoDB item.
// Connectors that ProGet lists beyond it are not tracked, and never reported.
const MaxConnectors = 500

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
	// Probes ask the instance's feeds for packages, through their connectors.
	Probes []Probe
}

// Probe is one request a package's users would make: a feed asked for a
// package, which ProGet answers through the feed's connector.
type Probe struct {
	Label string // letters, digits, ".", "_", "-"; the component is "probe:<Label>"
	Path  string // starts with "/", resolved under the instance's url
	Key   bool   // send the instance's API key
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

// Listing is what a targets path holds.
type Listing struct {
	Targets []Target
	Invalid []InvalidTarget
	// Parameters is how many parameters were found under the path, and
	// Sample names a few, for a message when none of them makes an instance.
	Parameters int
	Sample     []string
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
	// NotChecked says why the check could not be made here (the function
	// ran out of open files): it is no evidence about the instance.
	NotChecked string

	// Instance is the instance component: OK when /health answered as ProGet
	// does (whatever the health it reports), otherwise Down, NoHealthAPI,
	// WrongProduct or Redirected with the reason in its detail.
	Instance Reading
	// NetworkFailure is true when /health gave no HTTP answer at all
	// (refused, reset, DNS, TLS, timeout): the likeliest cause may be on our side.
	NetworkFailure bool
	// Unreachable is true when no connection could be made at all: the name
	// did not resolve, or nothing answered on its address. When most
	// instances are unreachable, the function's own network is suspect.
	Unreachable bool
	HTTPStatus  int
	// ResponseTime is how long /health took to answer, from sending the
	// request; zero when no answer came.
	ResponseTime time.Duration

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
	// ConnectorList is every connector ProGet listed (Component is
	// "connector:<name>"); the decision tracks at most MaxConnectors of them.
	ConnectorList []Reading

	// Probes are the feed probes' outcomes (Component is "probe:<label>");
	// the decision reads them only while the instance is up.
	Probes []Reading
	// Certificate is the TLS certificate the instance presented, read as
	// a component (OK, or Expiring within the warning days); nil when the
	// instance is not on https or the warning is off.
	Certificate *Reading
	// CertificateExpires is when that certificate expires (zero: none read).
	CertificateExpires time.Time
}

// Up reports whether /health answered as ProGet does.
func (o Observation) Up() bool { return o.Instance.Status == StatusOK }

// Readings lists every component this observation says something about,
// in a stable order: instance, health components, connector-health, connectors.
func (o Observation) Readings() []Reading {
	inst := o.Instance
	inst.Component = ComponentInstance
	if !o.Up() {
		return []Reading{inst}
	}
	out := make([]Reading, 0, 3+len(o.Health)+len(o.Probes)+len(o.ConnectorList))
	out = append(out, inst)
	out = append(out, o.Health...)
	if o.Certificate != nil {
		out = append(out, *o.Certificate)
	}
	out = append(out, o.Probes...)
	out = append(out, o.Connectors)
	return append(out, o.ConnectorList...)
}

// Healthy reports whether the instance is up and every component it reported is healthy.
func (o Observation) Healthy() bool {
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
	Status Status
	Detail string
	Since  time.Time
	// Alerted is the last status people were told about; empty when they were told nothing.
	Alerted Status
	// Observed is the latest reading; ObservedSince and Streak count the
	// consecutive runs whose readings were on the same side (healthy or not).
	Observed      Status
	ObservedSince time.Time
	Streak        int
	// Notified is when people were last told about this status (alert or reminder).
	Notified time.Time
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
	Outbox []Pending
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
	// Meanwhile is the worst status a merged change passed through between
	// From and To, when it is worse than both (Down between OK and OK):
	// what happened while alerts could not be delivered.
	Meanwhile Status `json:"meanwhile,omitempty"`
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
	ID       string
	Instance string
	URL      string
	Severity Severity
	Time     time.Time
	Changes  []Change
	Notices  []Notice
}

// Pending is an alert in an instance's outbox: claimed, not yet known to be
// delivered.
type Pending struct {
	Alert
	// Fleet is the id of the fleet message this alert is delivered in, with
	// others of the same run; empty when it is delivered on its own.
	Fleet string
	// FleetSize is how many instances the fleet message was made for, and
	// FleetChecked how many the run that grouped it checked.
	FleetSize    int
	FleetChecked int
	// FleetNote is what the grouping run knew of the likeliest cause.
	FleetNote string
	// Tried is set once a publish of the alert may have reached SNS: it is then
	// only ever sent again as it is, with its id, and never merged.
	Tried bool
	// Done lists the audiences (topics) that are done with it: they accepted
	// it, or refused it even in its short form and it was given up for them.
	Done []string
}

// ErrConflict is returned by a store when another run wrote the same instance first.
var ErrConflict = errors.New("state was changed by another run")
