package proget_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/proget-monitor/proget-monitor/internal/monitor"
	"github.com/proget-monitor/proget-monitor/internal/proget"
)

// echoedKey has the characters servers escape when they echo it: "+" (\u002B
// in .NET's JSON, &#43; in HTML, %2B in a URL) and "/".
const echoedKey = "Zq8vK3mP+x7Rw2Ln9/Tb4Yc6Hd1Jf5Gs"

// strs collects every string in v, recursively; the key itself, in the
// target's Secret, is where it belongs.
func strs(v reflect.Value, out *[]string) {
	switch v.Kind() {
	case reflect.String:
		*out = append(*out, v.String())
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[monitor.Secret]() || v.Type() == reflect.TypeFor[time.Time]() {
			return
		}
		for i := range v.NumField() {
			strs(v.Field(i), out)
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			strs(v.Index(i), out)
		}
	case reflect.Map:
		for _, k := range v.MapKeys() {
			strs(k, out)
			strs(v.MapIndex(k), out)
		}
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			strs(v.Elem(), out)
		}
	}
}

// leak returns a piece of eight characters of the key found in the observation.
func leak(o monitor.Observation) string {
	var all []string
	strs(reflect.ValueOf(o), &all)
	for _, s := range all {
		for i := 0; i+8 <= len(echoedKey); i++ {
			if strings.Contains(s, echoedKey[i:i+8]) {
				return fmt.Sprintf("%q in %q", echoedKey[i:i+8], s)
			}
		}
	}
	return ""
}

// echo answers with the key inside a long text (filler with the key at
// offset), in the way mode says.
func echo(mode, text string) http.HandlerFunc {
	jsonText := func(v any) string {
		b, _ := json.Marshal(v)
		s := string(b)
		if mode == "json-escaped" { // as .NET's System.Text.Json writes it
			s = strings.ReplaceAll(s, "+", `\u002B`)
			s = strings.ReplaceAll(s, "/", `\/`)
		}
		return s
	}
	return func(w http.ResponseWriter, r *http.Request) {
		health := r.URL.Path == "/health"
		switch mode {
		case "json", "json-escaped":
			if health {
				fmt.Fprint(w, jsonText(map[string]any{
					"applicationName": "ProGet", "databaseStatus": "Error", "databaseStatusDetails": text,
					"licenseStatus": "Warning", "licenseStatusDetail": text, "serviceStatus": text,
					"replicationStatus":   map[string]any{"serverStatus": "Error", "serverError": text, "clientStatus": map[string]any{"k": text}},
					"releaseNumber":       text,
					"extensionsInstalled": map[string]any{text: text},
				}))
				return
			}
			fmt.Fprint(w, jsonText([]map[string]any{{"id": 1, "name": text, "state": "error", "errorMessage": text}, {"id": 2, "erroMessage": text, "state": text}}))
		case "product":
			fmt.Fprint(w, jsonText(map[string]any{"applicationName": text, "instanceName": text, "databaseStatus": "OK"}))
		case "plain":
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprint(w, text+"\n   at Inedo.ProGet.Web.Handler()\n")
		case "html":
			w.WriteHeader(http.StatusBadGateway)
			fmt.Fprintf(w, "<html><head><title>%s</title></head></html>", strings.ReplaceAll(text, "+", "&#43;"))
		case "location":
			where := "https://sso.corp.example/"
			if !health {
				where = "http://proget-new.corp.example/"
			}
			w.Header().Set("Location", where+url.PathEscape(text)+"?key="+url.QueryEscape(echoedKey))
			w.WriteHeader(http.StatusFound)
		case "status-line":
			// A broken server: its status line is the text.
			conn, buf, _ := w.(http.Hijacker).Hijack()
			defer conn.Close()
			fmt.Fprintf(buf, "%s\r\n\r\n", strings.ReplaceAll(text, " ", "_"))
			buf.Flush()
		}
	}
}

// TestAPIKeyScrubbedFromEveryAnswer: a server that echoes the key, at every
// offset of a text longer than any cut, in every way a text reaches an
// observation, never gets a piece of it into one.
func TestAPIKeyScrubbedFromEveryAnswer(t *testing.T) {
	filler := strings.Repeat("The upstream refused the request for feed nuget-internal; ", 7) // 406 characters
	modes := []string{"json", "json-escaped", "product", "plain", "html", "location", "status-line"}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// /<mode>/<offset>/<endpoint>
		parts := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/"), "/", 3)
		offset, _ := strconv.Atoi(parts[1])
		r.URL.Path = "/" + strings.TrimSuffix(parts[2], "/")
		echo(parts[0], filler[:offset]+echoedKey+filler[offset:])(w, r)
	}))
	defer srv.Close()
	srv.Config.ErrorLog = quiet
	client := proget.New(5 * time.Second)

	var mu sync.Mutex
	seen := map[string]map[monitor.Status]int{} // what each mode gave, to know it reached the texts
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for _, mode := range modes {
		seen[mode] = map[monitor.Status]int{}
	}
	for _, mode := range modes {
		for offset := 0; offset <= len(filler); offset++ {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				o := client.Check(context.Background(), target(fmt.Sprintf("%s/%s/%d", srv.URL, mode, offset), echoedKey))
				mu.Lock()
				defer mu.Unlock()
				seen[mode][o.Instance.Status]++
				if l := leak(o); l != "" {
					t.Errorf("%s at offset %d: the key shows: %s", mode, offset, l)
				}
			})
		}
	}
	wg.Wait()
	want := map[string]monitor.Status{"json": monitor.StatusOK, "json-escaped": monitor.StatusOK, "product": monitor.StatusWrongProduct,
		"plain": monitor.StatusDown, "html": monitor.StatusDown, "location": monitor.StatusRedirected, "status-line": monitor.StatusDown}
	for mode, st := range want {
		if seen[mode][st] != len(filler)+1 {
			t.Errorf("%s: instance statuses %v, want %s every time", mode, seen[mode], st)
		}
	}
	// Near the start, the scrubbed key is within every cut.
	for _, mode := range modes {
		o := client.Check(context.Background(), target(fmt.Sprintf("%s/%s/%d", srv.URL, mode, 3), echoedKey))
		if !strings.Contains(fmt.Sprint(o.Instance, o.Health, o.Connectors, o.ConnectorList), "[redacted]") {
			t.Errorf("%s: no text says [redacted]: %+v %+v %+v", mode, o.Instance, o.Health, o.Connectors)
		}
	}
}
