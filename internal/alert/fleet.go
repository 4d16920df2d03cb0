package alert

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/proget-monitor/proget-monitor/internal/monitor"
)

// FleetSchema names the version of a fleet alert's JSON document.
const FleetSchema = "proget-monitor/fleet-alert/v1"

// FleetInstance is the value of the instance attribute on a fleet alert.
const FleetInstance = "*"

func fleetCounts(fa monitor.FleetAlert) (down, up int) {
	for _, a := range fa.Alerts {
		if a.Severity == monitor.SeverityCritical {
			down++
		} else {
			up++
		}
	}
	return down, up
}

// FleetSubject sums up a fleet alert.
func FleetSubject(fa monitor.FleetAlert) string {
	down, up := fleetCounts(fa)
	var parts []string
	if down > 0 {
		parts = append(parts, fmt.Sprintf("%d of %d instances DOWN at once", down, fa.Checked))
	}
	if up > 0 {
		parts = append(parts, fmt.Sprintf("%d instances recovered", up))
	}
	return truncate(ascii("ProGet monitor: "+strings.Join(parts, ", ")), MaxSubject)
}

// FleetText is a fleet alert as a person reads it.
func FleetText(fa monitor.FleetAlert) string {
	var b strings.Builder
	down, up := fleetCounts(fa)
	if down > 0 {
		fmt.Fprintf(&b, "%d of the %d ProGet instances checked stopped answering in the same run, for network reasons.\n", down, fa.Checked)
		b.WriteString("The likeliest cause is the monitor's own connectivity (VPC, NAT gateway, DNS, proxy, firewall),\nnot that many separate outages. Each instance's state is recorded, and recoveries will be reported.\n")
	} else {
		fmt.Fprintf(&b, "%d ProGet instances answer again.\n", up)
	}
	fmt.Fprintf(&b, "\nTime: %s\n\n", when(fa.Time))
	for _, a := range fa.Alerts {
		c := a.Changes[0]
		line := fmt.Sprintf("  - %s (%s): %s", a.Instance, a.URL, c.To)
		if c.Detail != "" {
			line += ": " + c.Detail
		}
		b.WriteString(line + "\n")
	}
	fmt.Fprintf(&b, "\n--\nproget-monitor fleet alert %s (severity %s)\n", fa.ID, fa.Severity)
	return b.String()
}

// FleetDocument is a fleet alert for machines: each instance's alert document.
type FleetDocument struct {
	Schema   string           `json:"schema"`
	ID       string           `json:"id"`
	Fleet    bool             `json:"fleet"`
	Severity monitor.Severity `json:"severity"`
	Time     time.Time        `json:"time"`
	Checked  int              `json:"checked"`
	Subject  string           `json:"subject"`
	Text     string           `json:"text"`
	Alerts   []Document       `json:"alerts"`
}

// NewFleetDocument builds the machine form of a fleet alert.
func NewFleetDocument(fa monitor.FleetAlert) FleetDocument {
	d := FleetDocument{Schema: FleetSchema, ID: fa.ID, Fleet: true, Severity: fa.Severity, Time: fa.Time.UTC(),
		Checked: fa.Checked, Subject: FleetSubject(fa), Text: FleetText(fa), Alerts: []Document{}}
	for _, a := range fa.Alerts {
		d.Alerts = append(d.Alerts, NewDocument(a))
	}
	return d
}

func fleetSNSMessage(fa monitor.FleetAlert) (string, error) {
	doc, err := json.Marshal(NewFleetDocument(fa))
	if err != nil {
		return "", err
	}
	return protocolMessage(FleetText(fa), FleetSubject(fa), string(doc))
}
