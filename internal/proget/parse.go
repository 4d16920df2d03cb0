package proget

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/proget-monitor/proget-monitor/internal/monitor"
)

// object is a JSON object whose keys are matched case-insensitively (older
// ProGet documentation and other Inedo products spell the same fields in
// PascalCase), and whose strings come out scrubbed of the API key: JSON may
// escape characters of a key ("+" as \u002B), which the scrub of the raw body
// cannot see.
type object struct {
	m   map[string]json.RawMessage
	red redactor
}

func decodeObject(raw json.RawMessage, red redactor) (object, bool) {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil || m == nil {
		return object{}, false
	}
	o := object{m: make(map[string]json.RawMessage, len(m)), red: red}
	for k, v := range m {
		o.m[strings.ToLower(k)] = v
	}
	return o, true
}

// plainString reads a JSON string without escapes, the common case, without
// the cost of a full decode; anything else is left to encoding/json.
func plainString(raw json.RawMessage) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	body := raw[1 : len(raw)-1]
	for _, c := range body {
		if c == '"' || c == '\\' || c < 0x20 || c >= 0x80 {
			return "", false
		}
	}
	return string(body), true
}

// has reports whether any of the names is present (even as null).
func (o object) has(names ...string) bool {
	for _, n := range names {
		if _, ok := o.m[n]; ok {
			return true
		}
	}
	return false
}

// str returns the first of the names that holds a string; a number or boolean is
// turned into text. ok is false when none holds a usable value.
func (o object) str(names ...string) (string, bool) {
	for _, n := range names {
		raw, present := o.m[n]
		if !present {
			continue
		}
		if s, ok := plainString(raw); ok {
			return o.red.string(s), true
		}
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return o.red.string(s), true
		}
		var v any
		if json.Unmarshal(raw, &v) == nil {
			switch v.(type) {
			case float64, bool:
				return strings.TrimSpace(string(raw)), true
			}
		}
	}
	return "", false
}

// healthInfo is what /health says, once parsed.
type healthInfo struct {
	Readings   []monitor.Reading
	Release    string
	Extensions []string
}

// healthComponents maps ProGetHealthInfo fields to components. Detail fields are
// spelled inconsistently by ProGet itself (databaseStatusDetails is plural), so
// both spellings are read.
var healthComponents = []struct {
	component string
	status    string
	details   []string
}{
	{monitor.ComponentDatabase, "databasestatus", []string{"databasestatusdetails", "databasestatusdetail"}},
	{monitor.ComponentLicense, "licensestatus", []string{"licensestatusdetail", "licensestatusdetails"}},
	{monitor.ComponentService, "servicestatus", []string{"servicestatusdetail", "servicestatusdetails"}},
}

// errWrongProduct is a /health document from another Inedo product
// (BuildMaster, Otter), which serve the same shape under their own name.
type errWrongProduct struct{ name, instance string }

func (e errWrongProduct) Error() string {
	return fmt.Sprintf("applicationName is %s, not ProGet", quoted(e.name, 60))
}

// parseHealth reads a ProGetHealthInfo document, with red scrubbing the API
// key out of every text. It fails when the body is not a JSON object with at
// least one of the status fields, or (errWrongProduct) when it names
// another product.
func parseHealth(body []byte, red redactor) (healthInfo, error) {
	raw, err := lenientJSON(body)
	if err != nil {
		return healthInfo{}, err
	}
	o, ok := decodeObject(raw, red)
	if !ok {
		return healthInfo{}, fmt.Errorf("the JSON is not an object (%s)", jsonKind(raw))
	}
	// Absent is fine: the 5.2.9 sample and odd proxies may leave it out.
	if app, ok := o.str("applicationname"); ok && strings.TrimSpace(app) != "" && !strings.EqualFold(strings.TrimSpace(app), "ProGet") {
		inst, _ := o.str("instancename")
		return healthInfo{}, errWrongProduct{name: clean(app, 60), instance: clean(inst, 60)}
	}
	var info healthInfo
	for _, hc := range healthComponents {
		if !o.has(hc.status) {
			continue
		}
		info.Readings = append(info.Readings, reading(hc.component, o, hc.status, hc.details...))
	}
	if rs, ok := decodeObject(o.m["replicationstatus"], red); ok {
		// A null (or absent) status means replication is not configured: no component.
		for _, r := range []struct{ component, status, detail string }{
			{monitor.ComponentReplicationServer, "serverstatus", "servererror"},
			{monitor.ComponentReplicationClient, "clientstatus", "clienterror"},
		} {
			if raw, ok := rs.m[r.status]; ok && !isNull(raw) {
				info.Readings = append(info.Readings, reading(r.component, rs, r.status, r.detail))
			}
		}
	}
	if len(info.Readings) == 0 {
		return healthInfo{}, fmt.Errorf("the JSON object has none of databaseStatus, licenseStatus, serviceStatus")
	}
	info.Extensions = extensions(o.m["extensionsinstalled"], red)
	if v, ok := o.str("releasenumber"); ok && v != "" {
		info.Release = clean(v, 60)
	} else if v, ok := o.str("versionnumber"); ok {
		info.Release = clean(v, 60)
	}
	return info, nil
}

func isNull(raw json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(raw), []byte("null")) }

const maxExtensions = 200

// extensions reads extensionsInstalled as sorted "name version" entries: an
// object of name to version since ProGet 2023, a list of strings in 5.x.
func extensions(raw json.RawMessage, red redactor) []string {
	var out []string
	var asMap map[string]any
	var asList []any
	switch {
	case json.Unmarshal(raw, &asMap) == nil && asMap != nil:
		for name, v := range asMap {
			entry := clean(red.string(name), 100)
			if s, ok := v.(string); ok && s != "" {
				entry += " " + clean(red.string(s), 40)
			}
			out = append(out, entry)
		}
	case json.Unmarshal(raw, &asList) == nil && asList != nil:
		for _, v := range asList {
			if s, ok := v.(string); ok && s != "" {
				out = append(out, clean(red.string(s), 140))
			}
		}
	default:
		return nil
	}
	slices.Sort(out)
	out = slices.Compact(out)
	return out[:min(len(out), maxExtensions)]
}

// reading is one core component (database, license, service, replication).
// As in Inedo's own CLI, only "OK" and null are healthy: "Error" and anything
// else (a future "Warning", a number) is a problem, reported with the value
// as it came.
func reading(component string, o object, statusField string, detailFields ...string) monitor.Reading {
	r := monitor.Reading{Component: component, Status: monitor.StatusError}
	detail, _ := o.str(detailFields...)
	var s string
	raw := o.m[statusField]
	if isNull(raw) {
		// Inedo's own CLI counts null as healthy: nothing to report.
		r.Status = monitor.StatusOK
		return r
	}
	if json.Unmarshal(raw, &s) == nil {
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "ok":
			r.Status = monitor.StatusOK
			r.Detail = clean(detail, maxDetail)
			return r
		case "error":
			r.Detail = clean(detail, maxDetail)
			return r
		}
		r.Detail = "unrecognised status " + quoted(o.red.string(s), 40)
	} else {
		r.Detail = "unrecognised status " + clean(o.red.string(jsonText(o.m[statusField])), 40)
	}
	if detail = strings.TrimSpace(detail); detail != "" {
		r.Detail += ": " + detail
	}
	r.Detail = clean(r.Detail, maxDetail)
	return r
}

// jsonText is a JSON value as text, compacted. An API key in it, even
// escaped, is found by the scrub.
func jsonText(raw json.RawMessage) string {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return string(raw)
	}
	return b.String()
}

// connector is one entry of /api/connector-health.
type connector struct {
	Name   string
	Status monitor.Status
	Detail string
}

// parseConnectors reads the connector list, with red scrubbing the API key out
// of every text. A single object is accepted as a list of one. Entries
// without a name are named by id; duplicate names get their id appended so
// that each connector keeps its own state.
func parseConnectors(body []byte, red redactor) ([]connector, error) {
	raw, err := lenientJSON(body)
	if err != nil {
		return nil, err
	}
	var items []json.RawMessage
	if json.Unmarshal(raw, &items) != nil {
		if _, ok := decodeObject(raw, red); !ok {
			return nil, fmt.Errorf("the JSON is neither a list nor an object (%s)", jsonKind(raw))
		}
		items = []json.RawMessage{raw}
	}
	out := make([]connector, 0, len(items))
	count := map[string]int{}
	ids := make([]string, 0, len(items))
	for i, item := range items {
		o, ok := decodeObject(item, red)
		if !ok {
			return nil, fmt.Errorf("entry %d is not an object (%s)", i+1, jsonKind(item))
		}
		id, _ := o.str("id")
		name, _ := o.str("name")
		name = clean(name, 100)
		if name == "" {
			name = "id " + clean(id, 20)
			if id == "" {
				name = "#" + strconv.Itoa(i+1)
			}
		}
		c := connector{Name: name}
		// The documented states are healthy, error and unknown; the
		// documentation's own example says unhealthy. Anything else is not
		// known to be a problem.
		state, _ := o.str("state")
		switch strings.ToLower(strings.TrimSpace(state)) {
		case "healthy":
			c.Status = monitor.StatusOK
		case "error", "unhealthy":
			c.Status = monitor.StatusError
		default:
			c.Status = monitor.StatusUnknown
		}
		// ProGet's own example spells the field "erroMessage".
		msg, _ := o.str("errormessage", "erromessage", "error")
		c.Detail = clean(msg, maxDetail)
		count[name]++
		out = append(out, c)
		ids = append(ids, clean(id, 20))
	}
	taken := make(map[string]bool, len(out))
	for i := range out {
		name := out[i].Name
		if count[name] > 1 {
			suffix := ids[i]
			if suffix == "" {
				suffix = "#" + strconv.Itoa(i+1)
			}
			name += " (id " + suffix + ")"
		}
		// Every connector keeps its own state: make the name unique even when
		// ids repeat or a suffixed name collides with a real one.
		for n := 2; taken[name]; n++ {
			name = out[i].Name + " (" + strconv.Itoa(n) + ")"
		}
		taken[name] = true
		out[i].Name = name
	}
	return out, nil
}

// missingComma finds a value that ends a line followed by a line that starts a
// new key: the comma ProGet's documented example leaves out.
var missingComma = regexp.MustCompile(`("|\d|true|false|null|\}|\])(\s*\n\s*")`)

// lenientJSON returns the body as JSON, repairing the one known malformation
// (a missing comma between members). Anything else invalid is an error that
// says what the body looked like.
func lenientJSON(body []byte) (json.RawMessage, error) {
	body = bytes.TrimSpace(bytes.TrimPrefix(body, []byte("\xef\xbb\xbf")))
	if len(body) == 0 {
		return nil, fmt.Errorf("the body is empty")
	}
	if json.Valid(body) {
		return body, nil
	}
	if fixed := missingComma.ReplaceAll(body, []byte("$1,$2")); json.Valid(fixed) {
		return fixed, nil
	}
	return nil, fmt.Errorf("the body is not JSON: %s", describeBody(body))
}

func jsonKind(raw json.RawMessage) string {
	switch t := bytes.TrimSpace(raw); {
	case len(t) == 0:
		return "empty"
	case t[0] == '[':
		return "a list"
	case t[0] == '{':
		return "an object"
	case t[0] == '"':
		return "a string"
	case bytes.Equal(t, []byte("null")):
		return "null"
	default:
		return "a scalar"
	}
}

var titleRE = regexp.MustCompile(`(?is)<title[^>]*>(.*?)</title>`)

// describeBody gives a short, human idea of a body that is not what was expected.
func describeBody(body []byte) string {
	t := bytes.TrimSpace(body)
	if looksLikeHTML(t) {
		if m := titleRE.FindSubmatch(t); m != nil {
			return "an HTML page titled " + quoted(string(m[1]), 60)
		}
		return "an HTML page"
	}
	if !utf8.Valid(t) {
		return "binary or non-UTF-8 data"
	}
	return quoted(firstLine(string(t)), 160)
}

func looksLikeHTML(b []byte) bool {
	head := strings.ToLower(string(b[:min(len(b), 512)]))
	return strings.HasPrefix(head, "<!doctype html") || strings.HasPrefix(head, "<html") || strings.Contains(head, "<body") || strings.Contains(head, "<head")
}

const maxDetail = 300

// firstLine returns the first non-empty line: a 500's stack trace becomes
// its message.
func firstLine(s string) string {
	for line := range strings.Lines(s) {
		if l := strings.TrimSpace(line); l != "" {
			return l
		}
	}
	return ""
}

// quoted is s cleaned and in double quotes, escaped as Go quotes strings,
// with at most n characters between the quotes (an escape counts as long as
// it is), "..." marking a cut: escaping after cutting would let a line of
// backslashes or invisible characters grow past any bound.
func quoted(s string, n int) string {
	s = clean(s, 4*n) // bounds the work; the cut below is the one that shows
	var b strings.Builder
	b.WriteByte('"')
	used := 0
	for _, r := range s {
		q := strconv.Quote(string(r))
		q = q[1 : len(q)-1]
		if used+len(q) > n {
			b.WriteString("...")
			break
		}
		b.WriteString(q)
		used += len(q)
	}
	b.WriteByte('"')
	return b.String()
}

// clean makes untrusted text safe to show: valid UTF-8, no control characters,
// one line, at most n runes.
func clean(s string, n int) string {
	s = strings.ToValidUTF8(s, "?")
	var b strings.Builder
	runes := 0
	space := false
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == '\u2028' || r == '\u2029' {
			r = ' '
		}
		if r == ' ' {
			if space {
				continue
			}
			space = true
		} else {
			space = false
		}
		if runes == n {
			return strings.TrimSpace(b.String()) + "..."
		}
		b.WriteRune(r)
		runes++
	}
	return strings.TrimSpace(b.String())
}
