package targets

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/proget-monitor/proget-monitor/internal/monitor"
)

// MaxProbes is the most probes an instance runs; the rest are skipped.
const MaxProbes = 20

var labelRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// ParseProbes reads a probes parameter: one probe per line, "LABEL PATH" or
// "LABEL PATH key"; blank lines and lines starting with "#" are ignored. A
// wrong line is quoted in a problem (its label and path, without a query or
// any further field: someone may have pasted a key there) and skipped, the
// others run; past MaxProbes, the rest are named in a problem and skipped.
func ParseProbes(text string) ([]monitor.Probe, []string) {
	var probes []monitor.Probe
	var problems, extra []string
	seen := map[string]bool{}
	for n, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		p, err := parseProbe(line)
		if err == nil && seen[p.Label] {
			err = fmt.Errorf("the label %s is used twice", p.Label)
		}
		if err != nil {
			problems = append(problems, fmt.Sprintf("line %d %q: %v (skipped; a line is LABEL PATH [key])", n+1, shown(line), err))
			continue
		}
		seen[p.Label] = true
		if len(probes) == MaxProbes {
			extra = append(extra, p.Label)
			continue
		}
		probes = append(probes, p)
	}
	if len(extra) > 0 {
		problems = append(problems, fmt.Sprintf("more than %d probes: %s skipped", MaxProbes, strings.Join(extra, ", ")))
	}
	return probes, problems
}

func parseProbe(line string) (monitor.Probe, error) {
	f := strings.Fields(line)
	if len(f) < 2 || len(f) > 3 {
		return monitor.Probe{}, fmt.Errorf("%d fields", len(f))
	}
	p := monitor.Probe{Label: f[0], Path: f[1]}
	switch {
	case !labelRE.MatchString(p.Label):
		return p, fmt.Errorf("the label must be 1 to 64 letters, digits, '.', '_' or '-'")
	case !strings.HasPrefix(p.Path, "/") || strings.HasPrefix(p.Path, "//"):
		return p, fmt.Errorf("the path must start with a single /")
	case len(p.Path) > 2048:
		return p, fmt.Errorf("the path is longer than 2048 characters")
	case secretQuery.MatchString(p.Path):
		// A query string ends up in proxies' and ProGet's own access logs.
		return p, fmt.Errorf("the path carries a key or token in its query: write key as the third field, and the instance's key is sent in a header")
	}
	if len(f) == 3 {
		if !strings.EqualFold(f[2], "key") {
			return p, fmt.Errorf("the third field can only be \"key\"")
		}
		p.Key = true
	}
	return p, nil
}

// secretQuery matches a query parameter that holds a credential.
var secretQuery = regexp.MustCompile(`(?i)[?&][^=&]*(key|token|password|secret)[^=&]*=`)

// shown is what a problem quotes of a wrong line.
func shown(line string) string {
	f := strings.Fields(line)
	if len(f) > 1 {
		if path, _, cut := strings.Cut(f[1], "?"); cut {
			f[1] = path + "?..."
		}
	}
	s := strings.Join(f[:min(len(f), 2)], " ")
	if len(f) > 2 {
		s += fmt.Sprintf(" (and %d more %s, not shown)", len(f)-2, plural(len(f)-2))
	}
	if len(s) > 120 {
		s = s[:120] + "..."
	}
	return s
}

func plural(n int) string {
	if n == 1 {
		return "field"
	}
	return "fields"
}
