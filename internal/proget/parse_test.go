package proget

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
		{"health-wrong-types.json", "database=Unknown license=Unknown service=Unknown", "23", `unrecognised status "Degraded"`},
		{"health-missing-comma.json", "database=OK license=OK service=OK", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			info, err := parseHealth(fixture(t, tc.file))
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
		_, err := parseHealth([]byte(body))
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
			list, err := parseConnectors(fixture(t, tc.file))
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
		if _, err := parseConnectors([]byte(body)); err == nil || !strings.Contains(err.Error(), want) {
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
