package proget

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/proget-monitor/proget-monitor/internal/monitor"
)

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseHealthFixtures(t *testing.T) {
	cases := []struct {
		file    string
		want    string // "component=Status" joined by spaces
		release string
		detail  string // a detail that must be present
	}{
		{"health-2023.json", "database=OK license=OK service=OK", "23.0.27", ""},
		{"health-5x.json", "database=OK license=Error service=OK", "5.2.9.10", "The license key has expired."},
		{"health-2024-unhealthy.json", "database=Error license=OK service=Error replication-server=OK replication-client=Error", "24.0.22",
			"Could not reach https://hub.example/ for feed sync."},
		{"health-pascal.json", "database=OK license=OK service=Error replication-server=OK", "5.0.0", "Service stopped"},
		{"health-wrong-types.json", "database=Error license=OK service=Error", "23", `unrecognised status "Degraded"`},
		{"health-missing-comma.json", "database=OK license=OK service=OK", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			info, err := parseHealth(fixture(t, tc.file), redactor{})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			details := ""
			for _, r := range info.Readings {
				got = append(got, fmt.Sprintf("%s=%s", r.Component, r.Status))
				details += r.Detail + "|"
			}
			if strings.Join(got, " ") != tc.want {
				t.Errorf("readings = %q, want %q", strings.Join(got, " "), tc.want)
			}
			if info.Release != tc.release {
				t.Errorf("release = %q, want %q", info.Release, tc.release)
			}
			if !strings.Contains(details, tc.detail) {
				t.Errorf("details %q lack %q", details, tc.detail)
			}
		})
	}
}

func TestParseHealthRejects(t *testing.T) {
	cases := map[string]string{
		"":                             "empty",
		"   ":                          "empty",
		"OK":                           `not JSON: "OK"`,
		"[]":                           "not an object (a list)",
		"null":                         "not an object",
		`{"applicationName":"ProGet"}`: "none of databaseStatus",
		"<!DOCTYPE html><html><head><title>Sign in to Contoso</title></head>": `an HTML page titled "Sign in to Contoso"`,
		"\xff\xfe{garbage":        "non-UTF-8",
		`{"databaseStatus": "OK"`: "not JSON",
	}
	for body, want := range cases {
		_, err := parseHealth([]byte(body), redactor{})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parseHealth(%q) error = %v, want it to say %q", body, err, want)
		}
	}
}

func TestParseConnectorsFixtures(t *testing.T) {
	cases := []struct {
		file string
		want string
	}{
		{"connectors-doc-example.json", "npmjs.org=OK chocolatey.org=OK nuget.org=Error(Connection timed out.)"},
		{"connectors-single.json", "nuget.org=Error(Connection timed out.)"},
		{"connectors-odd.json", "PyPI=OK maven (id 8)=Unknown maven (id 9)=Error(403 from upstream) id 10=Unknown"},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			list, err := parseConnectors(fixture(t, tc.file), redactor{})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range list {
				s := fmt.Sprintf("%s=%s", c.Name, c.Status)
				if c.Detail != "" {
					s += "(" + c.Detail + ")"
				}
				got = append(got, s)
			}
			if strings.Join(got, " ") != tc.want {
				t.Errorf("got  %q\nwant %q", strings.Join(got, " "), tc.want)
			}
		})
	}
}

func TestParseConnectorsRejects(t *testing.T) {
	for body, want := range map[string]string{
		"":              "empty",
		"[1, 2]":        "entry 1 is not an object",
		`"healthy"`:     "neither a list nor an object",
		"<html></html>": "an HTML page",
	} {
		if _, err := parseConnectors([]byte(body), redactor{}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parseConnectors(%q) error = %v, want %q", body, err, want)
		}
	}
}

func TestClean(t *testing.T) {
	for in, want := range map[string]string{
		"line one\nline two":     "line one line two",
		"bad \xff byte":          "bad ? byte",
		"tabs\t\tand  spaces":    "tabs and spaces",
		strings.Repeat("x", 400): strings.Repeat("x", maxDetail) + "...",
	} {
		if got := clean(in, maxDetail); got != want {
			t.Errorf("clean(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestParseHealthStatusSemantics: as in Inedo's own CLI, a core status is
// healthy only when it is "OK": anything else, even a value this monitor has
// never seen, is a problem shown as it came.
func TestParseHealthStatusSemantics(t *testing.T) {
	cases := []struct {
		body string
		want string // "component=Status(detail)" joined by spaces
	}{
		{`{"databaseStatus":"Warning","databaseStatusDetails":"disk 91% full"}`, `database=Error(unrecognised status "Warning": disk 91% full)`},
		{`{"databaseStatus":"Warning"}`, `database=Error(unrecognised status "Warning")`},
		{`{"licenseStatus":5}`, `license=Error(unrecognised status 5)`},
		{`{"serviceStatus":null}`, `service=OK`}, // as Inedo's CLI reads it
		{`{"serviceStatus":"Healthy"}`, `service=Error(unrecognised status "Healthy")`},
		{`{"databaseStatus":{"state":"OK"}}`, `database=Error(unrecognised status {"state":"OK"})`},
		{`{"databaseStatus":"ok"}`, `database=OK`},
		{`{"databaseStatus":" Error ","databaseStatusDetails":"SQL down"}`, `database=Error(SQL down)`},
		{`{"databaseStatus":"Error"}`, `database=Error`},
		{`{"databaseStatus":"OK","replicationStatus":{"serverStatus":"Degraded","serverError":"lag 40 min","clientStatus":null}}`,
			`database=OK replication-server=Error(unrecognised status "Degraded": lag 40 min)`},
		{`{"databaseStatus":"OK","replicationStatus":{"serverStatus":"","clientStatus":true}}`,
			`database=OK replication-server=Error(unrecognised status "") replication-client=Error(unrecognised status true)`},
		{`{"databaseStatus":"OK","replicationStatus":{"clientError":"not configured means null"}}`, `database=OK`},
		{`{"databaseStatus":"OK","replicationStatus":null}`, `database=OK`},
	}
	for _, tc := range cases {
		info, err := parseHealth([]byte(tc.body), redactor{})
		if err != nil {
			t.Errorf("%s: %v", tc.body, err)
			continue
		}
		var got []string
		for _, r := range info.Readings {
			s := fmt.Sprintf("%s=%s", r.Component, r.Status)
			if r.Detail != "" {
				s += "(" + r.Detail + ")"
			}
			got = append(got, s)
		}
		if strings.Join(got, " ") != tc.want {
			t.Errorf("%s\ngot  %s\nwant %s", tc.body, strings.Join(got, " "), tc.want)
		}
	}
}

// TestParseHealthOtherProducts: BuildMaster and Otter serve the same shape
// under their own applicationName.
func TestParseHealthOtherProducts(t *testing.T) {
	cases := []struct {
		body           string
		name, instance string // empty: ProGet
	}{
		{`{"applicationName":"BuildMaster","instanceName":"build-01","databaseStatus":"OK"}`, "BuildMaster", "build-01"},
		{`{"applicationName":"Otter","databaseStatus":"OK"}`, "Otter", ""},
		{`{"applicationName":"Otter"}`, "Otter", ""},
		{`{"ApplicationName":"PROGET","databaseStatus":"OK"}`, "", ""},
		{`{"applicationName":"","databaseStatus":"OK"}`, "", ""},
		{`{"applicationName":null,"databaseStatus":"OK"}`, "", ""},
		{`{"databaseStatus":"OK"}`, "", ""},
	}
	for _, tc := range cases {
		_, err := parseHealth([]byte(tc.body), redactor{})
		var wrong errWrongProduct
		switch {
		case tc.name == "" && err != nil:
			t.Errorf("%s: %v, want ProGet", tc.body, err)
		case tc.name != "" && (!errors.As(err, &wrong) || wrong.name != tc.name || wrong.instance != tc.instance):
			t.Errorf("%s: %v, want %s (%q)", tc.body, err, tc.name, tc.instance)
		}
	}
}

// TestParseConnectorStates: connector states keep their documented rule.
func TestParseConnectorStates(t *testing.T) {
	body := `[{"name":"a","state":"healthy"},{"name":"b","state":"HEALTHY"},{"name":"c","state":"unhealthy"},
		{"name":"d","state":"error"},{"name":"e","state":"unknown"},{"name":"f","state":"Warning"},{"name":"g","state":"ok"},{"name":"h"}]`
	list, err := parseConnectors([]byte(body), redactor{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range list {
		got = append(got, fmt.Sprintf("%s=%s", c.Name, c.Status))
	}
	if want := "a=OK b=OK c=Error d=Error e=Unknown f=Unknown g=Unknown h=Unknown"; strings.Join(got, " ") != want {
		t.Errorf("got  %s\nwant %s", strings.Join(got, " "), want)
	}
}

// TestRedactorForms: the key is found however a server escaped it.
func TestRedactorForms(t *testing.T) {
	r := newRedactor(monitor.NewSecret("Zq8vK3mP+x7Rw2Ln9/Tb4Yc6"))
	for in, want := range map[string]string{
		"key Zq8vK3mP+x7Rw2Ln9/Tb4Yc6 rejected":                    "key [redacted] rejected",
		"ZQ8VK3MP+X7RW2LN9/TB4YC6":                                 "[redacted]",
		`"Zq8vK3mP\u002Bx7Rw2Ln9\/Tb4Yc6"`:                         `"[redacted]"`,
		`\u005aq8vK3mP\u002bx7Rw2Ln9\u002fTb4Yc6`:                  `[redacted]`,
		"<title>Zq8vK3mP&#43;x7Rw2Ln9&#x2F;Tb4Yc6</title>":         "<title>[redacted]</title>",
		"Zq8vK3mP&plus;x7Rw2Ln9&sol;Tb4Yc6":                        "[redacted]",
		"/login?key=Zq8vK3mP%2Bx7Rw2Ln9%2fTb4Yc6&x=1":              "/login?key=[redacted]&x=1",
		"Zq8vK3mP+x7Rw2Ln9/Tb4Yc6Zq8vK3mP+x7Rw2Ln9/Tb4Yc6":         "[redacted][redacted]",
		"Zq8vK3mP+x7Rw2Ln9/Tb4Yc":                                  "Zq8vK3mP+x7Rw2Ln9/Tb4Yc",
		"Zq8vK3mPZq8vK3mP+x7Rw2Ln9/Tb4Yc6":                         "Zq8vK3mP[redacted]",
		"nothing to see, caf\xe9 & co; 100% \\u0041 &#65; &bogus;": "nothing to see, caf\xe9 & co; 100% \\u0041 &#65; &bogus;",
	} {
		if got := r.string(in); got != want {
			t.Errorf("redact(%q) = %q, want %q", in, got, want)
		}
	}
	if got := (redactor{}).string("Zq8vK3mP+x7Rw2Ln9/Tb4Yc6"); got != "Zq8vK3mP+x7Rw2Ln9/Tb4Yc6" {
		t.Errorf("the zero redactor changed %q", got)
	}
}

// TestQuotedTextsStayShort: a text is cut after it is escaped, so a line of
// characters that escape long (backslashes, invisible runes) stays short.
func TestQuotedTextsStayShort(t *testing.T) {
	for _, body := range []string{
		strings.Repeat(`\`, 500),
		strings.Repeat("\u200b", 300),
		`<html><head><title>` + strings.Repeat(`"`, 200) + `</title></head></html>`,
	} {
		got := describeBody([]byte(body))
		if n := utf8.RuneCountInString(got); n > 200 || !strings.HasSuffix(got, `..."`) {
			t.Errorf("describeBody(%.20q...) = %d characters: %s", body, n, got)
		}
	}
	if got := quoted(`a\b"c`, 160); got != `"a\\b\"c"` {
		t.Errorf("quoted = %s", got)
	}
}
