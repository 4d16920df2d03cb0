package alert

import (
	"encoding/json"
	"fmt"
	"slices"
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
	var bad, good, still []string
	connectorsBad := map[monitor.Status]int{}
	var longest time.Duration
	for _, c := range a.Changes {
		name := label(c.Component)
		switch {
		case c.Reminder:
			gist := name + " " + string(c.To)
			if c.Component == monitor.ComponentInstance {
				gist = "DOWN"
			}
			still = append(still, gist)
			longest = max(longest, a.Time.Sub(c.Since))
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
	// Merged alerts (kept while SNS was failing) may say the same twice.
	bad, good, still = unique(bad), unique(good), unique(still)
	var gist string
	switch {
	case len(bad) > 0 && len(good) > 0:
		gist = strings.Join(bad, ", ") + fmt.Sprintf(", %d recovered", len(good))
	case len(bad) > 0:
		gist = strings.Join(bad, ", ")
	case len(good) > 0 && len(a.Problems) == 0:
		gist = "recovered"
	case len(good) > 0:
		gist = strings.Join(good, ", ") + fmt.Sprintf("; still %d problem%s", len(a.Problems), plural(len(a.Problems)))
	case len(still) > 0:
		gist = "still " + strings.Join(still, ", ") + " (for " + duration(longest) + ")"
	default:
		gist = noticeGist(a.Notices)
	}
	return truncate(ascii("ProGet "+a.Instance+": "+gist), MaxSubject)
}

func unique(xs []string) []string {
	var out []string
	for _, x := range xs {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
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

// duration is how long, as people say it: "45m", "2h 5m", "3d 4h".
func duration(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%ds", int(d.Round(time.Second).Seconds()))
	}
	m := int(d.Round(time.Minute).Minutes())
	switch {
	case m < 60:
		return fmt.Sprintf("%dm", m)
	case m < 24*60:
		if m%60 == 0 {
			return fmt.Sprintf("%dh", m/60)
		}
		return fmt.Sprintf("%dh %dm", m/60, m%60)
	default:
		return fmt.Sprintf("%dd %dh", m/(24*60), m%(24*60)/60)
	}
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
	reminders := 0
	for _, c := range a.Changes {
		if c.Reminder {
			reminders++
		}
	}
	switch {
	case reminders > 0 && reminders == len(a.Changes):
		fmt.Fprintf(&b, "Reminder: ProGet instance %s still has a problem.\n", a.Instance)
	case a.Severity == monitor.SeverityCritical:
		fmt.Fprintf(&b, "ProGet instance %s has a problem.\n", a.Instance)
	case a.Severity == monitor.SeverityWarning:
		fmt.Fprintf(&b, "The monitor cannot fully check ProGet instance %s.\n", a.Instance)
	case a.Severity == monitor.SeverityInfo:
		fmt.Fprintf(&b, "ProGet instance %s changed its version or extensions.\n", a.Instance)
	default:
		fmt.Fprintf(&b, "ProGet instance %s recovered.\n", a.Instance)
	}
	fmt.Fprintf(&b, "\nURL:  %s\nTime: %s\n", a.URL, when(a.Time))
	switch {
	case reminders > 0 && reminders == len(a.Changes):
		b.WriteString("\nStill the case:\n")
	case len(a.Changes) > 0:
		b.WriteString("\nWhat changed:\n")
	}
	for _, c := range a.Changes {
		from := string(c.From)
		if from == "" {
			from = "(first check)"
		}
		if c.Reminder {
			fmt.Fprintf(&b, "  - %s: still %s, for %s (since %s)\n", label(c.Component), c.To, duration(a.Time.Sub(c.Since)), when(c.Since))
		} else {
			fmt.Fprintf(&b, "  - %s: %s -> %s, since %s\n", label(c.Component), from, c.To, when(c.Since))
		}
		if c.Detail != "" {
			fmt.Fprintf(&b, "      %s\n", c.Detail)
		}
	}
	if len(a.Notices) > 0 {
		b.WriteString("\nFor information:\n")
		for _, n := range a.Notices {
			if n.Kind == "version" {
				fmt.Fprintf(&b, "  - ProGet version: %s -> %s\n", n.From, n.To)
			} else {
				fmt.Fprintf(&b, "  - extensions: %s\n", n.Detail)
			}
		}
	}
	switch {
	case a.Severity == monitor.SeverityInfo:
		// Nothing is wrong, and nothing to sum up.
	case len(a.Problems) == 0:
		b.WriteString("\nEverything the monitor checks on this instance is healthy now.\n")
	default:
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
	Notices  []monitor.Notice  `json:"notices"`
	Problems []monitor.Problem `json:"problems"`
}

// NewDocument builds the machine form of an alert.
func NewDocument(a monitor.Alert) Document {
	d := Document{Schema: Schema, ID: a.ID, Instance: a.Instance, URL: a.URL, Severity: a.Severity,
		Time: a.Time.UTC(), Subject: Subject(a), Text: Text(a), Changes: a.Changes, Notices: a.Notices, Problems: a.Problems}
	if d.Changes == nil {
		d.Changes = []monitor.Change{}
	}
	if d.Notices == nil {
		d.Notices = []monitor.Notice{}
	}
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
	return protocolMessage(Text(a), Subject(a), string(doc))
}

// protocolMessage gives people the text and machines the document.
func protocolMessage(text, subject, doc string) (string, error) {
	b, err := json.Marshal(map[string]string{
		"default":    text,
		"email":      text,
		"email-json": doc,
		"sqs":        doc,
		"lambda":     doc,
		"http":       doc,
		"https":      doc,
		"sms":        subject,
	})
	return string(b), err
}
