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

// object is a JSON object whose keys are matched case-insensitively: older ProGet
// documentation and other Inedo products spell the same fields in PascalCase.
type object map[string]json.RawMessage

func decodeObject(raw json.RawMessage) (object, bool) {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil || m == nil {
		return nil, false
	}
	o := make(object, len(m))
	for k, v := range m {
		o[strings.ToLower(k)] = v
	}
	return o, true
}

// has reports whether any of the names is present (even as null).
func (o object) has(names ...string) bool {
	for _, n := range names {
		if _, ok := o[n]; ok {
			return true
		}
	}
	return false
}

// str returns the first of the names that holds a string; a number or boolean is
// turned into text. ok is false when none holds a usable value.
func (o object) str(names ...string) (string, bool) {
	for _, n := range names {
		raw, present := o[n]
		if !present {
			continue
		}
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s, true
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

// parseHealth reads a ProGetHealthInfo document. It fails only when the body is
// not a JSON object with at least one of the status fields.
func parseHealth(body []byte) (healthInfo, error) {
	raw, err := lenientJSON(body)
	if err != nil {
		return healthInfo{}, err
	}
	o, ok := decodeObject(raw)
	if !ok {
		return healthInfo{}, fmt.Errorf("the JSON is not an object (%s)", jsonKind(raw))
	}
	var info healthInfo
	for _, hc := range healthComponents {
		if !o.has(hc.status) {
			continue
		}
		info.Readings = append(info.Readings, reading(hc.component, o, hc.status, hc.details...))
	}
	if rs, ok := decodeObject(o["replicationstatus"]); ok {
		// A null replication status means replication is not configured: no component.
		for _, r := range []struct{ component, status, detail string }{
			{monitor.ComponentReplicationServer, "serverstatus", "servererror"},
			{monitor.ComponentReplicationClient, "clientstatus", "clienterror"},
		} {
			if s, ok := rs.str(r.status); ok && strings.TrimSpace(s) != "" {
				info.Readings = append(info.Readings, reading(r.component, rs, r.status, r.detail))
			}
		}
	}
	if len(info.Readings) == 0 {
		return healthInfo{}, fmt.Errorf("the JSON object has none of databaseStatus, licenseStatus, serviceStatus")
	}
	info.Extensions = extensions(o["extensionsinstalled"])
	if v, ok := o.str("releasenumber"); ok && v != "" {
		info.Release = clean(v, 60)
	} else if v, ok := o.str("versionnumber"); ok {
		info.Release = clean(v, 60)
	}
	return info, nil
}

const maxExtensions = 200

// extensions reads extensionsInstalled as sorted "name version" entries: an
// object of name to version since ProGet 2023, a list of strings in 5.x.
func extensions(raw json.RawMessage) []string {
	var out []string
	var asMap map[string]any
	var asList []any
	switch {
	case json.Unmarshal(raw, &asMap) == nil && asMap != nil:
		for name, v := range asMap {
			entry := clean(name, 100)
			if s, ok := v.(string); ok && s != "" {
				entry += " " + clean(s, 40)
			}
			out = append(out, entry)
		}
	case json.Unmarshal(raw, &asList) == nil && asList != nil:
		for _, v := range asList {
			if s, ok := v.(string); ok && s != "" {
				out = append(out, clean(s, 140))
			}
		}
	default:
		return nil
	}
	slices.Sort(out)
	out = slices.Compact(out)
	return out[:min(len(out), maxExtensions)]
}

func reading(component string, o object, statusField string, detailFields ...string) monitor.Reading {
	r := monitor.Reading{Component: component}
	s, ok := o.str(statusField)
	detail, _ := o.str(detailFields...)
	switch {
	case !ok:
		r.Status, r.Detail = monitor.StatusUnknown, statusField+" is not a string"
	default:
		r.Status = healthStatus(s)
		r.Detail = clean(detail, maxDetail)
		if r.Status == monitor.StatusUnknown && r.Detail == "" {
			r.Detail = fmt.Sprintf("unrecognised status %q", clean(s, 40))
		}
	}
	return r
}

func healthStatus(s string) monitor.Status {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "ok", "healthy":
		return monitor.StatusOK
	case "error", "unhealthy":
		return monitor.StatusError
	}
	return monitor.StatusUnknown
}

// connector is one entry of /api/connector-health.
type connector struct {
	Name   string
	Status monitor.Status
	Detail string
}

// parseConnectors reads the connector list. A single object is accepted as a list
// of one. Entries without a name are named by id; duplicate names get their id
// appended so that each connector keeps its own state.
func parseConnectors(body []byte) ([]connector, error) {
	raw, err := lenientJSON(body)
	if err != nil {
		return nil, err
	}
	var items []json.RawMessage
	if json.Unmarshal(raw, &items) != nil {
		if _, ok := decodeObject(raw); !ok {
			return nil, fmt.Errorf("the JSON is neither a list nor an object (%s)", jsonKind(raw))
		}
		items = []json.RawMessage{raw}
	}
	out := make([]connector, 0, len(items))
	count := map[string]int{}
	ids := make([]string, 0, len(items))
	for i, item := range items {
		o, ok := decodeObject(item)
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
		state, _ := o.str("state")
		switch strings.ToLower(strings.TrimSpace(state)) {
		case "healthy", "ok":
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
			return fmt.Sprintf("an HTML page titled %q", clean(string(m[1]), 60))
		}
		return "an HTML page"
	}
	if !utf8.Valid(t) {
		return "binary or non-UTF-8 data"
	}
	return fmt.Sprintf("%q", firstLine(string(t), 160))
}

func looksLikeHTML(b []byte) bool {
	head := strings.ToLower(string(b[:min(len(b), 512)]))
	return strings.HasPrefix(head, "<!doctype html") || strings.HasPrefix(head, "<html") || strings.Contains(head, "<body") || strings.Contains(head, "<head")
}

const maxDetail = 300

// firstLine returns the first non-empty line, cut to n characters: a 500's stack
// trace becomes its message.
func firstLine(s string, n int) string {
	for line := range strings.Lines(s) {
		if l := strings.TrimSpace(line); l != "" {
			return clean(l, n)
		}
	}
	return ""
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
