package targets

import (
	"fmt"
	"strings"
	"testing"

	"github.com/proget-monitor/proget-monitor/internal/monitor"
)

func TestParseProbes(t *testing.T) {
	probes, problems := ParseProbes(`
# feeds behind connectors
npm-left-pad    /npm/npm-remote/left-pad
nuget-json      /nuget/nuget-remote/v3/registration/newtonsoft.json/index.json
pypi-requests   /pypi/pypi-remote/simple/requests/
private-feed    /npm/internal/@corp/ui   key

bad!label       /npm/x
no-path
relative        npm/x
protocol        //evil.example/x
npm-left-pad    /npm/again
four            /a   key   more
secret          /a   s3cr3t-api-key
query           /npm/x?apikey=s3cr3t-api-key
`)
	want := []monitor.Probe{
		{Label: "npm-left-pad", Path: "/npm/npm-remote/left-pad"},
		{Label: "nuget-json", Path: "/nuget/nuget-remote/v3/registration/newtonsoft.json/index.json"},
		{Label: "pypi-requests", Path: "/pypi/pypi-remote/simple/requests/"},
		{Label: "private-feed", Path: "/npm/internal/@corp/ui", Key: true},
	}
	if fmt.Sprint(probes) != fmt.Sprint(want) {
		t.Errorf("probes\n got %v\nwant %v", probes, want)
	}
	if len(problems) != 8 {
		t.Fatalf("%d problems, want 8: %q", len(problems), problems)
	}
	for i, quote := range []string{`"bad!label /npm/x"`, `"no-path"`, `"relative npm/x"`, `//evil.example/x`,
		"used twice", `"four /a (and 2 more fields, not shown)"`, `"secret /a (and 1 more field, not shown)": the third field can only be "key"`,
		`"query /npm/x?...": the path carries a key or token in its query`} {
		if !strings.Contains(problems[i], quote) {
			t.Errorf("problem %d %q does not say %q", i, problems[i], quote)
		}
	}
	// A key pasted into the parameter is never quoted.
	for _, p := range problems {
		if strings.Contains(p, "s3cr3t") {
			t.Errorf("a problem quotes what may be a key: %q", p)
		}
	}
	var many strings.Builder
	for i := range 23 {
		fmt.Fprintf(&many, "p%02d /npm/f/p%02d\n", i, i)
	}
	probes, problems = ParseProbes(many.String())
	if len(probes) != MaxProbes || len(problems) != 1 || !strings.Contains(problems[0], "p20, p21, p22 skipped") {
		t.Errorf("%d probes, problems %q", len(probes), problems)
	}
}
