package render

import (
	"encoding/json"
	"fmt"

	"github.com/proget-monitor/proget-monitor/internal/monitor"
)

// Format is what a message's body holds.
type Format string

const (
	Text Format = "text" // for people: e-mail, SMS
	JSON Format = "json" // for programs: SQS, Lambda, HTTPS
)

// MaxPublishBytes is the most SNS takes in one Publish: the body, the subject
// and every message attribute's name, type and value, counted in bytes.
const MaxPublishBytes = 256 * 1024

// MaxSubject is the longest subject SNS accepts ("less than 100 characters").
const MaxSubject = 99

// Message attribute names, for subscription filter policies.
const (
	AttrInstance = "instance" // String: the instance; String.Array: every instance of a fleet message
	AttrSeverity = "severity" // critical, warning, resolved, info
	AttrAlertID  = "alert-id" // stable across redeliveries: drop duplicates by it
	AttrKind     = "kind"     // "instance" or "fleet"
)

// maxInstanceAttr bounds the instance list of a fleet message's attribute;
// past it the list names the first instances only (the body names them all
// that fit).
const maxInstanceAttr = 32 * 1024

// Message is one rendered alert, ready to publish.
type Message struct {
	ID       string
	Subject  string
	Body     string
	Severity monitor.Severity
	// Instances names the instance, or every instance a fleet message is about.
	Instances []string
	Fleet     bool
}

// Attribute is one SNS message attribute.
type Attribute struct {
	Name, Type, Value string
}

// Attributes are what subscription filter policies match on. They are sent
// because every message is published with the String message structure.
func (m Message) Attributes() []Attribute {
	kind := "instance"
	inst := Attribute{Name: AttrInstance, Type: "String"}
	if m.Fleet {
		kind = "fleet"
		inst.Type = "String.Array"
		inst.Value = instanceArray(m.Instances)
	} else if len(m.Instances) > 0 {
		inst.Value = m.Instances[0]
	}
	return []Attribute{
		inst,
		{Name: AttrSeverity, Type: "String", Value: string(m.Severity)},
		{Name: AttrAlertID, Type: "String", Value: m.ID},
		{Name: AttrKind, Type: "String", Value: kind},
	}
}

// instanceArray is a String.Array value: a JSON array of names, cut to
// maxInstanceAttr bytes.
func instanceArray(names []string) string {
	out := make([]string, 0, len(names))
	size := 2
	for _, n := range names {
		b, _ := json.Marshal(n)
		if size+len(b)+1 > maxInstanceAttr {
			break
		}
		size += len(b) + 1
		out = append(out, n)
	}
	b, _ := json.Marshal(out)
	return string(b)
}

// Size is the message's size as SNS counts it against MaxPublishBytes.
func (m Message) Size() int {
	n := len(m.Body) + len(m.Subject)
	for _, a := range m.Attributes() {
		n += len(a.Name) + len(a.Type) + len(a.Value)
	}
	return n
}

// fit returns the richest rendering that SNS takes: render(k) shows at most k
// items of each list it has, n is the longest list. The search is binary, so
// a fleet of thousands is rendered a dozen times, not thousands.
func fit(n int, render func(k int) Message) (Message, error) {
	m := render(n)
	if m.Size() <= MaxPublishBytes {
		return m, nil
	}
	lo, hi := 0, n-1 // render(lo) fits or nothing does; render(hi+1) does not
	if m = render(0); m.Size() > MaxPublishBytes {
		return m, fmt.Errorf("alert %s is %d bytes without any change listed: over SNS's %d", m.ID, m.Size(), MaxPublishBytes)
	}
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if render(mid).Size() <= MaxPublishBytes {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return render(lo), nil
}
