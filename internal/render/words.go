package render

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/proget-monitor/proget-monitor/internal/monitor"
)

// families are components that come many to an instance: several of them
// going bad at once read as a count.
var families = []struct{ prefix, one, many string }{
	{monitor.ConnectorPrefix, "connector", "connectors"},
	{monitor.ProbePrefix, "probe", "probes"},
}

// label is how a component reads in a subject or a line: "database",
// "connector nuget.org".
func label(component string) string {
	for _, f := range families {
		if name, ok := strings.CutPrefix(component, f.prefix); ok {
			return f.one + " " + name
		}
	}
	return component
}

// family is the plural of the component's family, or "" for a singleton.
func family(component string) string {
	for _, f := range families {
		if strings.HasPrefix(component, f.prefix) {
			return f.many
		}
	}
	return ""
}

// gist is a component in a status, as a subject says it.
func gist(component string, s monitor.Status) string {
	switch {
	case component == monitor.ComponentInstance:
		switch s {
		case monitor.StatusDown:
			return "DOWN"
		case monitor.StatusNoHealthAPI:
			return "no /health endpoint (check the url)"
		case monitor.StatusWrongProduct:
			return "not a ProGet server (check the url)"
		case monitor.StatusRedirected:
			return "redirected to another host"
		case monitor.StatusOK:
			return "up"
		}
	case component == monitor.ComponentConnectorHealth && s == monitor.StatusRejected:
		return "API key rejected"
	case component == monitor.ComponentCertificate && s == monitor.StatusExpiring:
		return "TLS certificate expiring soon"
	case s == monitor.StatusRedirected:
		return label(component) + " redirected to another host"
	}
	return label(component) + " " + string(s)
}

// count groups components by family and status: "3 connectors Error",
// "database Error". Order follows first appearance.
func count(items []struct {
	component string
	status    monitor.Status
}) []string {
	type key struct{ fam, gist string }
	var order []key
	n := map[key]int{}
	for _, it := range items {
		k := key{fam: family(it.component)}
		if k.fam != "" {
			k.gist = string(it.status)
		} else {
			k.gist = gist(it.component, it.status)
		}
		if n[k] == 0 {
			order = append(order, k)
		}
		n[k]++
	}
	out := make([]string, 0, len(order))
	for _, k := range order {
		switch {
		case k.fam == "":
			out = append(out, k.gist)
		case n[k] == 1:
			// One connector: name it.
			for _, it := range items {
				if family(it.component) == k.fam && string(it.status) == k.gist {
					out = append(out, gist(it.component, it.status))
					break
				}
			}
		default:
			out = append(out, fmt.Sprintf("%d %s %s", n[k], k.fam, k.gist))
		}
	}
	return out
}

type item = struct {
	component string
	status    monitor.Status
}

// summary counts changes by family and new status: "400 connectors Error, database OK".
func summary(cs []monitor.Change) string {
	items := make([]item, len(cs))
	for i, c := range cs {
		items[i] = item{c.Component, c.To}
	}
	return strings.Join(count(items), ", ")
}

func problemSummary(ps []monitor.Problem) string {
	items := make([]item, len(ps))
	for i, p := range ps {
		items[i] = item{p.Component, p.Status}
	}
	return strings.Join(count(items), ", ")
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

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// ascii makes a subject SNS accepts: printable ASCII on one line, at most
// MaxSubject characters.
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
	if len(out) > MaxSubject {
		return string(out[:MaxSubject-3]) + "..."
	}
	return string(out)
}

const timeLayout = "2006-01-02 15:04 MST"

func when(t time.Time) string { return t.UTC().Format(timeLayout) }

// maxDetail bounds one detail in a message: ProGet's own texts are short, and
// a longer one is cut rather than crowding out the rest.
const maxDetail = 500

func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return strings.TrimSpace(string(r[:n])) + "..."
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
