package render

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/proget-monitor/proget-monitor/internal/monitor"
)

// Schema names the version of an alert's JSON document; fields are only ever added.
const Schema = "proget-monitor/alert/v1"

// minimalItems is how many changes a minimal message lists.
const minimalItems = 5

// Alert renders one instance's alert: what changed and, from the state it is
// delivered with, what is still bad. minimal is the form sent when SNS refused
// the full one as invalid: counts and the first changes, without details.
func Alert(a monitor.Alert, problems []monitor.Problem, f Format, minimal bool) (Message, error) {
	n := max(len(a.Changes), len(problems))
	if minimal {
		n = min(n, minimalItems)
	}
	return fit(n, func(k int) Message {
		m := Message{ID: a.ID, Subject: Subject(a, problems), Severity: a.Severity, Instances: []string{a.Instance}}
		text := alertText(a, problems, k, minimal)
		if f == Text {
			m.Body = text
			return m
		}
		m.Body = marshal(newDocument(a, problems, m.Subject, text, k, minimal))
		return m
	})
}

// Subject names the instance and the gist of the alert.
func Subject(a monitor.Alert, problems []monitor.Problem) string {
	var bad, good, still []item
	var longest time.Duration
	for _, c := range a.Changes {
		switch {
		case c.Reminder:
			still = append(still, item{c.Component, c.To})
			longest = max(longest, a.Time.Sub(c.Since))
		case !c.To.Healthy():
			bad = append(bad, item{c.Component, c.To})
		default:
			good = append(good, item{c.Component, c.To})
		}
	}
	var g string
	switch {
	case len(bad) > 0 && len(good) > 0:
		g = strings.Join(count(bad), ", ") + fmt.Sprintf(", %d recovered", len(good))
	case len(bad) > 0:
		g = strings.Join(count(bad), ", ")
	case len(good) > 0 && len(problems) == 0:
		g = "recovered"
	case len(good) > 0:
		g = strings.Join(count(good), ", ") + fmt.Sprintf("; still %d %s", len(problems), plural(len(problems), "problem", "problems"))
	case len(still) > 0:
		g = "still " + strings.Join(unique(count(still)), ", ") + " (for " + duration(longest) + ")"
	default:
		g = noticeGist(a.Notices)
	}
	return ascii("ProGet " + a.Instance + ": " + g)
}

func noticeGist(ns []monitor.Notice) string {
	var parts []string
	for _, n := range ns {
		if n.Kind == "version" {
			parts = append(parts, "now "+n.To)
		} else {
			parts = append(parts, "extensions changed")
		}
	}
	return strings.Join(parts, ", ")
}

// certificateOnly is an alert whose only warning is the certificate's.
func certificateOnly(a monitor.Alert) bool {
	for _, c := range a.Changes {
		if c.To.Class() == monitor.ClassWarning && c.Component != monitor.ComponentCertificate {
			return false
		}
	}
	return true
}

func reminderOnly(a monitor.Alert) bool {
	for _, c := range a.Changes {
		if !c.Reminder {
			return false
		}
	}
	return len(a.Changes) > 0
}

// alertText is the alert as a person reads it, listing at most k changes and
// k problems; the rest are counted.
func alertText(a monitor.Alert, problems []monitor.Problem, k int, minimal bool) string {
	var b strings.Builder
	reminder := reminderOnly(a)
	switch {
	case reminder:
		fmt.Fprintf(&b, "Reminder: ProGet instance %s still has a problem.\n", a.Instance)
	case a.Severity == monitor.SeverityCritical:
		fmt.Fprintf(&b, "ProGet instance %s has a problem.\n", a.Instance)
	case a.Severity == monitor.SeverityWarning && certificateOnly(a):
		fmt.Fprintf(&b, "The TLS certificate of ProGet instance %s expires soon.\n", a.Instance)
	case a.Severity == monitor.SeverityWarning:
		fmt.Fprintf(&b, "The monitor cannot check ProGet instance %s as configured.\n", a.Instance)
	case a.Severity == monitor.SeverityInfo:
		fmt.Fprintf(&b, "ProGet instance %s changed its version or extensions.\n", a.Instance)
	default:
		fmt.Fprintf(&b, "ProGet instance %s recovered.\n", a.Instance)
	}
	fmt.Fprintf(&b, "\nURL:  %s\nTime: %s\n", a.URL, when(a.Time))
	if minimal {
		fmt.Fprintf(&b, "\nThis is a short form: SNS refused the full alert. The monitor's log has it in full (alert id %s).\n", a.ID)
	}
	switch {
	case reminder:
		b.WriteString("\nStill the case:\n")
	case len(a.Changes) > 0:
		b.WriteString("\nWhat changed:\n")
	}
	for i, c := range a.Changes {
		if i == k {
			fmt.Fprintf(&b, "  ... and %d more: %s\n", len(a.Changes)-k, summary(a.Changes[k:]))
			break
		}
		b.WriteString(changeLine(a.Time, c))
		if c.Detail != "" && !minimal {
			fmt.Fprintf(&b, "      %s\n", cut(c.Detail, maxDetail))
		}
	}
	if len(a.Notices) > 0 {
		b.WriteString("\nFor information:\n")
		for _, n := range a.Notices {
			if n.Kind == "version" {
				fmt.Fprintf(&b, "  - ProGet version: %s -> %s\n", n.From, n.To)
			} else {
				fmt.Fprintf(&b, "  - extensions: %s\n", cut(n.Detail, maxDetail))
			}
		}
	}
	switch {
	case a.Severity == monitor.SeverityInfo:
		// Nothing is wrong, and nothing to sum up.
	case len(problems) == 0:
		b.WriteString("\nEverything the monitor checks on this instance is healthy now.\n")
	default:
		b.WriteString("\nStill not healthy:\n")
		for i, p := range problems {
			if i == k {
				fmt.Fprintf(&b, "  ... and %d more: %s\n", len(problems)-k, problemSummary(problems[k:]))
				break
			}
			fmt.Fprintf(&b, "  - %s: %s\n", label(p.Component), p.Status)
		}
	}
	fmt.Fprintf(&b, "\n--\nproget-monitor alert %s (severity %s, instance %s)\n", a.ID, a.Severity, a.Instance)
	return b.String()
}

func changeLine(now time.Time, c monitor.Change) string {
	name := label(c.Component)
	if c.Reminder {
		return fmt.Sprintf("  - %s: still %s, for %s (since %s)\n", name, c.To, duration(now.Sub(c.Since)), when(c.Since))
	}
	from := string(c.From)
	if from == "" {
		from = "(first check)"
	}
	if c.Meanwhile != "" {
		return fmt.Sprintf("  - %s: %s -> %s -> %s, since %s (while alerts could not be delivered)\n", name, from, c.Meanwhile, c.To, when(c.Since))
	}
	return fmt.Sprintf("  - %s: %s -> %s, since %s\n", name, from, c.To, when(c.Since))
}

// Document is the alert for programs. Its fields are documented in the README.
type Document struct {
	Schema          string            `json:"schema"`
	ID              string            `json:"id"`
	Instance        string            `json:"instance"`
	URL             string            `json:"url"`
	Severity        monitor.Severity  `json:"severity"`
	Time            time.Time         `json:"time"`
	Subject         string            `json:"subject"`
	Text            string            `json:"text"`
	Changes         []monitor.Change  `json:"changes"`
	ChangesOmitted  int               `json:"changesOmitted,omitempty"`
	Notices         []monitor.Notice  `json:"notices"`
	Problems        []monitor.Problem `json:"problems"`
	ProblemsOmitted int               `json:"problemsOmitted,omitempty"`
	// Minimal marks the short form sent when SNS refused the full one.
	Minimal bool `json:"minimal,omitempty"`
}

func newDocument(a monitor.Alert, problems []monitor.Problem, subject, text string, k int, minimal bool) Document {
	d := Document{Schema: Schema, ID: a.ID, Instance: a.Instance, URL: a.URL, Severity: a.Severity,
		Time: a.Time.UTC(), Subject: subject, Text: text, Changes: []monitor.Change{}, Notices: []monitor.Notice{},
		Problems: []monitor.Problem{}, Minimal: minimal}
	for i, c := range a.Changes {
		if i == k {
			d.ChangesOmitted = len(a.Changes) - k
			break
		}
		c.Detail = cut(c.Detail, maxDetail)
		if minimal {
			c.Detail = ""
		}
		d.Changes = append(d.Changes, c)
	}
	d.Notices = append(d.Notices, a.Notices...)
	for i, p := range problems {
		if i == k {
			d.ProblemsOmitted = len(problems) - k
			break
		}
		p.Detail = cut(p.Detail, maxDetail)
		if minimal {
			p.Detail = ""
		}
		d.Problems = append(d.Problems, p)
	}
	return d
}

func marshal(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		// Only plain data is marshalled here: an error is a programming error.
		panic(fmt.Sprintf("render: marshal %T: %v", v, err))
	}
	return string(b)
}
