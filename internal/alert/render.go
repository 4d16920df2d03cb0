package alert

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/proget-monitor/proget-monitor/internal/monitor"
)

// MaxSubject is SNS's limit on a subject's length.
const MaxSubject = 100

// Schema names the version of the JSON document.
const Schema = "proget-monitor/alert/v1"

// Subject names the instance and the gist of the alert, in at most 100 ASCII
// characters (SNS refuses anything else).
func Subject(a monitor.Alert) string {
	var bad, good []string
	connectorsBad := map[monitor.Status]int{}
	for _, c := range a.Changes {
		name := label(c.Component)
		switch {
		case c.Component == monitor.ComponentInstance && c.To == monitor.StatusDown:
			bad = append([]string{"DOWN"}, bad...)
		case c.Component == monitor.ComponentConnectorHealth && c.To == monitor.StatusRejected:
			bad = append(bad, "API key rejected")
		case !c.To.Healthy() && strings.HasPrefix(c.Component, monitor.ConnectorPrefix):
			connectorsBad[c.To]++
			if connectorsBad[c.To] == 1 {
				bad = append(bad, fmt.Sprintf("%s %s", name, c.To))
			}
		case !c.To.Healthy():
			bad = append(bad, fmt.Sprintf("%s %s", name, c.To))
		case c.To == monitor.StatusRemoved:
			good = append(good, name+" removed")
		default:
			good = append(good, name+" "+string(c.To))
		}
	}
	// Several connectors going bad at once read as a count.
	for i, b := range bad {
		for st, n := range connectorsBad {
			if n > 1 && strings.HasPrefix(b, "connector ") && strings.HasSuffix(b, " "+string(st)) {
				bad[i] = fmt.Sprintf("%d connectors %s", n, st)
			}
		}
	}
	var gist string
	switch {
	case len(bad) > 0 && len(good) > 0:
		gist = strings.Join(bad, ", ") + fmt.Sprintf(", %d recovered", len(good))
	case len(bad) > 0:
		gist = strings.Join(bad, ", ")
	case len(a.Problems) == 0:
		gist = "recovered"
	default:
		gist = strings.Join(good, ", ") + fmt.Sprintf("; still %d problem%s", len(a.Problems), plural(len(a.Problems)))
	}
	return truncate(ascii("ProGet "+a.Instance+": "+gist), MaxSubject)
}

// label is how a component reads in a subject or a body line.
func label(component string) string {
	if name, ok := strings.CutPrefix(component, monitor.ConnectorPrefix); ok {
		return "connector " + name
	}
	return component
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// ascii replaces what SNS does not take in a subject: non-ASCII and control characters.
func ascii(s string) string {
	out := make([]byte, 0, len(s))
	for _, r := range s {
		switch {
		case r < 0x20 || r == 0x7f:
			out = append(out, ' ')
		case r > 0x7e:
			out = append(out, '?')
		default:
			out = append(out, byte(r))
		}
	}
	return string(out)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}

const timeLayout = "2006-01-02 15:04 MST"

func when(t time.Time) string { return t.UTC().Format(timeLayout) }

// Text is the alert as a person reads it in an e-mail.
func Text(a monitor.Alert) string {
	var b strings.Builder
	switch a.Severity {
	case monitor.SeverityCritical:
		fmt.Fprintf(&b, "ProGet instance %s has a problem.\n", a.Instance)
	case monitor.SeverityWarning:
		fmt.Fprintf(&b, "The monitor cannot fully check ProGet instance %s.\n", a.Instance)
	default:
		fmt.Fprintf(&b, "ProGet instance %s recovered.\n", a.Instance)
	}
	fmt.Fprintf(&b, "\nURL:  %s\nTime: %s\n\nWhat changed:\n", a.URL, when(a.Time))
	for _, c := range a.Changes {
		from := string(c.From)
		if from == "" {
			from = "(first check)"
		}
		fmt.Fprintf(&b, "  - %s: %s -> %s, since %s\n", label(c.Component), from, c.To, when(c.Since))
		if c.Detail != "" {
			fmt.Fprintf(&b, "      %s\n", c.Detail)
		}
	}
	if len(a.Problems) == 0 {
		b.WriteString("\nEverything the monitor checks on this instance is healthy now.\n")
	} else {
		b.WriteString("\nStill not healthy:\n")
		for _, p := range a.Problems {
			fmt.Fprintf(&b, "  - %s: %s\n", label(p.Component), p.Status)
		}
	}
	fmt.Fprintf(&b, "\n--\nproget-monitor alert %s (severity %s)\n", a.ID, a.Severity)
	return b.String()
}

// Document is the alert for machines: the "sqs", "lambda" and "https"
// subscribers receive it. Its fields are documented in the README.
type Document struct {
	Schema   string            `json:"schema"`
	ID       string            `json:"id"`
	Instance string            `json:"instance"`
	URL      string            `json:"url"`
	Severity monitor.Severity  `json:"severity"`
	Time     time.Time         `json:"time"`
	Subject  string            `json:"subject"`
	Text     string            `json:"text"`
	Changes  []monitor.Change  `json:"changes"`
	Problems []monitor.Problem `json:"problems"`
}

// NewDocument builds the machine form of an alert.
func NewDocument(a monitor.Alert) Document {
	d := Document{Schema: Schema, ID: a.ID, Instance: a.Instance, URL: a.URL, Severity: a.Severity,
		Time: a.Time.UTC(), Subject: Subject(a), Text: Text(a), Changes: a.Changes, Problems: a.Problems}
	if d.Problems == nil {
		d.Problems = []monitor.Problem{}
	}
	return d
}

// snsMessage is the body of a Publish with MessageStructure "json": one text
// per subscriber protocol.
func snsMessage(a monitor.Alert) (string, error) {
	doc, err := json.Marshal(NewDocument(a))
	if err != nil {
		return "", err
	}
	text := Text(a)
	m := map[string]string{
		"default":    text,
		"email":      text,
		"email-json": string(doc),
		"sqs":        string(doc),
		"lambda":     string(doc),
		"http":       string(doc),
		"https":      string(doc),
		"sms":        Subject(a),
	}
	b, err := json.Marshal(m)
	return string(b), err
}
