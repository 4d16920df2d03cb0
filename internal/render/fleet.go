package render

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/proget-monitor/proget-monitor/internal/monitor"
)

// FleetSchema names the version of a fleet message's JSON document.
const FleetSchema = "proget-monitor/fleet-alert/v2"

// Fleet is one message for many instances whose instance changed the same way
// in one run: down at once, back at once, or still down at once.
type Fleet struct {
	ID      string
	Time    time.Time
	Checked int // instances the run checked
	// Members tell, each, one instance's change of its instance component.
	Members []monitor.Alert
	// Note says what the monitor knows of the likeliest cause.
	Note string
}

type fleetKind int

const (
	fleetDown fleetKind = iota
	fleetUp
	fleetStill
)

func (f Fleet) kind() fleetKind {
	if len(f.Members) == 0 || len(f.Members[0].Changes) == 0 {
		return fleetDown
	}
	c := f.Members[0].Changes[0]
	switch {
	case c.Reminder:
		return fleetStill
	case c.To.Healthy():
		return fleetUp
	}
	return fleetDown
}

// Severity is resolved for recoveries, critical otherwise.
func (f Fleet) Severity() monitor.Severity {
	if f.kind() == fleetUp {
		return monitor.SeverityResolved
	}
	return monitor.SeverityCritical
}

// FleetMessage renders a fleet message, listing as many instances as fit.
func FleetMessage(f Fleet, format Format, minimal bool) (Message, error) {
	members := slices.Clone(f.Members)
	slices.SortFunc(members, func(a, b monitor.Alert) int { return strings.Compare(a.Instance, b.Instance) })
	f.Members = members
	names := make([]string, len(members))
	for i, m := range members {
		names[i] = m.Instance
	}
	n := len(members)
	if minimal {
		n = min(n, minimalItems)
	}
	return fit(n, func(k int) Message {
		m := Message{ID: f.ID, Subject: FleetSubject(f), Severity: f.Severity(), Instances: names, Fleet: true}
		text := fleetText(f, k, minimal)
		if format == Text {
			m.Body = text
			return m
		}
		m.Body = marshal(newFleetDocument(f, m.Subject, text, k, minimal))
		return m
	})
}

// FleetSubject sums up a fleet message.
func FleetSubject(f Fleet) string {
	n := len(f.Members)
	var s string
	switch f.kind() {
	case fleetDown:
		s = fmt.Sprintf("%d of %d instances DOWN at once", n, f.Checked)
	case fleetUp:
		s = fmt.Sprintf("%d %s recovered", n, plural(n, "instance", "instances"))
	default:
		s = fmt.Sprintf("%d %s still DOWN (for %s)", n, plural(n, "instance", "instances"), duration(f.longest()))
	}
	return ascii("ProGet monitor: " + s)
}

func (f Fleet) longest() time.Duration {
	var d time.Duration
	for _, m := range f.Members {
		for _, c := range m.Changes {
			d = max(d, f.Time.Sub(c.Since))
		}
	}
	return d
}

func fleetText(f Fleet, k int, minimal bool) string {
	var b strings.Builder
	n := len(f.Members)
	switch f.kind() {
	case fleetDown:
		fmt.Fprintf(&b, "%d of the %d ProGet instances checked stopped answering in the same run, for network reasons.\n", n, f.Checked)
		b.WriteString("The likeliest cause is the monitor's own connectivity (VPC, NAT gateway, DNS, proxy, firewall),\n" +
			"not that many separate outages. Each instance's state is recorded, and recoveries will be reported.\n")
	case fleetUp:
		fmt.Fprintf(&b, "%d ProGet %s answer again.\n", n, plural(n, "instance", "instances"))
	default:
		fmt.Fprintf(&b, "Reminder: %d ProGet %s still down.\n", n, plural(n, "instance is", "instances are"))
	}
	if f.Note != "" {
		fmt.Fprintf(&b, "\n%s\n", f.Note)
	}
	fmt.Fprintf(&b, "\nTime: %s\n", when(f.Time))
	if minimal {
		fmt.Fprintf(&b, "\nThis is a short form: SNS refused the full message. The monitor's log has it in full (alert id %s).\n", f.ID)
	}
	b.WriteString("\n")
	for i, m := range f.Members {
		if i == k {
			fmt.Fprintf(&b, "  ... and %d more %s\n", n-k, plural(n-k, "instance", "instances"))
			break
		}
		b.WriteString(memberLine(f.Time, m, minimal))
	}
	fmt.Fprintf(&b, "\n--\nproget-monitor fleet alert %s (severity %s, %d %s)\n", f.ID, f.Severity(), n, plural(n, "instance", "instances"))
	return b.String()
}

func memberLine(now time.Time, m monitor.Alert, minimal bool) string {
	if len(m.Changes) == 0 {
		return fmt.Sprintf("  - %s (%s)\n", m.Instance, m.URL)
	}
	c := m.Changes[0]
	var line string
	switch {
	case c.Reminder:
		line = fmt.Sprintf("  - %s (%s): still %s, for %s", m.Instance, m.URL, c.To, duration(now.Sub(c.Since)))
	default:
		line = fmt.Sprintf("  - %s (%s): %s", m.Instance, m.URL, c.To)
	}
	if c.Detail != "" && !minimal {
		line += ": " + cut(c.Detail, 200)
	}
	return line + "\n"
}

// FleetDocument is a fleet message for programs.
type FleetDocument struct {
	Schema   string           `json:"schema"`
	ID       string           `json:"id"`
	Fleet    bool             `json:"fleet"`
	Kind     string           `json:"kind"` // "down", "recovered" or "still-down"
	Severity monitor.Severity `json:"severity"`
	Time     time.Time        `json:"time"`
	Checked  int              `json:"checked"`
	Subject  string           `json:"subject"`
	Text     string           `json:"text"`
	Note     string           `json:"note,omitempty"`
	// Count is how many instances the message is about; Instances lists those
	// that fit, InstancesOmitted counts the rest.
	Count            int             `json:"count"`
	Instances        []FleetInstance `json:"instances"`
	InstancesOmitted int             `json:"instancesOmitted,omitempty"`
	Minimal          bool            `json:"minimal,omitempty"`
}

// FleetInstance is one instance of a fleet message.
type FleetInstance struct {
	ID       string         `json:"id"` // the instance's own alert id
	Instance string         `json:"instance"`
	URL      string         `json:"url"`
	Change   monitor.Change `json:"change"`
}

var kindNames = map[fleetKind]string{fleetDown: "down", fleetUp: "recovered", fleetStill: "still-down"}

func newFleetDocument(f Fleet, subject, text string, k int, minimal bool) FleetDocument {
	d := FleetDocument{Schema: FleetSchema, ID: f.ID, Fleet: true, Kind: kindNames[f.kind()], Severity: f.Severity(),
		Time: f.Time.UTC(), Checked: f.Checked, Subject: subject, Text: text, Note: f.Note, Count: len(f.Members),
		Instances: []FleetInstance{}, Minimal: minimal}
	for i, m := range f.Members {
		if i == k {
			d.InstancesOmitted = len(f.Members) - k
			break
		}
		fi := FleetInstance{ID: m.ID, Instance: m.Instance, URL: m.URL}
		if len(m.Changes) > 0 {
			fi.Change = m.Changes[0]
			fi.Change.Detail = cut(fi.Change.Detail, 200)
			if minimal {
				fi.Change.Detail = ""
			}
		}
		d.Instances = append(d.Instances, fi)
	}
	return d
}
