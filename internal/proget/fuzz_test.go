package proget

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/proget-monitor/proget-monitor/internal/monitor"
)

// seed adds every fixture whose name starts with prefix to the corpus.
func seed(f *testing.F, prefix string, extra ...string) {
	files, _ := filepath.Glob(filepath.Join("testdata", prefix+"*.json"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, e := range extra {
		f.Add([]byte(e))
	}
}

// checkText holds what every text shown to people must be.
func checkText(t *testing.T, what, s string) {
	if !utf8.ValidString(s) || strings.ContainsAny(s, "\n\r\x00") || utf8.RuneCountInString(s) > maxDetail+3 {
		t.Fatalf("%s is not short, single-line UTF-8: %q", what, s)
	}
}

var validStatus = map[monitor.Status]bool{monitor.StatusOK: true, monitor.StatusError: true, monitor.StatusUnknown: true}

func FuzzParseHealth(f *testing.F) {
	seed(f, "health-", "", "OK", "[]", "null", `{"databaseStatus":{}}`, `{"replicationStatus":{"serverStatus":"x"}}`)
	f.Fuzz(func(t *testing.T, body []byte) {
		info, err := parseHealth(body)
		if err != nil {
			checkText(t, "error", err.Error())
			return
		}
		if len(info.Readings) == 0 {
			t.Fatal("parsed without error but no readings")
		}
		for _, r := range info.Readings {
			if !validStatus[r.Status] {
				t.Fatalf("status %q", r.Status)
			}
			checkText(t, "detail", r.Detail)
		}
		checkText(t, "release", info.Release)
	})
}

func FuzzParseConnectors(f *testing.F) {
	seed(f, "connectors-", "[]", "{}", `[{"name":"a"},{"name":"a"}]`, `[{"name":"a (id 2)"},{"id":2,"name":"a"},{"id":2,"name":"a"}]`)
	f.Fuzz(func(t *testing.T, body []byte) {
		list, err := parseConnectors(body)
		if err != nil {
			checkText(t, "error", err.Error())
			return
		}
		seen := map[string]bool{}
		for _, c := range list {
			if !validStatus[c.Status] || c.Name == "" || seen[c.Name] {
				t.Fatalf("connector %+v (duplicate: %v)", c, seen[c.Name])
			}
			seen[c.Name] = true
			checkText(t, "name", c.Name)
			checkText(t, "detail", c.Detail)
		}
	})
}
