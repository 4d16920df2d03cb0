package proget

import (
	"bytes"
	"encoding/json"
	"errors"
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

// fuzzKey is the API key the fuzzers scrub: whatever a body holds, it must
// not come out of a parse, in any case.
const fuzzKey = "Zq8vK3mP+x7Rw2Ln9/Tb4Yc6"

var fuzzRedactor = newRedactor(monitor.NewSecret(fuzzKey))

// checkNoKey fails when a text shows the key, as the raw scrub and the parse
// leave it.
func checkNoKey(t *testing.T, what, s string) {
	if strings.Contains(strings.ToLower(s), strings.ToLower(fuzzKey)) {
		t.Fatalf("%s shows the API key: %q", what, s)
	}
}

var (
	healthStatus    = map[monitor.Status]bool{monitor.StatusOK: true, monitor.StatusError: true}
	connectorStatus = map[monitor.Status]bool{monitor.StatusOK: true, monitor.StatusError: true, monitor.StatusUnknown: true}
)

func FuzzParseHealth(f *testing.F) {
	seed(f, "health-", "", "OK", "[]", "null", `{"databaseStatus":{}}`, `{"replicationStatus":{"serverStatus":"x"}}`,
		`{"applicationName":"BuildMaster","instanceName":"b1"}`, `{"databaseStatus":"Warning","databaseStatusDetails":"Zq8vK3mP\u002Bx7Rw2Ln9\/Tb4Yc6"}`,
		`{"databaseStatus":{"k":"Zq8vK3mP\u002Bx7Rw2Ln9/Tb4Yc6"}}`)
	f.Fuzz(func(t *testing.T, body []byte) {
		info, err := parseHealth(fuzzRedactor.bytes(body), fuzzRedactor)
		if err != nil {
			checkText(t, "error", err.Error())
			checkNoKey(t, "error", err.Error())
			return
		}
		if len(info.Readings) == 0 {
			t.Fatal("parsed without error but no readings")
		}
		for _, r := range info.Readings {
			if !healthStatus[r.Status] {
				t.Fatalf("status %q", r.Status)
			}
			checkText(t, "detail", r.Detail)
			checkNoKey(t, "detail", r.Detail)
		}
		checkText(t, "release", info.Release)
		checkNoKey(t, "release", info.Release)
		for _, e := range info.Extensions {
			checkNoKey(t, "extension", e)
		}
	})
}

func FuzzParseConnectors(f *testing.F) {
	seed(f, "connectors-", "[]", "{}", `[{"name":"a"},{"name":"a"}]`, `[{"name":"a (id 2)"},{"id":2,"name":"a"},{"id":2,"name":"a"}]`,
		`[{"name":"Zq8vK3mP&#43;x7Rw2Ln9/Tb4Yc6","errorMessage":"zq8vk3mp\u002bx7rw2ln9\/tb4yc6"}]`)
	f.Fuzz(func(t *testing.T, body []byte) {
		list, err := parseConnectors(fuzzRedactor.bytes(body), fuzzRedactor)
		if err != nil {
			checkText(t, "error", err.Error())
			checkNoKey(t, "error", err.Error())
			return
		}
		seen := map[string]bool{}
		for _, c := range list {
			if !connectorStatus[c.Status] || c.Name == "" || seen[c.Name] {
				t.Fatalf("connector %+v (duplicate: %v)", c, seen[c.Name])
			}
			seen[c.Name] = true
			checkText(t, "name", c.Name)
			checkText(t, "detail", c.Detail)
			checkNoKey(t, "name", c.Name)
			checkNoKey(t, "detail", c.Detail)
		}
	})
}

// FuzzJSONSyntax holds the streaming checker to json.Valid, whole and cut
// anywhere, fed in pieces of any size.
func FuzzJSONSyntax(f *testing.F) {
	seed(f, "", `{"a":[1,-0.5e+3,true,false,null,"\u00e9\n"]}`, `[]`, `0`, `-`, `01`, `1.`, `1e`, `"\x01"`, `[1,]`, `{"a" 1}`,
		`{} {}`, ` 7 `, `"\uZZZZ"`, `[[[[`, `{"a":}`, `tru`, `nul`, "\"caf\xe9\"", `1E+2`, `[-]`)
	f.Fuzz(func(t *testing.T, body []byte) {
		if bytes.Count(body, []byte("["))+bytes.Count(body, []byte("{")) > 9000 {
			return // past json.Valid's depth limit of 10000 the oracle says nothing
		}
		run := func(b []byte, piece int) (valid, broken bool) {
			var j jsonSyntax
			for len(b) > 0 {
				n := min(piece, len(b))
				if err := j.write(b[:n]); err != nil {
					var se *syntaxError
					if !errors.As(err, &se) || se.offset < 0 || se.offset >= int64(len(body)) {
						t.Fatalf("error %v for %d bytes", err, len(body))
					}
					return false, true
				}
				b = b[n:]
			}
			return j.complete(), false
		}
		want := json.Valid(body)
		for _, piece := range []int{1, 3, len(body) + 1} {
			if got, _ := run(body, piece); got != want {
				t.Fatalf("%q in pieces of %d: valid %v, json.Valid says %v", body, piece, got, want)
			}
		}
		if want {
			step := max(1, len(body)/256) // every cut of a short body, a sample of a long one
			for k := 0; k < len(body); k += step {
				if _, broken := run(body[:k], len(body)); broken {
					t.Fatalf("%q cut at %d reads as broken, but the whole is valid", body, k)
				}
			}
		}
	})
}

// FuzzJudgeBody: whatever a feed answers, the reason is short, single-line
// UTF-8 without the key, and JSON passes exactly when json.Valid says so.
func FuzzJudgeBody(f *testing.F) {
	for _, s := range []string{"", " ", `{"name":"left-pad"}`, `{"name":`, "<html><title>Sign in</title><input type=password>",
		"<!DOCTYPE html><html><head><title>Zq8vK3mP&#43;x7Rw2Ln9/Tb4Yc6</title></head><form><input name=p type='password'></form>",
		"\xef\xbb\xbf[1,2]", "<?xml version=\"1.0\"?><metadata/>"} {
		f.Add([]byte(s), true)
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, body []byte, asJSON bool) {
		ct := "text/html"
		if asJSON {
			ct = "application/json"
		}
		v := judgeBody(ct, bytes.NewReader(body), 1<<10, fuzzRedactor)
		if v.err != nil {
			t.Fatalf("reading from memory failed: %v", v.err)
		}
		for _, s := range []string{v.title, v.badJSON} {
			checkText(t, "reason", s)
			checkNoKey(t, "reason", s)
		}
		if v.empty != (len(bytes.Trim(bytes.TrimPrefix(body, utf8BOM), " \t\r\n")) == 0) {
			t.Fatalf("empty %v for %q", v.empty, body)
		}
		trimmed := bytes.TrimPrefix(body, utf8BOM)
		if asJSON && !v.empty && !v.signIn && len(body) <= 1<<10 && (v.badJSON == "") != json.Valid(trimmed) {
			t.Fatalf("%q: bad JSON %q, json.Valid says %v", body, v.badJSON, json.Valid(trimmed))
		}
	})
}
